package api_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// setupEvents makes app acme with event types order.created and order.paid
// (with a schema) and endpoints: one for everything (ordered), one for
// order.paid only (unordered) and a disabled one.
func setupEvents(h *harness) (all, paid string) {
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "acme", "name": "Acme"})
	h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "order.created"})
	h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "order.paid", "schema": map[string]any{
		"type": "object", "required": []string{"id", "amount"},
		"properties": map[string]any{"amount": map[string]any{"type": "number", "minimum": 0}}}})
	all = h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/all"})["id"].(string)
	paid = h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/paid",
		"event_types": []string{"order.paid"}, "ordered": false})["id"].(string)
	h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/off", "disabled": true})
	return all, paid
}

func deliveries(t *testing.T, ev map[string]any) map[string]string {
	t.Helper()
	ds, ok := ev["deliveries"].([]any)
	if !ok {
		t.Fatalf("event without deliveries array: %v", ev)
	}
	out := map[string]string{}
	for _, d := range ds {
		m := d.(map[string]any)
		out[m["endpoint_id"].(string)] = m["status"].(string)
	}
	return out
}

func TestSendEvent(t *testing.T) {
	h := newHarness(t)
	all, paid := setupEvents(h)

	ev := h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"event_type": "order.created", "payload": map[string]any{"n": 1}})
	id, _ := ev["id"].(string)
	if !strings.HasPrefix(id, "evt_") || ev["app_id"] != "acme" || ev["event_type"] != "order.created" ||
		ev["status"] != "pending" || ev["payload"].(map[string]any)["n"] != 1.0 {
		t.Fatalf("accepted %v", ev)
	}
	checkTime(t, ev["created_at"])
	if d := deliveries(t, ev); len(d) != 1 || d[all] != "pending" {
		t.Fatalf("deliveries %v", d)
	}
	starts := h.disp.startsFor(id)
	if len(starts) != 1 || len(starts[0].Targets) != 1 || starts[0].Targets[0].EndpointID != all ||
		!starts[0].Targets[0].Ordered || starts[0].Targets[0].Seq != 1 || starts[0].Event.EventType != "order.created" {
		t.Fatalf("Start calls %+v", starts)
	}

	ev = h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": "ord-1", "event_type": "order.paid",
		"payload": map[string]any{"id": "o1", "amount": 5}})
	if d := deliveries(t, ev); len(d) != 2 || d[all] != "pending" || d[paid] != "pending" {
		t.Fatalf("deliveries %v", d)
	}
	// Any JSON value is a payload.
	for i, p := range []string{`"text"`, `42`, `null`, `[1, {"a": 2}]`, `true`} {
		got := h.ok(202, "POST", "/v1/apps/acme/events", fmt.Sprintf(`{"id": "any-%d", "event_type": "order.created", "payload": %s}`, i, p))
		if _, ok := got["payload"]; !ok {
			t.Fatalf("payload %s lost: %v", p, got)
		}
	}
	r := h.req("GET", "/metrics", nil, "Authorization", "")
	if r.status != 200 || !strings.Contains(string(r.body), `herald_events_accepted_total{event_type="order.created"} 6`) {
		t.Fatalf("metrics: %d %s", r.status, r.body)
	}
	// An event nobody subscribes to is delivered at once.
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "quiet", "name": "Quiet"})
	ev = h.ok(202, "POST", "/v1/apps/quiet/events", map[string]any{"event_type": "order.created", "payload": 1})
	if ev["status"] != "delivered" || len(ev["deliveries"].([]any)) != 0 {
		t.Fatalf("no subscriber: %v", ev)
	}
}

