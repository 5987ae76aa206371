package activities_test

import (
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-hq/herald/schemas"
)

func TestDeliverTransformed(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		if err := e.store.CreateEventType(e.ctx, schemas.EventType{Name: "order.created", CreatedAt: time.Now(),
			UpdatedAt: time.Now(), Schema: []byte(`{"type": "object", "properties": {"id": {"type": "string"},
				"count": {"type": "integer"}, "card": {"type": "string"}}}`)}); err != nil {
			t.Fatal(err)
		}
		rcv := newReceiver(t, nil)
		ep, sec := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) {
			ep.EventTypes = []string{"order.created"}
			ep.Headers = map[string]string{"X-Team": "billing", "X-Kind": "endpoint"}
			ep.Transform = `{"body": {"text": "New order " + payload.id + " x" + string(payload.count + 1),
				"rest": payload.omit(["card"])}, "headers": {"X-Kind": event_type, "X-Event": event_id}}`
		})
		e.event("evt_t", "order.created", `{"id": "o1", "count": 2, "card": "4242"}`, time.Now())
		if res := e.deliver("evt_t", ep.ID, time.Second); res.Outcome != schemas.OutcomeSucceeded {
			t.Fatalf("%+v", res)
		}
		r := rcv.got()[0]
		if want := `{"rest":{"count":2,"id":"o1"},"text":"New order o1 x3"}`; string(r.body) != want {
			t.Fatalf("body %s, want %s", r.body, want)
		}
		wh, _ := standardwebhooks.NewWebhook(sec.Key)
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Fatalf("the signature is not over the body sent: %v", err)
		}
		if r.header.Get("X-Kind") != "order.created" || r.header.Get("X-Event") != "evt_t" || r.header.Get("X-Team") != "billing" ||
			r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("headers %v", r.header)
		}
		// The event's record keeps the original payload.
		ev, _ := e.delivery("evt_t", ep.ID)
		if !strings.Contains(string(ev.Payload), `"card": "4242"`) {
			t.Fatalf("stored payload %s", ev.Payload)
		}
	})
}

func TestDeliverTransformErrorFailsAttempt(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, nil)
		// Untyped (no event types): payload.missing fails when it runs.
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) {
			ep.Transform = `{"body": payload.missing}`
		})
		e.event("evt_x", "t", `{"a": 1}`, time.Now())
		res := e.deliver("evt_x", ep.ID, time.Second)
		if res.Outcome != schemas.OutcomeRetry || res.Attempt == nil || res.Attempt.ResponseStatus != 0 ||
			!strings.Contains(res.Attempt.Error, "transform") || !strings.Contains(res.Attempt.Error, "missing") {
			t.Fatalf("result %+v, attempt %+v", res, res.Attempt)
		}
		if n := len(rcv.got()); n != 0 {
			t.Fatalf("%d requests sent for a failed transform", n)
		}
		_, d := e.delivery("evt_x", ep.ID)
		if len(d.Attempts) != 1 || d.Attempts[0].Error != res.Attempt.Error {
			t.Fatalf("stored attempts %+v", d.Attempts)
		}
	})
}
