package api_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/store"
)

// ordering_key: 1 to 256 printable ASCII characters, stored, returned and
// filterable; anything else is 422 and stores nothing.
func TestOrderingKey(t *testing.T) {
	h := newHarness(t)
	setupEvents(h)
	ev := h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": "k1", "event_type": "order.created",
		"payload": 1, "ordering_key": "customer-42"})
	if ev["ordering_key"] != "customer-42" {
		t.Fatalf("accepted %v", ev)
	}
	starts := h.disp.startsFor("k1")
	if len(starts) != 1 || starts[0].Targets[0].Lane != "customer-42" {
		t.Fatalf("start %+v", starts)
	}
	h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": "k2", "event_type": "order.created", "payload": 1})
	if ev := h.ok(200, "GET", "/v1/apps/acme/events/k2", nil); ev["ordering_key"] != nil {
		t.Fatalf("keyless event shows a key: %v", ev)
	}
	list := data(t, h.ok(200, "GET", "/v1/apps/acme/events?ordering_key=customer-42", nil))
	if len(list) != 1 || list[0].(map[string]any)["id"] != "k1" {
		t.Fatalf("filtered %v", list)
	}
	before := h.snapshot("/v1/apps/acme/events")
	for _, bad := range []string{"", strings.Repeat("k", 257), "tab\there", "é"} { // a NUL is refused by the decoder first (invalid_text)
		h.fails(422, "invalid_ordering_key", "POST", "/v1/apps/acme/events", map[string]any{"event_type": "order.created",
			"payload": 1, "ordering_key": bad})
	}
	h.fails(404, "app_not_found", "POST", "/v1/apps/nope/events", map[string]any{"event_type": "order.created",
		"payload": 1, "ordering_key": ""})
	h.unchanged("/v1/apps/acme/events", before)
	h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"event_type": "order.created", "payload": 1,
		"ordering_key": strings.Repeat("~", 256)})
}

// The outbox: an event whose start failed stays noted for the workers'
// sweep; a started one is cleared; a recover signals every re-queued event
// even when one signal fails.
func TestOutboxNotes(t *testing.T) {
	h := newHarness(t)
	all, _ := setupEvents(h)
	h.disp.setFail(errors.New("temporal down"))
	h.fails(503, "temporal_unavailable", "POST", "/v1/apps/acme/events", map[string]any{"id": "e1", "event_type": "order.created", "payload": 1})
	h.disp.setFail(nil)
	h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": "e2", "event_type": "order.created", "payload": 1})
	notes, err := h.store.ListUndispatched(t.Context(), time.Now().Add(time.Hour), 10)
	if err != nil || len(notes) != 1 || notes[0].EventID != "e1" || notes[0].Dispatch != store.DispatchStart {
		t.Fatalf("notes %+v %v", notes, err)
	}
	for _, id := range []string{"a", "b"} {
		h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"id": id, "event_type": "order.created", "payload": 1})
		failDelivery(t, h, id, all)
	}
	h.disp.setFail(errors.New("temporal down"))
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if got := h.ok(202, "POST", "/v1/apps/acme/endpoints/"+all+"/recover", map[string]any{"since": since}); got["replayed"] != 2.0 {
		t.Fatalf("recover %v", got)
	}
	notes, err = h.store.ListUndispatched(t.Context(), time.Now().Add(time.Hour), 10)
	if err != nil || len(notes) != 3 {
		t.Fatalf("notes after a failing recover %+v %v", notes, err)
	}
}
