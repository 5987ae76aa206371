package api_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/api"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// gate is a Dispatcher whose Start waits until it is opened.
type gate struct {
	recorder
	entered chan struct{}
	open    chan struct{}
}

func (g *gate) Start(ctx context.Context, ev store.NewEvent, targets []schemas.Target) error {
	g.entered <- struct{}{}
	<-g.open
	return g.recorder.Start(ctx, ev, targets)
}

// watchers counts the goroutines watching a request's client (workContext).
func watchers(t *testing.T) int {
	t.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 2); err != nil {
		t.Fatal(err)
	}
	return strings.Count(buf.String(), "api.(*server).workContext.func")
}

// A request's client is watched only while work that may take long runs
// (a payload's schema check), not for the whole request: an event without
// a schema, waiting for its workflow's start, has no watcher. Watching
// every request throughout cost 2% of the process's CPU under load.
func TestClientWatchedOnlyDuringLongWork(t *testing.T) {
	g := &gate{entered: make(chan struct{}, 1), open: make(chan struct{})}
	h := newHarness(t, func(d *api.Deps) { d.Dispatcher = g })
	setupEvents(h)
	for _, typ := range []string{"order.created", "order.paid"} {
		done := make(chan resp, 1)
		go func() {
			done <- h.req("POST", "/v1/apps/acme/events", map[string]any{"event_type": typ,
				"payload": map[string]any{"id": "o_1", "amount": 3}})
		}()
		<-g.entered
		// The schema check's watcher ends once its context is cancelled,
		// a moment after the check.
		n := watchers(t)
		for deadline := time.Now().Add(2 * time.Second); n > 0 && time.Now().Before(deadline); n = watchers(t) {
			time.Sleep(5 * time.Millisecond)
		}
		g.open <- struct{}{}
		if r := <-done; r.status != 202 {
			t.Fatalf("%s: %d %s", typ, r.status, r.body)
		}
		if n != 0 {
			t.Errorf("%s: %d goroutines watch the client during the workflow's start", typ, n)
		}
	}
}
