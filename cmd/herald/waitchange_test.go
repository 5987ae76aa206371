package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/herald-hq/herald/schemas"
)

func TestChangesReachWaitingDeliveries(t *testing.T) {
	t.Parallel()
	scenarioChangesReachWaitingDeliveries(t, sharedDev(t))
}

// A delivery waiting for its lane's turn waits inside its workflow's task,
// which takes a signal only at its next heartbeat, and the wait itself
// ends up to 20 s later. A cancel, a replay or an endpoint's deletion made
// through the API wakes it, wherever it waits: it asks the store, ends, and its workflow takes
// the change at once. Each case holds a lane's head in a slow POST, queues
// an event behind it, makes the change while that event waits, and times
// the waiting event's workflow until it closes. It returns the identities
// of the workers whose tasks waited.
func scenarioChangesReachWaitingDeliveries(t *testing.T, p underTest) (waitedIn []string) {
	const headHold = 2 * time.Second
	// Without the wake the waiting workflow closes about 20 s after its
	// wait began, whatever the change.
	const promptly = 6 * time.Second
	tc := temporalClient(t, p)
	cases := []struct {
		name   string
		change func(f fixture, ep createdEndpoint, id string)
		want   schemas.EventStatus
		posts  int           // of the waiting event, at the end
		hold   time.Duration // of the head's POST
	}{
		{"cancel", func(f fixture, _ createdEndpoint, id string) {
			f.api.must(202, "POST", "/v1/apps/"+f.app+"/events/"+id+"/cancel", nil, nil)
		}, schemas.EventCancelled, 0, headHold},
		{"replay", func(f fixture, _ createdEndpoint, id string) {
			f.api.must(202, "POST", "/v1/apps/"+f.app+"/events/"+id+"/replay", map[string]any{}, nil)
		}, schemas.EventDelivered, 1, headHold},
		{"delete endpoint", func(f fixture, ep createdEndpoint, _ string) {
			f.api.must(204, "DELETE", "/v1/apps/"+f.app+"/endpoints/"+ep.ID, nil, nil)
		}, schemas.EventCancelled, 0, headHold},
		// An operator's signal, straight to Temporal, changes the store only
		// once the workflow takes it, at its task's next heartbeat (3.2 s);
		// the activity that changes it then wakes the wait, which otherwise
		// lasted until the head's slow POST ended.
		{"cancel signal", func(f fixture, _ createdEndpoint, id string) {
			if err := tc.SignalWorkflow(context.Background(), schemas.EventWorkflowID(f.app, id), "", schemas.SignalCancel, nil); err != nil {
				t.Fatal(err)
			}
		}, schemas.EventCancelled, 0, 3 * promptly / 2},
	}
	for _, c := range cases {
		f := newFixture(t, apiFor(t, p), nil)
		rc := newReceiver(t, func(_ int, r *http.Request) (int, http.Header, time.Duration) {
			if strings.HasPrefix(r.Header.Get("webhook-id"), "head") {
				return 200, nil, c.hold
			}
			return 200, nil, 0
		})
		ep := f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": true})
		f.send(t, "head", map[string]any{})
		eventually(t, 30*time.Second, c.name+": the head's POST", func() bool { return len(postsOf(rc, "head")) == 1 })
		f.send(t, "behind", map[string]any{})
		waitedIn = append(waitedIn, waitingTask(t, tc, f.app, "behind"))
		changed := time.Now()
		c.change(f, ep, "behind")
		eventually(t, time.Minute, c.name+": the waiting event's workflow to close", func() bool {
			d, err := tc.DescribeWorkflowExecution(context.Background(), schemas.EventWorkflowID(f.app, "behind"), "")
			return err == nil && d.WorkflowExecutionInfo.CloseTime != nil
		})
		took := time.Since(changed)
		if took > promptly {
			t.Errorf("%s: the waiting event's workflow closed %s after the change: its wait did not hear of it", c.name, took.Round(time.Millisecond))
			logHistory(t, tc, schemas.EventWorkflowID(f.app, "behind"), changed)
		}
		t.Logf("%s: the waiting event's workflow closed %s after the change", c.name, took.Round(time.Millisecond))
		if ev := f.event(t, "behind"); ev.Status != c.want {
			t.Errorf("%s: the waiting event ended %s, want %s", c.name, ev.Status, c.want)
		}
		if n := len(postsOf(rc, "behind")); n != c.posts {
			t.Errorf("%s: the waiting event was POSTed %d times, want %d", c.name, n, c.posts)
		}
	}
	return waitedIn
}

// waitingTask waits until the first task of an event's workflow has
// started and not ended, which for an event queued behind a head under
// way is its wait for the turn, and returns the identity of its worker.
func waitingTask(t *testing.T, tc client.Client, app, id string) (identity string) {
	t.Helper()
	eventually(t, 30*time.Second, id+"'s first task to wait", func() bool {
		identity = ""
		for _, e := range historyOf(context.Background(), t, tc, schemas.EventWorkflowID(app, id)) {
			if a := e.GetWorkflowTaskStartedEventAttributes(); a != nil {
				identity = a.Identity
			}
			if e.GetWorkflowTaskCompletedEventAttributes() != nil {
				t.Fatalf("%s's first task ended before the change: the test would test nothing", id)
			}
		}
		return identity != ""
	})
	return identity
}

// logHistory logs a workflow's history, each event's time from since: a
// wait that did not hear of a change shows whether the workflow was still
// in its first task's wait then, or already on a re-check timer.
func logHistory(t *testing.T, tc client.Client, id string, since time.Time) {
	t.Helper()
	for _, e := range historyOf(context.Background(), t, tc, id) {
		var detail string
		for _, p := range e.GetMarkerRecordedEventAttributes().GetDetails()["result"].GetPayloads() {
			detail += string(p.GetData()) // a local activity's result: Deliver's says why it did not wait
		}
		if len(detail) > 400 {
			detail = detail[:400]
		}
		t.Logf("  %+v %s %s", e.GetEventTime().AsTime().Sub(since).Round(time.Millisecond), e.GetEventType(), detail)
	}
}
