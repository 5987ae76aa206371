package routing

import (
	"context"
	"encoding/json"
	"testing"
)

// BenchmarkMatch is one filter evaluation at acceptance, program cached:
// run with -bench Match -benchmem. "decode" includes decoding the payload,
// which happens once per event however many endpoints filter it.
func BenchmarkMatch(b *testing.B) {
	r := newRouter(b)
	ctx := context.Background()
	for _, c := range []struct{ name, expr string }{
		{"compare", `payload.total > 100.0`},
		{"nested_and_string", `payload.status == "paid" && payload.customer.email.endsWith("@example.com")`},
		{"exists_over_items", `payload.items.exists(i, i.qty > 4)`},
	} {
		ev := orderEvent()
		if ok, err := r.Match(ctx, ep1, c.expr, true, ev); !ok || err != nil {
			b.Fatalf("%s: %v, %v", c.expr, ok, err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, _ := r.Match(ctx, ep1, c.expr, true, ev); !ok {
					b.Fatal("no match")
				}
			}
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ev := &Event{ID: "evt_1", Type: orderType, Payload: json.RawMessage(orderPayload)}
				if ok, _ := r.Match(ctx, ep1, c.expr, true, ev); !ok {
					b.Fatal("no match")
				}
			}
		})
	}
}

// BenchmarkCompile is what a cache miss costs (the first event after an
// endpoint or schema change), and what a create or PATCH pays per event type.
func BenchmarkCompile(b *testing.B) {
	r := newRouter(b)
	ts := []EventType{orderType}
	for b.Loop() {
		if err := r.Check(Filter, `payload.status == "paid" && payload.customer.email.endsWith("@example.com")`, ts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransform is one transform at an attempt, program cached,
// payload decoded.
func BenchmarkTransform(b *testing.B) {
	r := newRouter(b)
	ctx := context.Background()
	expr := `{"body": {"text": "New order " + payload.id}, "headers": {"X-Order": payload.id}}`
	b.ReportAllocs()
	for b.Loop() {
		ev := &Event{ID: "evt_1", Type: orderType, Payload: json.RawMessage(orderPayload)}
		if _, err := r.Transform(ctx, ep1, expr, true, ev); err != nil {
			b.Fatal(err)
		}
	}
}
