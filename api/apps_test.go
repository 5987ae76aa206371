package api_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestApps(t *testing.T) {
	h := newHarness(t)
	a := h.ok(201, "POST", "/v1/apps", map[string]any{"name": "Acme"})
	id, _ := a["id"].(string)
	if !strings.HasPrefix(id, "app_") || a["name"] != "Acme" {
		t.Fatalf("created %v", a)
	}
	checkTime(t, a["created_at"])
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "acme-2.x_y", "name": "Acme 2"})

	got := h.ok(200, "GET", "/v1/apps/"+id, nil)
	if got["id"] != id || got["name"] != "Acme" {
		t.Fatalf("get %v", got)
	}
	list := data(t, h.ok(200, "GET", "/v1/apps", nil))
	if len(list) != 2 || list[0].(map[string]any)["id"] != "acme-2.x_y" {
		t.Fatalf("list (newest first) %v", list)
	}
	up := h.ok(200, "PATCH", "/v1/apps/"+id, map[string]any{"name": "Acme Inc"})
	if up["name"] != "Acme Inc" || up["id"] != id {
		t.Fatalf("patch %v", up)
	}
	r := h.req("DELETE", "/v1/apps/"+id, nil)
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	h.fails(404, "app_not_found", "GET", "/v1/apps/"+id, nil)
	h.fails(404, "app_not_found", "PATCH", "/v1/apps/"+id, map[string]any{"name": "x"})
	h.fails(404, "app_not_found", "DELETE", "/v1/apps/"+id, nil)
}

func TestAppsBadInput(t *testing.T) {
	h := newHarness(t)
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "dup", "name": "first"})
	before := h.snapshot("/v1/apps")

	h.fails(409, "app_exists", "POST", "/v1/apps", map[string]any{"id": "dup", "name": "again"})
	h.fails(400, "invalid_json", "POST", "/v1/apps", `{"name": `)
	h.fails(400, "invalid_json", "POST", "/v1/apps", `{"name": "a"} {"name": "b"}`)
	h.fails(400, "invalid_json", "POST", "/v1/apps", ``)
	h.fails(400, "invalid_json", "POST", "/v1/apps", `[1, 2]`)
	h.fails(400, "unknown_field", "POST", "/v1/apps", `{"name": "a", "colour": "red"}`)
	h.fails(400, "invalid_field_type", "POST", "/v1/apps", `{"name": 12}`)
	h.fails(422, "invalid_name", "POST", "/v1/apps", `{"name": ""}`)
	h.fails(422, "invalid_name", "POST", "/v1/apps", `{"name": "   "}`)
	h.fails(422, "invalid_name", "POST", "/v1/apps", `{}`)
	for _, bad := range []string{"", "a/b", "a b", strings.Repeat("x", 129), "é", "a%2Fb"} {
		h.fails(422, "invalid_id", "POST", "/v1/apps", map[string]any{"id": bad, "name": "n"})
	}
	h.fails(400, "unknown_field", "PATCH", "/v1/apps/dup", `{"name": "x", "id": "other"}`)
	h.fails(422, "invalid_name", "PATCH", "/v1/apps/dup", `{"name": ""}`)
	h.fails(413, "payload_too_large", "POST", "/v1/apps", fmt.Sprintf(`{"name": %q}`, strings.Repeat("n", 5000)))
	h.fails(413, "payload_too_large", "POST", "/v1/apps", fmt.Sprintf(`{"name": %q}`, strings.Repeat("n", 60000)))
	h.unchanged("/v1/apps", before)
}

func TestPagination(t *testing.T) {
	h := newHarness(t)
	for i := range 5 {
		h.ok(201, "POST", "/v1/apps", map[string]any{"id": fmt.Sprintf("app%d", i), "name": "n"})
	}
	var seen []string
	cursor := ""
	for range 5 {
		m := h.ok(200, "GET", "/v1/apps?limit=2&cursor="+cursor, nil)
		for _, a := range data(t, m) {
			seen = append(seen, a.(map[string]any)["id"].(string))
		}
		cursor = m["next_cursor"].(string)
		if cursor == "" {
			break
		}
	}
	if strings.Join(seen, ",") != "app4,app3,app2,app1,app0" {
		t.Fatalf("pages: %v", seen)
	}
	for _, bad := range []string{"0", "251", "-1", "abc", "1.5"} {
		h.fails(400, "invalid_limit", "GET", "/v1/apps?limit="+bad, nil)
	}
	h.ok(200, "GET", "/v1/apps?limit=250", nil)
	h.ok(200, "GET", "/v1/apps?limit=1", nil)
	h.fails(400, "invalid_cursor", "GET", "/v1/apps?cursor=garbage!", nil)
	h.fails(400, "invalid_cursor", "GET", "/v1/event-types?cursor=Zm9v", nil)
}

func TestEmptyListsAreArrays(t *testing.T) {
	h := newHarness(t)
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "a", "name": "n"})
	for _, path := range []string{"/v1/apps?limit=1&cursor=", "/v1/event-types", "/v1/apps/a/endpoints", "/v1/apps/a/events"} {
		r := h.req("GET", path, nil)
		if r.status != 200 || !strings.Contains(string(r.body), `"data":[`) {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
	}
	r := h.req("GET", "/v1/event-types", nil)
	if string(r.body) != `{"data":[],"next_cursor":""}` {
		t.Fatalf("empty list: %s", r.body)
	}
}
