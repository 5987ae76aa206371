package api_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/herald-hq/herald/api"
)

// runner is a SourceRunner that records its calls (the workflow is
// exercised end to end in cmd/herald).
type runner struct {
	mu      sync.Mutex
	fail    error
	started []string
	stopped []string
}

func (r *runner) StartSource(_ context.Context, appID, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.started = append(r.started, appID+"/"+id)
	return nil
}

func (r *runner) StopSource(_ context.Context, appID, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = append(r.stopped, appID+"/"+id)
	return nil
}

func TestSources(t *testing.T) {
	run := &runner{}
	h := newHarness(t, func(d *api.Deps) { d.Sources = run })
	setupApp(h)

	src := h.ok(201, "POST", "/v1/apps/acme/sources",
		map[string]any{"url": "amqp://user:s3cret@rabbit.internal:5672/prod?queue=orders", "event_type": "order.created"})
	id, _ := src["id"].(string)
	if !strings.HasPrefix(id, "src_") || src["app_id"] != "acme" || src["event_type"] != "order.created" ||
		src["status"] != "running" || strings.Contains(src["url"].(string), "s3cret") ||
		!strings.Contains(src["url"].(string), "queue=orders") {
		t.Fatalf("created %v", src)
	}
	if _, ok := src["last_error"]; ok {
		t.Fatalf("last_error on a new source: %v", src)
	}
	checkTime(t, src["created_at"])
	if len(run.started) != 1 || run.started[0] != "acme/"+id {
		t.Fatalf("started %v", run.started)
	}
	nats := h.ok(201, "POST", "/v1/apps/acme/sources", map[string]any{"url": "nats://nats.internal:4222?stream=ORDERS&consumer=herald"})
	if nats["event_type"] != "" {
		t.Fatalf("event_type of a source without one: %v", nats["event_type"])
	}

	if got := h.ok(200, "GET", "/v1/apps/acme/sources/"+id, nil); got["url"] != src["url"] {
		t.Fatalf("GET %v", got)
	}
	if list := data(t, h.ok(200, "GET", "/v1/apps/acme/sources", nil)); len(list) != 2 || list[0].(map[string]any)["id"] != nats["id"] {
		t.Fatalf("list %v, want newest first", list)
	}

	before := h.snapshot("/v1/apps/acme/sources")
	for _, bad := range []map[string]any{
		{},
		{"url": "amqp://rabbit:5672/"},               // no queue
		{"url": "amqp://rabbit:5672/?queue="},        // empty queue
		{"url": "nats://nats:4222?stream=S"},         // no consumer
		{"url": "nats://nats:4222?consumer=C"},       // no stream
		{"url": "https://example.com/?queue=q"},      // not a broker
		{"url": "amqp://rabbit/?queue=q&exchange=x"}, // a destination's parameter
		{"url": "amqp:///?queue=q"},                  // no host
		{"url": "amqp://rabbit/?queue=q&queue=r"},    // twice
	} {
		h.fails(422, "invalid_url", "POST", "/v1/apps/acme/sources", bad)
	}
	h.fails(422, "unknown_event_type", "POST", "/v1/apps/acme/sources",
		map[string]any{"url": "amqp://rabbit/?queue=q", "event_type": "nope"})
	h.fails(404, "app_not_found", "POST", "/v1/apps/nope/sources", map[string]any{"url": "amqp://rabbit/?queue=q"})
	h.fails(400, "unknown_field", "POST", "/v1/apps/acme/sources", map[string]any{"url": "amqp://rabbit/?queue=q", "x": 1})
	run.mu.Lock()
	run.fail = errDown
	run.mu.Unlock()
	h.fails(503, "temporal_unavailable", "POST", "/v1/apps/acme/sources", map[string]any{"url": "amqp://rabbit/?queue=q"})
	h.unchanged("/v1/apps/acme/sources", before)

	h.ok(204, "DELETE", "/v1/apps/acme/sources/"+id, nil)
	h.fails(404, "source_not_found", "GET", "/v1/apps/acme/sources/"+id, nil)
	h.fails(404, "source_not_found", "DELETE", "/v1/apps/acme/sources/"+id, nil)
	if len(run.stopped) != 1 || run.stopped[0] != "acme/"+id {
		t.Fatalf("stopped %v", run.stopped)
	}
}

func TestBrokerEndpointURLs(t *testing.T) {
	h := newHarness(t)
	setupApp(h)
	for _, good := range []string{
		"amqp://guest:guest@rabbit.example.com:5672/vhost?exchange=events&routing_key=webhooks",
		"amqp://rabbit.example.com/?exchange=events",
		"amqps://rabbit.example.com/?exchange=&routing_key=a-queue",
		"nats://nats.example.com:4222?subject=webhooks.acme",
	} {
		ep := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": good})
		if ep["url"] != good {
			t.Fatalf("url %v, want %s", ep["url"], good)
		}
	}
	before := h.snapshot("/v1/apps/acme/endpoints")
	for _, bad := range []string{
		"amqp://rabbit.example.com/?routing_key=k",      // no exchange
		"amqp://rabbit.example.com/",                    // no exchange
		"amqp://rabbit.example.com/?exchange=x&queue=q", // a source's parameter
		"nats://nats.example.com:4222",                  // no subject
		"nats://nats.example.com:4222?subject=",         // empty subject
		"nats://nats.example.com:4222/path?subject=s",   // a path
		"amqp://127.0.0.1/?exchange=x",                  // private (not allowed in this harness)
		"nats://10.1.2.3:4222?subject=s",                // private
	} {
		h.fails(422, "invalid_url", "POST", "/v1/apps/acme/endpoints", map[string]any{"url": bad})
	}
	h.unchanged("/v1/apps/acme/endpoints", before)
}
