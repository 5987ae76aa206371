package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/herald-hq/herald/api"
	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/store"
)

// The routing tests run on SQLite (the harness's store) and on Postgres.
func routingHarnesses(t *testing.T, run func(t *testing.T, h *harness)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		run(t, newHarness(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		pg, err := store.Open(ctx, pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close() })
		if err := pg.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		run(t, newHarness(t, func(d *api.Deps) { d.Store = pg }))
	})
}

var orderSchema = map[string]any{
	"type":     "object",
	"required": []string{"id", "total"},
	"properties": map[string]any{
		"id":     map[string]any{"type": "string"},
		"total":  map[string]any{"type": "number"},
		"status": map[string]any{"enum": []string{"new", "paid"}},
	},
}

func setupRouting(h *harness) {
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "acme", "name": "Acme"})
	h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "order.created", "schema": orderSchema})
	h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "user.created", "schema": map[string]any{
		"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}})
}

func TestRoutingRefusals(t *testing.T) {
	routingHarnesses(t, func(t *testing.T, h *harness) {
		setupRouting(h)
		create := map[string]any{"url": "https://example.com/in", "event_types": []string{"order.created"},
			"filter": "payload.total > 10.0 &&\n payload.totl > 1.0"}
		e := h.fails(422, "invalid_filter", "POST", "/v1/apps/acme/endpoints", create)
		details, _ := e["details"].(map[string]any)
		errs, _ := details["errors"].([]any)
		if details["field"] != "filter" || details["event_type"] != "order.created" || len(errs) != 1 {
			t.Fatalf("details %v", e["details"])
		}
		first := errs[0].(map[string]any)
		if first["line"] != 2.0 || first["column"] != 9.0 || !strings.Contains(first["message"].(string), "totl") {
			t.Fatalf("error %v, want the undefined field totl at 2:9", first)
		}
		if n := len(data(t, h.ok(200, "GET", "/v1/apps/acme/endpoints", nil))); n != 0 {
			t.Fatalf("a refused endpoint was stored: %d endpoints", n)
		}
		h.fails(422, "invalid_filter", "POST", "/v1/apps/acme/endpoints",
			map[string]any{"url": "https://example.com/in", "filter": "payload.total >"})
		h.fails(422, "invalid_filter", "POST", "/v1/apps/acme/endpoints",
			map[string]any{"url": "https://example.com/in", "event_types": []string{"order.created"},
				"filter": `payload.status == "shipped"`})
		h.fails(400, "invalid_field_type", "POST", "/v1/apps/acme/endpoints",
			map[string]any{"url": "https://example.com/in", "filter": 3})
		h.fails(422, "invalid_transform", "POST", "/v1/apps/acme/endpoints",
			map[string]any{"url": "https://example.com/in", "transform": `"text"`})

		create["filter"] = `payload.total > 10.0`
		create["transform"] = `{"body": {"text": "New order " + payload.id}}`
		ep := h.ok(201, "POST", "/v1/apps/acme/endpoints", create)
		id := ep["id"].(string)
		if ep["filter"] != create["filter"] || ep["transform"] != create["transform"] {
			t.Fatalf("created %v", ep)
		}
		path := "/v1/apps/acme/endpoints/" + id
		before := h.snapshot(path)
		e = h.fails(422, "invalid_transform", "PATCH", path, map[string]any{"transform": `{"body": payload.nope}`})
		if d, _ := e["details"].(map[string]any); d["field"] != "transform" {
			t.Fatalf("details %v", e["details"])
		}
		// Event types change: the kept filter is checked against the new ones.
		h.fails(422, "invalid_filter", "PATCH", path, map[string]any{"event_types": []string{"order.created", "user.created"},
			"transform": nil})
		h.unchanged(path, before)

		up := h.ok(200, "PATCH", path, map[string]any{"filter": nil, "transform": ""})
		if _, ok := up["filter"]; ok {
			t.Fatalf("filter not removed: %v", up)
		}
		if _, ok := up["transform"]; ok {
			t.Fatalf("transform not removed: %v", up)
		}
	})
}

func TestRoutingSchemaChangeWarns(t *testing.T) {
	routingHarnesses(t, func(t *testing.T, h *harness) {
		setupRouting(h)
		ep := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/in",
			"event_types": []string{"order.created"}, "filter": `payload.total > 10.0`})
		other := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/in",
			"event_types": []string{"order.created"}, "transform": `{"headers": {"X-Id": payload.id}}`})

		// A compatible change warns of nothing.
		compatible := map[string]any{"type": "object", "properties": map[string]any{
			"id": map[string]any{"type": "string"}, "total": map[string]any{"type": "number"},
			"note": map[string]any{"type": "string"}}}
		up := h.ok(200, "PATCH", "/v1/event-types/order.created", map[string]any{"schema": compatible})
		if _, ok := up["warnings"]; ok || up["name"] != "order.created" {
			t.Fatalf("PATCH answer %v", up)
		}
		renamed := map[string]any{"type": "object", "properties": map[string]any{
			"id": map[string]any{"type": "string"}, "amount": map[string]any{"type": "number"}}}
		up = h.ok(200, "PATCH", "/v1/event-types/order.created", map[string]any{"schema": renamed})
		ws, _ := up["warnings"].([]any)
		if len(ws) != 1 {
			t.Fatalf("warnings %v, want one for the filter on total", up["warnings"])
		}
		w := ws[0].(map[string]any)
		if w["endpoint_id"] != ep["id"] || w["app_id"] != "acme" || w["field"] != "filter" ||
			!strings.Contains(w["message"].(string), "total") {
			t.Fatalf("warning %v", w)
		}
		_ = other
		r := h.req("GET", "/metrics", nil)
		if !strings.Contains(string(r.body), `herald_routing_unchecked_total{kind="filter"} 1`) {
			t.Fatal("the broken filter is not counted in /metrics")
		}
	})
}

func TestRoutingFilterAtAcceptance(t *testing.T) {
	routingHarnesses(t, func(t *testing.T, h *harness) {
		setupRouting(h)
		all := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/all"})
		big := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/big",
			"event_types": []string{"order.created"}, "filter": `payload.total > 100.0`})
		// Untyped: payload.missing fails at run time, which is no match.
		broken := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/broken",
			"filter": `payload.missing == 1.0`})

		targets := func(eventID string, payload map[string]any) []string {
			t.Helper()
			ev := h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": eventID, "event_type": "order.created",
				"payload": payload})
			var ids []string
			for _, d := range ev["deliveries"].([]any) {
				ids = append(ids, d.(map[string]any)["endpoint_id"].(string))
			}
			starts := h.disp.startsFor(eventID)
			if len(starts) != 1 || len(starts[0].Targets) != len(ids) {
				t.Fatalf("started %v, deliveries %v", starts, ids)
			}
			slices.Sort(ids)
			return ids
		}
		if got := targets("small", map[string]any{"id": "o1", "total": 5}); !slices.Equal(got, []string{all["id"].(string)}) {
			t.Fatalf("small order went to %v, want only %s", got, all["id"])
		}
		want := []string{all["id"].(string), big["id"].(string)}
		slices.Sort(want)
		if got := targets("large", map[string]any{"id": "o2", "total": 500}); !slices.Equal(got, want) {
			t.Fatalf("large order went to %v, want %v", got, want)
		}
		_ = broken
		r := h.req("GET", "/metrics", nil)
		if !strings.Contains(string(r.body), `herald_routing_errors_total{kind="filter"} 2`) {
			t.Fatal("the two failed evaluations are not counted in /metrics")
		}
	})
}