func TestIdempotency(t *testing.T) {
	h := newHarness(t)
	setupEvents(h)
	first := h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": "o-1", "event_type": "order.created", "payload": "first"})
	again := h.ok(200, "POST", "/v1/apps/acme/events", map[string]any{"id": "o-1", "event_type": "order.created", "payload": "second"})
	if again["id"] != "o-1" || again["payload"] != "first" || again["created_at"] != first["created_at"] {
		t.Fatalf("repeat answered %v, first %v", again, first)
	}
	if n := len(data(t, h.ok(200, "GET", "/v1/apps/acme/events", nil))); n != 1 {
		t.Fatalf("%d events after a repeat", n)
	}
	// The repeat starts the (idempotent) workflow again with the same targets.
	starts := h.disp.startsFor("o-1")
	if len(starts) != 2 || fmt.Sprint(starts[0].Targets) != fmt.Sprint(starts[1].Targets) || string(starts[1].Event.Payload) != `"first"` {
		t.Fatalf("Start calls %+v", starts)
	}

	h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"event_type": "order.created", "payload": 1}, "Idempotency-Key", "k-1")
	got := h.ok(200, "POST", "/v1/apps/acme/events", map[string]any{"event_type": "order.created", "payload": 2}, "Idempotency-Key", "k-1")
	if got["id"] != "k-1" || got["payload"] != 1.0 {
		t.Fatalf("Idempotency-Key repeat %v", got)
	}
	h.ok(200, "POST", "/v1/apps/acme/events", map[string]any{"id": "k-1", "event_type": "order.created", "payload": 2}, "Idempotency-Key", "k-1")
	h.fails(422, "idempotency_key_mismatch", "POST", "/v1/apps/acme/events",
		map[string]any{"id": "k-2", "event_type": "order.created", "payload": 2}, "Idempotency-Key", "k-1")
	h.fails(422, "invalid_id", "POST", "/v1/apps/acme/events", map[string]any{"event_type": "order.created", "payload": 2}, "Idempotency-Key", "a/b")

	// The same id in another app is another event.
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "other", "name": "Other"})
	h.ok(202, "POST", "/v1/apps/other/events", map[string]any{"id": "o-1", "event_type": "order.created", "payload": 1})
}

func TestStartFailure(t *testing.T) {
	h := newHarness(t)
	all, _ := setupEvents(h)
	h.disp.setFail(errors.New("temporal down"))
	h.fails(503, "temporal_unavailable", "POST", "/v1/apps/acme/events", map[string]any{"id": "e1", "event_type": "order.created", "payload": 1})
	h.disp.setFail(nil)
	got := h.ok(200, "POST", "/v1/apps/acme/events", map[string]any{"id": "e1", "event_type": "order.created", "payload": 1})
	if got["id"] != "e1" || got["status"] != "pending" {
		t.Fatalf("retry %v", got)
	}
	starts := h.disp.startsFor("e1")
	if len(starts) != 1 || len(starts[0].Targets) != 1 || starts[0].Targets[0].EndpointID != all || starts[0].Targets[0].Seq != 1 {
		t.Fatalf("Start on retry %+v", starts)
	}
}

func TestSendEventBadInput(t *testing.T) {
	h := newHarness(t)
	setupEvents(h)
	h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": "keep", "event_type": "order.created", "payload": 1})
	before := h.snapshot("/v1/apps/acme/events")

	e := h.fails(422, "schema_validation_failed", "POST", "/v1/apps/acme/events",
		map[string]any{"event_type": "order.paid", "payload": map[string]any{"amount": -3}})
	details, _ := e["details"].([]any)
	paths := map[string]bool{}
	for _, d := range details {
		m := d.(map[string]any)
		if m["message"] == "" {
			t.Fatalf("detail without message %v", m)
		}
		paths[m["path"].(string)] = true
	}
	if !paths[""] || !paths["/amount"] {
		t.Fatalf("details %v", e["details"])
	}
	h.fails(422, "unknown_event_type", "POST", "/v1/apps/acme/events", map[string]any{"event_type": "nope", "payload": 1})
	h.fails(422, "unknown_event_type", "POST", "/v1/apps/acme/events", map[string]any{"payload": 1})
	h.fails(422, "invalid_payload", "POST", "/v1/apps/acme/events", map[string]any{"event_type": "order.created"})
	h.fails(422, "invalid_id", "POST", "/v1/apps/acme/events", map[string]any{"id": "no spaces", "event_type": "order.created", "payload": 1})
	h.fails(404, "app_not_found", "POST", "/v1/apps/nope/events", map[string]any{"event_type": "order.created", "payload": 1})
	h.fails(404, "app_not_found", "POST", "/v1/apps/nope/events", map[string]any{"event_type": "nope", "payload": 1})
	h.fails(404, "app_not_found", "POST", "/v1/apps/nope/events", map[string]any{"event_type": "order.paid", "payload": 1})
	h.fails(400, "invalid_json", "POST", "/v1/apps/acme/events", `{"event_type": "order.created", "payload": }`)
	h.fails(400, "unknown_field", "POST", "/v1/apps/acme/events", `{"event_type": "order.created", "payload": 1, "data": 2}`)
	h.fails(413, "payload_too_large", "POST", "/v1/apps/acme/events",
		fmt.Sprintf(`{"event_type": "order.created", "payload": %q}`, strings.Repeat("x", 4100)))
	h.unchanged("/v1/apps/acme/events", before)
	if n := len(h.disp.starts); n != 1 {
		t.Fatalf("%d Start calls for refused events", n)
	}
}

