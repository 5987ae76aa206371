package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/api"
)

// Requests whose JSON Schema work would be unbounded are refused fast:
// numbers of absurd magnitude, schemas nested past the depth limit, and
// payloads whose validation against a schema of shared $refs would take
// exponential work.
func TestCostlySchemaWorkRefused(t *testing.T) {
	h := newHarness(t, func(d *api.Deps) { d.Config.MaxPayloadBytes = 1 << 20 })
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "a", "name": "A"})
	h.ok(201, "POST", "/v1/event-types", `{"name":"n","schema":{"type":"object","properties":{"n":{"type":"integer"}}}}`)

	timed := func(what string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		if d := time.Since(start); d > 10*time.Second { // generous: -race on a loaded machine
			t.Errorf("%s took %s", what, d)
		}
	}
	timed("1e999999", func() {
		h.fails(422, "payload_too_costly", "POST", "/v1/apps/a/events", `{"event_type":"n","payload":{"n":1e999999}}`)
	})
	many := `{"event_type":"n","payload":{"n":1,"x":[` + strings.Repeat("1e999999,", 50000) + `1]}}`
	timed("450 KB of 1e999999", func() {
		h.fails(422, "payload_too_costly", "POST", "/v1/apps/a/events", many)
	})
	deep := strings.Repeat(`{"allOf":[`, 1000) + `{}` + strings.Repeat(`]}`, 1000)
	timed("1000 nested allOf", func() {
		h.fails(422, "invalid_schema", "POST", "/v1/event-types", `{"name":"deep","schema":`+deep+`}`)
	})
	var defs []string
	for i := range 60 {
		defs = append(defs, fmt.Sprintf(`"d%d":{"anyOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]}`, i, i+1, i+1))
	}
	defs = append(defs, `"d60":{"type":"string"}`)
	exp := `{"name":"exp","schema":{"$ref":"#/$defs/d0","$defs":{` + strings.Join(defs, ",") + `}}}`
	h.ok(201, "POST", "/v1/event-types", exp)
	timed("2^60 evaluations", func() {
		h.fails(422, "payload_too_costly", "POST", "/v1/apps/a/events", `{"event_type":"exp","payload":1}`)
	})
	if n := len(h.disp.starts); n != 0 {
		t.Fatalf("%d refused events were started", n)
	}
	h.ok(202, "POST", "/v1/apps/a/events", `{"event_type":"n","payload":{"n":12}}`)
}

// Shutting down while a costly validation runs is not blocked by it (it was:
// "shut down HTTP: context deadline exceeded").
func TestShutdownStopsRequestWork(t *testing.T) {
	h := newHarness(t, func(d *api.Deps) { d.Config.MaxPayloadBytes = 1 << 20 })
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "a", "name": "A"})
	var defs []string
	for i := range 60 {
		defs = append(defs, fmt.Sprintf(`"d%d":{"anyOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]}`, i, i+1, i+1))
	}
	defs = append(defs, `"d60":{"type":"string"}`)
	h.ok(201, "POST", "/v1/event-types", `{"name":"exp","schema":{"$ref":"#/$defs/d0","$defs":{`+strings.Join(defs, ",")+`}}}`)
	body := `{"event_type":"exp","payload":1}`
	base := h.ln.BytesRead()
	head := postHead("/v1/apps/a/events", len(body), true)
	c := rawConn(t, h, head, []byte(body))
	deadline := time.Now().Add(10 * time.Second)
	for h.ln.BytesRead()-base < int64(len(head)+len(body)) {
		if time.Now().After(deadline) {
			t.Fatal("request not read")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := h.app.ShutdownWithContext(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	t.Logf("shut down in %s with a costly validation in flight", time.Since(start))
	r, _ := readAnswer(t, c)
	if r.status != 503 && r.status != 422 {
		t.Fatalf("in-flight request answered %d: %s", r.status, r.body)
	}
}
