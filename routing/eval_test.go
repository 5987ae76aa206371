package routing

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

type countErrors struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countErrors) RoutingError(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[kind]++
}

func (c *countErrors) get(kind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[kind]
}

const orderPayload = `{"id": "ord_1", "total": 120.5, "count": 3, "status": "paid", "priority": 2,
	"customer": {"email": "a@example.com", "address": {"city": "Paris"}},
	"items": [{"sku": "x", "qty": 2}, {"sku": "y", "qty": 5}], "scores": [1, 2],
	"attributes": {"size": 4}, "card": "4242"}`

var orderType = EventType{Name: "order.created", Schema: []byte(orderSchema), UpdatedAt: time.Unix(100, 0)}

func orderEvent() *Event {
	return &Event{ID: "evt_1", Type: orderType, Payload: json.RawMessage(orderPayload)}
}

const ep1 = "ep_1"

func TestMatch(t *testing.T) {
	r := newRouter(t)
	ctx := context.Background()
	cases := map[string]bool{
		`payload.total > 100.0`:                         true,
		`payload.count + 1 == 4`:                        true, // count is an int: the JSON 3 became 3, not 3.0
		`payload.scores.map(s, s * 2) == [2, 4]`:        true,
		`payload.attributes["size"] + 1 == 5`:           true,
		`payload.items.exists(i, i.qty > 4)`:            true,
		`payload.items.all(i, i.qty > 4)`:               false,
		`payload.customer.address.city == "Paris"`:      true,
		`has(payload.customer.address.zip)`:             false,
		`payload.status in ["paid", "shipped"]`:         true,
		`event_type == "order.created"`:                 true,
		`payload.?note.orValue("none") == "none"`:       true,
		`payload.customer.email.endsWith("@other.com")`: false,
	}
	for expr, want := range cases {
		got, err := r.Match(ctx, ep1, expr, true, orderEvent())
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", expr, got, err, want)
		}
	}
}

func TestMatchErrorIsNoMatch(t *testing.T) {
	c := &countErrors{}
	r, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// note is optional and absent: selecting it fails, and says how not to.
	got, err := r.Match(ctx, ep1, `payload.note == "x"`, true, orderEvent())
	if got || err == nil || !strings.Contains(err.Error(), "has(payload.note)") {
		t.Fatalf("%v, %v; want no match and an error naming has(payload.note)", got, err)
	}
	// Untyped (the endpoint takes every type): numbers are doubles.
	got, err = r.Match(ctx, ep1, `payload.count + 1 == 4`, false, orderEvent())
	if got || err == nil {
		t.Fatalf("untyped int arithmetic on a JSON number: %v, %v; want an error", got, err)
	}
	if got, err := r.Match(ctx, ep1, `payload.count + 1.0 == 4.0`, false, orderEvent()); !got || err != nil {
		t.Fatalf("untyped double arithmetic: %v, %v", got, err)
	}
	if n := c.get("filter"); n != 2 {
		t.Fatalf("%d filter errors counted, want 2", n)
	}
}

func TestCostLimit(t *testing.T) {
	r := newRouter(t)
	ev := &Event{ID: "evt_1", Type: EventType{Name: "t"}, Payload: json.RawMessage(`{"xs": [1,2,3,4,5,6,7,8,9,10]}`)}
	expr := `payload.xs.all(a, payload.xs.all(b, payload.xs.all(c, payload.xs.all(d, payload.xs.all(e, a + b + c + d + e > 0.0)))))`
	// 10^5 iterations: the limit stops it before, whatever the machine's speed.
	got, err := r.Match(context.Background(), ep1, expr, false, ev)
	if got || err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Fatalf("%v, %v; want the cost limit", got, err)
	}
}

func TestCacheFollowsVersions(t *testing.T) {
	r := newRouter(t)
	ctx := context.Background()
	if ok, _ := r.Match(ctx, ep1, `payload.total > 100.0`, true, orderEvent()); !ok {
		t.Fatal("first filter did not match")
	}
	if n := len(r.progs); n != 1 {
		t.Fatalf("%d programs cached, want 1", n)
	}
	if ok, _ := r.Match(ctx, "ep_2", `payload.total > 100.0`, true, orderEvent()); !ok || len(r.progs) != 1 {
		t.Fatalf("the same filter on another endpoint: %v, %d programs cached, want the one shared", ok, len(r.progs))
	}
	// The event type's schema changed under the filter: it no longer
	// type-checks, and runs untyped.
	changed := orderEvent()
	changed.Type = EventType{Name: "order.created", Schema: []byte(`{"type": "object", "properties": {"sum": {"type": "number"}}}`),
		UpdatedAt: orderType.UpdatedAt.Add(time.Second)}
	if ok, err := r.Match(ctx, ep1, `payload.total > 100.0`, true, changed); !ok || err != nil {
		t.Fatalf("untyped after a schema change: %v, %v", ok, err)
	}
	if n := len(r.progs); n != 2 {
		t.Fatalf("%d programs cached, want 2: one per schema version", n)
	}
}

func TestTransform(t *testing.T) {
	c := &countErrors{}
	r, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := r.Transform(ctx, ep1, `{"body": {"text": "New order " + payload.id + " <" + string(payload.count) + ">"}}`, true, orderEvent())
	if err != nil || string(res.Body) != `{"text":"New order ord_1 <3>"}` || res.Headers != nil {
		t.Fatalf("%s %v, %v", res.Body, res.Headers, err)
	}
	res, err = r.Transform(ctx, ep1, `{"body": payload.omit(["card", "customer"])}`, true, orderEvent())
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Fatal(err)
	}
	if _, ok := body["card"]; ok || body["id"] != "ord_1" || body["total"] != 120.5 || len(body) != 8 {
		t.Fatalf("omit: %s", res.Body)
	}
	res, err = r.Transform(ctx, ep1, `{"headers": {"X-Order": payload.id, "X-Event": event_id}}`, true, orderEvent())
	if err != nil || res.Body != nil || res.Headers["X-Order"] != "ord_1" || res.Headers["X-Event"] != "evt_1" {
		t.Fatalf("%s %v, %v", res.Body, res.Headers, err)
	}
	res, err = r.Transform(ctx, ep1, `{"body": null}`, true, orderEvent())
	if err != nil || string(res.Body) != "null" {
		t.Fatalf("null body: %q, %v", res.Body, err)
	}
	for _, bad := range []string{
		`{"headers": {"webhook-id": "x"}}`,
		`{"headers": {"Bad Name": "x"}}`,
		`{"body": 1.0 / 0.0}`,
		`dyn({"other": 1})`,
		`{"body": payload.note}`,
	} {
		if _, err := r.Transform(ctx, ep1, bad, true, orderEvent()); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if n := c.get("transform"); n != 5 {
		t.Fatalf("%d transform errors counted, want 5", n)
	}
}
