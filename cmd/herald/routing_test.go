package main

import (
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-hq/herald/schemas"
)

// TestRoutingEndToEnd: through herald dev, an event the endpoint's filter
// refuses never reaches it; one it accepts arrives transformed, signed over
// the body sent, and the event's record keeps the original payload.
func TestRoutingEndToEnd(t *testing.T) {
	t.Parallel()
	p := sharedDev(t)
	f := newFixture(t, apiFor(t, p), map[string]any{"type": "object", "required": []string{"id", "total"},
		"properties": map[string]any{"id": map[string]any{"type": "string"}, "total": map[string]any{"type": "number"},
			"card": map[string]any{"type": "string"}}})
	rc := newReceiver(t, nil)
	ep := f.endpoint(t, map[string]any{"url": rc.URL(), "event_types": []string{f.eventType}, "ordered": false,
		"headers":   map[string]string{"X-Tenant": "acme"},
		"filter":    `payload.total > 100.0`,
		"transform": `{"body": {"text": "New order " + payload.id}, "headers": {"X-Order": payload.id}}`})

	small := f.send(t, "evt-small", map[string]any{"id": "o1", "total": 5, "card": "4242"})
	if small.Status != schemas.EventDelivered || len(small.Deliveries) != 0 {
		t.Fatalf("filtered-out event accepted as %s with deliveries %+v", small.Status, small.Deliveries)
	}
	f.send(t, "evt-large", map[string]any{"id": "o2", "total": 500, "card": "4242"})
	done := f.waitStatus(t, "evt-large", schemas.EventDelivered, 30*time.Second)

	got := rc.received()
	if len(got) != 1 || got[0].ID != "evt-large" {
		t.Fatalf("the endpoint got %d webhooks (first %+v), want only evt-large", len(got), got)
	}
	if string(got[0].Body) != `{"text":"New order o2"}` {
		t.Fatalf("body %s", got[0].Body)
	}
	wh, err := standardwebhooks.NewWebhook(ep.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got[0].Body, got[0].Header); err != nil {
		t.Fatalf("the signature does not verify over the transformed body: %v", err)
	}
	if got[0].Header.Get("X-Order") != "o2" || got[0].Header.Get("X-Tenant") != "acme" {
		t.Fatalf("headers %v", got[0].Header)
	}
	if !strings.Contains(string(done.Payload), `"card":"4242"`) || len(done.Deliveries) != 1 {
		t.Fatalf("the event's record: payload %s, deliveries %+v", done.Payload, done.Deliveries)
	}
	if f.event(t, "evt-small").Status != schemas.EventDelivered {
		t.Fatal("the filtered-out event is not delivered (with no deliveries)")
	}
}