func TestGetAndListEvents(t *testing.T) {
	h := newHarness(t)
	all, paid := setupEvents(h)
	for i := range 3 {
		h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": fmt.Sprintf("c%d", i), "event_type": "order.created", "payload": i})
	}
	h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": "p0", "event_type": "order.paid", "payload": map[string]any{"id": "x", "amount": 1}})

	ev := h.ok(200, "GET", "/v1/apps/acme/events/c1", nil)
	if ev["id"] != "c1" || ev["payload"] != 1.0 {
		t.Fatalf("get %v", ev)
	}
	h.fails(404, "event_not_found", "GET", "/v1/apps/acme/events/nope", nil)
	h.fails(404, "app_not_found", "GET", "/v1/apps/nope/events/c1", nil)
	h.fails(404, "app_not_found", "GET", "/v1/apps/nope/events", nil)

	ids := func(q string) string {
		var out []string
		for _, e := range data(t, h.ok(200, "GET", "/v1/apps/acme/events"+q, nil)) {
			out = append(out, e.(map[string]any)["id"].(string))
		}
		return strings.Join(out, ",")
	}
	if got := ids(""); got != "p0,c2,c1,c0" {
		t.Fatalf("list %s", got)
	}
	if got := ids("?event_type=order.paid"); got != "p0" {
		t.Fatalf("by type %s", got)
	}
	if got := ids("?endpoint_id=" + paid); got != "p0" {
		t.Fatalf("by endpoint %s", got)
	}
	if got := ids("?endpoint_id=" + all + "&limit=2"); got != "p0,c2" {
		t.Fatalf("by endpoint, limit 2: %s", got)
	}
	if got := ids("?status=pending"); got != "p0,c2,c1,c0" {
		t.Fatalf("pending %s", got)
	}
	if got := ids("?status=delivered"); got != "" {
		t.Fatalf("delivered %s", got)
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	past := url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339))
	if got := ids("?since=" + future); got != "" {
		t.Fatalf("since future %s", got)
	}
	if got := ids("?since=" + past + "&until=" + future); got != "p0,c2,c1,c0" {
		t.Fatalf("window %s", got)
	}
	h.fails(400, "invalid_status", "GET", "/v1/apps/acme/events?status=done", nil)
	h.fails(400, "invalid_since", "GET", "/v1/apps/acme/events?since=yesterday", nil)
	h.fails(400, "invalid_until", "GET", "/v1/apps/acme/events?until=2024-13-01", nil)
	h.fails(400, "invalid_limit", "GET", "/v1/apps/acme/events?limit=500", nil)
	h.fails(400, "invalid_cursor", "GET", "/v1/apps/acme/events?cursor=nope", nil)
}

