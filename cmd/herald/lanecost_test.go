//go:build !nodev

package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/herald-hq/herald/internal/longtest"
	"github.com/herald-hq/herald/schemas"
)

// A lane's head that fails its whole retry schedule with hundreds of events
// queued behind it costs a bounded number of signals: no workflow gets more
// than a few (a waiter used to nudge the head at every re-check: one signal
// per waiter within 30 s), and once the head has failed the queue goes at
// the speed of a drain, not one hand-off per event. 300 events, not the
// 1,000 of the figure (docs/performance.md): under -race on a loaded
// 2-core machine the API accepts a few a second.
func TestFailingHeadWithQueueBehindIsBounded(t *testing.T) {
	longtest.Require(t, "a failing head with 300 events behind it (about 9 minutes under -race)")
	t.Parallel()
	// The schedule (90 s) outlasts the sending, the queued events' start
	// delays and their first re-check (30 s), so every waiter has looked at
	// the head at least once while it failed.
	p := startDev(t, t.TempDir(), map[string]string{"HERALD_RETRY_SCHEDULE": "10s,20s,30s,30s"})
	rc := newReceiver(t, func(_ int, r *http.Request) (int, http.Header, time.Duration) {
		if r.Header.Get("webhook-id") == "head" {
			return 500, nil, 0
		}
		return 200, nil, 0
	})
	f := newFixture(t, p.api, nil)
	f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": true})
	f.send(t, "head", 0)

	const queued = 300
	sendQueue(t, &laneSender{base: p.api.base, token: p.api.token}, f.app, f.eventType, queued)

	failed := f.waitStatus(t, "head", schemas.EventFailed, 3*time.Minute)
	attempts := failed.Deliveries[0].Attempts
	ended := attempts[len(attempts)-1].StartedAt
	eventually(t, 3*time.Minute, "the queue delivered", func() bool { return rc.count() >= len(attempts)+queued })
	got := rc.received()
	for _, r := range got[:len(attempts)] {
		if r.ID != "head" {
			t.Fatalf("%s was delivered before the head failed", r.ID)
		}
	}
	last := got[len(got)-1].At
	took := last.Sub(ended)
	t.Logf("the queue of %d went in %s after the head's last attempt (%.0f/s)", queued, took.Round(time.Millisecond),
		float64(queued)/took.Seconds())
	// A drain goes at the endpoint's speed (hundreds a second without
	// -race, a few under it on a loaded machine: 3-4/s measured); one
	// hand-off per event would take a signal and a workflow task each.
	if took > 150*time.Second {
		t.Errorf("the queue took %s after the head failed", took)
	}

	// The head (nudges went to it), the next ones behind it (turns come to
	// them first) and every tenth waiter: reading all 301 histories takes
	// minutes under -race.
	sample := []string{"head"}
	for i := range queued {
		if i < 5 || i%10 == 0 {
			sample = append(sample, fmt.Sprintf("q-%04d", i))
		}
	}
	most, which := mostSignals(t, p.temporal, f.app, sample)
	t.Logf("most signals to one workflow: %d (%s)", most, which)
	if most > 10 {
		t.Errorf("workflow %s got %d signals, want at most 10", which, most)
	}
}

// mostSignals counts the signals in the histories of the given events'
// workflows (their latest runs) and returns the largest count and its
// workflow.
func mostSignals(t *testing.T, addr, app string, events []string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tc, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	most, which := 0, ""
	for _, ev := range events {
		id := schemas.EventWorkflowID(app, ev)
		n := 0
		for _, e := range historyOf(ctx, t, tc, id) {
			if e.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
				n++
			}
		}
		if n > most {
			most, which = n, id
		}
	}
	return most, which
}
