package api_test

import (
	"strings"
	"testing"
)

func TestEventTypes(t *testing.T) {
	h := newHarness(t)
	et := h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "order.created", "description": "an order"})
	if et["name"] != "order.created" || et["description"] != "an order" || et["schema"] != nil {
		t.Fatalf("created %v", et)
	}
	if _, ok := et["schema"]; !ok {
		t.Fatal("schema key missing (want null)")
	}
	checkTime(t, et["created_at"])
	checkTime(t, et["updated_at"])
	schema := map[string]any{"type": "object", "required": []string{"id"}}
	et = h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "order.paid", "schema": schema})
	if s, _ := et["schema"].(map[string]any); s["type"] != "object" {
		t.Fatalf("schema not kept: %v", et)
	}
	if got := h.ok(200, "GET", "/v1/event-types/order.paid", nil); got["schema"] == nil {
		t.Fatalf("get: %v", got)
	}
	if n := len(data(t, h.ok(200, "GET", "/v1/event-types", nil))); n != 2 {
		t.Fatalf("list has %d", n)
	}
	up := h.ok(200, "PATCH", "/v1/event-types/order.paid", map[string]any{"description": "paid"})
	if up["description"] != "paid" || up["schema"] == nil {
		t.Fatalf("patch description kept schema? %v", up)
	}
	up = h.ok(200, "PATCH", "/v1/event-types/order.paid", `{"schema": null}`)
	if up["schema"] != nil || up["description"] != "paid" {
		t.Fatalf("patch schema null: %v", up)
	}
	up = h.ok(200, "PATCH", "/v1/event-types/order.paid", map[string]any{"schema": map[string]any{"type": "array"}})
	if s, _ := up["schema"].(map[string]any); s["type"] != "array" {
		t.Fatalf("patch schema: %v", up)
	}
	h.ok(204, "DELETE", "/v1/event-types/order.paid", nil)
	h.fails(404, "event_type_not_found", "GET", "/v1/event-types/order.paid", nil)
	h.fails(404, "event_type_not_found", "PATCH", "/v1/event-types/order.paid", map[string]any{"description": "x"})
	h.fails(404, "event_type_not_found", "DELETE", "/v1/event-types/order.paid", nil)
}

func TestEventTypesBadInput(t *testing.T) {
	h := newHarness(t)
	h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "a.b", "schema": map[string]any{"type": "string"}})
	before := h.snapshot("/v1/event-types")
	h.fails(409, "event_type_exists", "POST", "/v1/event-types", map[string]any{"name": "a.b"})
	for _, bad := range []string{"", "has space", "sl/ash", strings.Repeat("n", 129), "ü"} {
		h.fails(422, "invalid_name", "POST", "/v1/event-types", map[string]any{"name": bad})
	}
	h.fails(422, "invalid_name", "POST", "/v1/event-types", `{"description": "no name"}`)
	h.fails(400, "invalid_json", "POST", "/v1/event-types", `{"name": "x",}`)
	h.fails(400, "unknown_field", "POST", "/v1/event-types", `{"name": "x", "schemas": {}}`)
	for _, bad := range []string{`"string"`, `[1]`, `true`, `{"type": "nonsense"}`, `{"$ref": "https://example.com/s.json"}`,
		`{"minimum": "zero"}`} {
		e := h.fails(422, "invalid_schema", "POST", "/v1/event-types", `{"name": "x", "schema": `+bad+`}`)
		if bad == `{"type": "nonsense"}` && !strings.Contains(e["message"].(string), "type") {
			t.Errorf("message does not say what is wrong: %v", e)
		}
	}
	h.fails(422, "invalid_schema", "PATCH", "/v1/event-types/a.b", `{"schema": {"type": 5}}`)
	h.fails(422, "invalid_name", "PATCH", "/v1/event-types/a.b", `{"name": "other"}`)
	h.fails(400, "unknown_field", "PATCH", "/v1/event-types/a.b", `{"bogus": 1}`)
	h.unchanged("/v1/event-types", before)
}