// failDelivery records a failed last attempt of an event's delivery.
func failDelivery(t *testing.T, h *harness, eventID, endpointID string) {
	t.Helper()
	now := time.Now()
	_, _, err := h.store.RecordAttempt(t.Context(), store.AttemptRecord{AppID: "acme", EventID: eventID, EndpointID: endpointID,
		StartedAt: now.Add(-time.Second), DurationMS: 12, ResponseStatus: 500, ResponseBody: "boom",
		Status: schemas.DeliveryFailed, FinishedAt: &now})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCancelAndReplay(t *testing.T) {
	h := newHarness(t)
	all, paid := setupEvents(h)
	h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": "p0", "event_type": "order.paid", "payload": map[string]any{"id": "x", "amount": 1}})

	ev := h.ok(202, "POST", "/v1/apps/acme/events/p0/cancel", nil)
	if d := deliveries(t, ev); ev["status"] != "cancelled" || d[all] != "cancelled" || d[paid] != "cancelled" {
		t.Fatalf("cancelled %v", ev)
	}
	if fmt.Sprint(h.disp.cancels) != "[acme/p0]" {
		t.Fatalf("Cancel calls %v", h.disp.cancels)
	}
	h.fails(404, "event_not_found", "POST", "/v1/apps/acme/events/nope/cancel", nil)
	h.fails(404, "app_not_found", "POST", "/v1/apps/nope/events/p0/cancel", nil)
	h.fails(400, "unknown_field", "POST", "/v1/apps/acme/events/p0/cancel", `{"now": true}`)

	ev = h.ok(202, "POST", "/v1/apps/acme/events/p0/replay", map[string]any{"endpoint_id": paid})
	if d := deliveries(t, ev); ev["status"] != "pending" || d[paid] != "pending" || d[all] != "cancelled" {
		t.Fatalf("replayed one %v", ev)
	}
	ev = h.ok(202, "POST", "/v1/apps/acme/events/p0/replay", nil)
	if d := deliveries(t, ev); d[all] != "pending" || d[paid] != "pending" {
		t.Fatalf("replayed all %v", ev)
	}
	if len(h.disp.replays) != 2 || h.disp.replays[0].Signal.EndpointID != paid || len(h.disp.replays[0].Signal.Targets) != 1 ||
		h.disp.replays[1].Signal.EndpointID != "" || len(h.disp.replays[1].Signal.Targets) != 2 {
		t.Fatalf("Replay calls %+v", h.disp.replays)
	}
	h.fails(404, "delivery_not_found", "POST", "/v1/apps/acme/events/p0/replay", map[string]any{"endpoint_id": "ep_nope"})
	h.fails(404, "event_not_found", "POST", "/v1/apps/acme/events/nope/replay", nil)
	h.fails(400, "unknown_field", "POST", "/v1/apps/acme/events/p0/replay", `{"endpoint": "x"}`)
	h.disp.setFail(errors.New("down"))
	h.fails(503, "temporal_unavailable", "POST", "/v1/apps/acme/events/p0/replay", nil)
	h.fails(503, "temporal_unavailable", "POST", "/v1/apps/acme/events/p0/cancel", nil)
}

func TestRecover(t *testing.T) {
	h := newHarness(t)
	all, paid := setupEvents(h)
	for _, id := range []string{"a", "b", "c"} {
		h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": id, "event_type": "order.created", "payload": 1})
	}
	failDelivery(t, h, "a", all)
	failDelivery(t, h, "c", all)
	ev := h.ok(200, "GET", "/v1/apps/acme/events/a", nil)
	att := ev["deliveries"].([]any)[0].(map[string]any)["attempts"].([]any)[0].(map[string]any)
	if ev["status"] != "failed" || att["attempt"] != 1.0 || att["response_status"] != 500.0 || att["response_body"] != "boom" {
		t.Fatalf("failed event %v", ev)
	}
	checkTime(t, att["started_at"])

	base := "/v1/apps/acme/endpoints/" + all + "/recover"
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	got := h.ok(202, "POST", base, map[string]any{"since": since})
	if got["replayed"] != 2.0 {
		t.Fatalf("recover %v", got)
	}
	if len(h.disp.replays) != 2 || h.disp.replays[0].EventID != "a" || h.disp.replays[1].EventID != "c" ||
		h.disp.replays[0].Signal.EndpointID != all || len(h.disp.replays[0].Signal.Targets) != 1 {
		t.Fatalf("Replay calls %+v", h.disp.replays)
	}
	if ev := h.ok(200, "GET", "/v1/apps/acme/events/a", nil); ev["status"] != "pending" {
		t.Fatalf("recovered event %v", ev)
	}
	if got := h.ok(202, "POST", base, map[string]any{"since": since, "until": time.Now().Add(time.Minute).Format(time.RFC3339Nano)}); got["replayed"] != 0.0 {
		t.Fatalf("second recover %v", got)
	}
	h.fails(422, "invalid_time_range", "POST", base, map[string]any{})
	h.fails(422, "invalid_time_range", "POST", base, map[string]any{"since": since, "until": since})
	h.fails(400, "invalid_time", "POST", base, map[string]any{"since": "yesterday"})
	h.fails(400, "invalid_json", "POST", base, ``)
	h.fails(404, "endpoint_not_found", "POST", "/v1/apps/acme/endpoints/ep_nope/recover", map[string]any{"since": since})
	h.fails(404, "app_not_found", "POST", "/v1/apps/nope/endpoints/"+paid+"/recover", map[string]any{"since": since})
}
