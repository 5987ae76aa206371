package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

func TestTestEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "a", "name": "A"})
	h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "order.created", "schema": map[string]any{
		"type": "object", "required": []string{"id"},
		"properties": map[string]any{"id": map[string]any{"type": "string", "examples": []string{"ord_1"}},
			"total": map[string]any{"type": "integer", "minimum": 5}}}})
	h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "user.deleted"})
	ep := h.ok(201, "POST", "/v1/apps/a/endpoints", map[string]any{"url": "https://example.com/1",
		"event_types": []string{"order.created"}})["id"].(string)
	other := h.ok(201, "POST", "/v1/apps/a/endpoints", map[string]any{"url": "https://example.com/2"})["id"].(string)

	// No body: the endpoint's first event type, with its schema's example.
	ev := h.ok(202, "POST", "/v1/apps/a/endpoints/"+ep+"/test", nil)
	id, _ := ev["id"].(string)
	if !strings.HasPrefix(id, "test_") || ev["event_type"] != "order.created" || ev["status"] != "pending" {
		t.Fatalf("test event %v", ev)
	}
	if p, _ := json.Marshal(ev["payload"]); string(p) != `{"id":"ord_1","total":5}` {
		t.Fatalf("payload %s", p)
	}
	ds, _ := ev["deliveries"].([]any)
	if len(ds) != 1 || ds[0].(map[string]any)["endpoint_id"] != ep {
		t.Fatalf("deliveries %v", ds)
	}
	if st := h.disp.startsFor(id); len(st) != 1 || len(st[0].Targets) != 1 || st[0].Targets[0].EndpointID != ep {
		t.Fatalf("started %+v", st)
	}

	// A given type and payload; only this endpoint, though the other one takes every type.
	ev = h.ok(202, "POST", "/v1/apps/a/endpoints/"+other+"/test",
		map[string]any{"event_type": "user.deleted", "payload": map[string]any{"x": 1}})
	if ds := ev["deliveries"].([]any); len(ds) != 1 || ds[0].(map[string]any)["endpoint_id"] != other {
		t.Fatalf("deliveries %v", ds)
	}
	// Neither: a herald.test event.
	ev = h.ok(202, "POST", "/v1/apps/a/endpoints/"+other+"/test", map[string]any{})
	if ev["event_type"] != "herald.test" {
		t.Fatalf("event %v", ev)
	}
	got := h.ok(200, "GET", "/v1/apps/a/events/"+ev["id"].(string), nil)
	if got["id"] != ev["id"] {
		t.Fatalf("test event not listed: %v", got)
	}

	h.fails(422, "unknown_event_type", "POST", "/v1/apps/a/endpoints/"+ep+"/test", map[string]any{"event_type": "nope"})
	h.fails(422, "schema_validation_failed", "POST", "/v1/apps/a/endpoints/"+ep+"/test",
		map[string]any{"event_type": "order.created", "payload": map[string]any{"total": 1}})
	h.fails(404, "endpoint_not_found", "POST", "/v1/apps/a/endpoints/ep_nope/test", nil)
	h.fails(404, "app_not_found", "POST", "/v1/apps/nope/endpoints/"+ep+"/test", nil)
	h.fails(400, "invalid_json", "POST", "/v1/apps/a/endpoints/"+ep+"/test", "{")
	h.ok(200, "PATCH", "/v1/apps/a/endpoints/"+ep, map[string]any{"disabled": true})
	h.fails(422, "endpoint_disabled", "POST", "/v1/apps/a/endpoints/"+ep+"/test", nil)
}

func TestEndpointStats(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "a", "name": "A"})
	h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "t"})
	ep := h.ok(201, "POST", "/v1/apps/a/endpoints", map[string]any{"url": "https://example.com/1", "ordered": false})["id"].(string)
	for i, code := range []int{200, 500} {
		ev := h.ok(202, "POST", "/v1/apps/a/events", map[string]any{"event_type": "t", "payload": map[string]any{"i": i}})
		now := time.Now().UTC()
		st := schemas.DeliverySucceeded
		if code != 200 {
			st = schemas.DeliveryFailed
		}
		_, _, err := h.store.RecordAttempt(ctx, store.AttemptRecord{AppID: "a", EventID: ev["id"].(string), EndpointID: ep,
			StartedAt: now, DurationMS: int64(10 * (i + 1)), ResponseStatus: code, Status: st, FinishedAt: &now})
		if err != nil {
			t.Fatal(err)
		}
	}

	st := h.ok(200, "GET", "/v1/apps/a/endpoints/"+ep+"/stats", nil)
	checkTime(t, st["since"])
	checkTime(t, st["until"])
	since, _ := time.Parse(time.RFC3339, st["since"].(string))
	until, _ := time.Parse(time.RFC3339, st["until"].(string))
	if d := until.Sub(since); d != 24*time.Hour {
		t.Fatalf("default window %v", d)
	}
	raw, _ := json.Marshal(map[string]any{"counts": st["counts"], "attempts": st["attempts"], "latency_ms": st["latency_ms"]})
	if want := `{"attempts":{"2xx":1,"4xx":0,"5xx":1,"error":0},"counts":{"cancelled":0,"failed":1,"pending":0,"succeeded":1},"latency_ms":{"p50":10,"p95":20,"p99":20}}`; string(raw) != want {
		t.Fatalf("stats %s\nwant  %s", raw, want)
	}
	buckets, _ := st["buckets"].([]any)
	if len(buckets) != 24 {
		t.Fatalf("%d buckets", len(buckets))
	}
	var ok, failed float64
	for _, b := range buckets {
		m := b.(map[string]any)
		checkTime(t, m["start"])
		ok += m["succeeded"].(float64)
		failed += m["failed"].(float64)
	}
	if last := buckets[23].(map[string]any); ok != 1 || failed != 1 || last["succeeded"] != 1.0 {
		t.Fatalf("buckets %v", buckets)
	}

	q := "/v1/apps/a/endpoints/" + ep + "/stats?since=2020-01-01T00:00:00Z&until=2020-01-01T02:30:00Z"
	old := h.ok(200, "GET", q, nil)
	if b := old["buckets"].([]any); len(b) != 3 || b[2].(map[string]any)["start"] != "2020-01-01T02:00:00Z" {
		t.Fatalf("buckets %v", b)
	}
	if c := old["counts"].(map[string]any); c["succeeded"] != 0.0 {
		t.Fatalf("counts outside the window %v", c)
	}
	h.fails(400, "invalid_since", "GET", "/v1/apps/a/endpoints/"+ep+"/stats?since=yesterday", nil)
	h.fails(400, "invalid_time_range", "GET", "/v1/apps/a/endpoints/"+ep+"/stats?since=2020-01-02T00:00:00Z&until=2020-01-01T00:00:00Z", nil)
	h.fails(400, "invalid_time_range", "GET", "/v1/apps/a/endpoints/"+ep+"/stats?since=2020-01-01T00:00:00Z&until=2020-03-01T00:00:00Z", nil)
	h.fails(404, "endpoint_not_found", "GET", "/v1/apps/a/endpoints/ep_nope/stats", nil)
	h.fails(404, "app_not_found", "GET", "/v1/apps/nope/endpoints/"+ep+"/stats", nil)
}
