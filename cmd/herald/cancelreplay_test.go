package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
)

// raceRounds is how many events each order of TestCancelReplayRaces runs.
const raceRounds = 8

// failFirst is a receiver that answers 500 to the first POST of each event
// and 200 to every later one.
func failFirst(t *testing.T) *receiver {
	var rc *receiver
	rc = newReceiver(t, func(_ int, r *http.Request) (int, http.Header, time.Duration) {
		if rc.countOf(r.Header.Get("webhook-id")) == 1 {
			return http.StatusInternalServerError, nil, 0
		}
		return http.StatusOK, nil, 0
	})
	return rc
}

func (rc *receiver) countOf(id string) int {
	n := 0
	for _, r := range rc.received() {
		if r.ID == id {
			n++
		}
	}
	return n
}

// TestCancelReplayRaces sends cancel and replay back to back against
// herald dev, in both orders, for events waiting in a retry (one hour) at
// an ordered endpoint (each event in its own lane) and an unordered one.
// Cancel then replay: the replay is delivered, exactly once per endpoint;
// the workflow's own cancel step, which may run after the replay re-queued
// the delivery, must not undo it. Replay then cancel: the cancel wins,
// the delivery ends cancelled without an attempt, unless the replay's
// attempt was under way when the cancel was answered.
func TestCancelReplayRaces(t *testing.T) {
	t.Parallel()
	p := sharedHourRetry.get(t)
	f := newFixture(t, p.api.withT(t), nil)
	ordered, unordered := failFirst(t), failFirst(t)
	f.endpoint(t, map[string]any{"url": ordered.URL(), "ordered": true})
	f.endpoint(t, map[string]any{"url": unordered.URL(), "ordered": false})
	tc := temporalClient(t, p)
	rcvs := []*receiver{ordered, unordered}

	// send posts the events and waits until each has failed its first
	// attempt at both endpoints: every delivery is pending, in its retry wait.
	send := func(prefix string) []string {
		ids := make([]string, raceRounds)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s-%d", prefix, i)
			f.api.must(202, "POST", "/v1/apps/"+f.app+"/events", map[string]any{"id": ids[i], "event_type": f.eventType,
				"payload": map[string]any{"n": i}, "ordering_key": ids[i]}, nil)
		}
		eventually(t, time.Minute, prefix+" events' first attempts", func() bool {
			for _, id := range ids {
				if ordered.countOf(id) != 1 || unordered.countOf(id) != 1 {
					return false
				}
			}
			return true
		})
		return ids
	}
	// settled waits until the event's workflow has closed: nothing more
	// can be POSTed for it.
	settled := func(id string) schemas.Event {
		eventually(t, time.Minute, "the workflow of "+id+" to close", func() bool {
			d, err := tc.DescribeWorkflowExecution(context.Background(), schemas.EventWorkflowID(f.app, id), "")
			return err == nil && d.WorkflowExecutionInfo.CloseTime != nil
		})
		return f.event(t, id)
	}

	t.Run("cancel then replay", func(t *testing.T) {
		ids := send("cr")
		for _, id := range ids {
			f.api.must(202, "POST", "/v1/apps/"+f.app+"/events/"+id+"/cancel", nil, nil)
			f.api.must(202, "POST", "/v1/apps/"+f.app+"/events/"+id+"/replay", map[string]any{}, nil)
		}
		for _, id := range ids {
			ev := settled(id)
			if ev.Status != schemas.EventDelivered {
				t.Errorf("%s: %s after cancel then replay, want delivered: %+v", id, ev.Status, ev.Deliveries)
			}
			for i, rc := range rcvs {
				if n := rc.countOf(id); n != 2 {
					t.Errorf("%s: endpoint %d got %d POSTs, want 2 (the failed first, the replay once)", id, i, n)
				}
			}
		}
		recordHistory(t, p, f.app, ids[0], "cancel_then_replay")
	})

	t.Run("replay then cancel", func(t *testing.T) {
		ids := send("rc")
		answered := map[string]time.Time{}
		for _, id := range ids {
			f.api.must(202, "POST", "/v1/apps/"+f.app+"/events/"+id+"/replay", map[string]any{}, nil)
			f.api.must(202, "POST", "/v1/apps/"+f.app+"/events/"+id+"/cancel", nil, nil)
			answered[id] = time.Now()
		}
		underWay := 0
		for _, id := range ids {
			ev := settled(id)
			for _, d := range ev.Deliveries {
				switch {
				case d.Status == schemas.DeliveryCancelled && len(d.Attempts) == 1:
				case d.Status == schemas.DeliverySucceeded && len(d.Attempts) == 2 && !d.Attempts[1].StartedAt.After(answered[id]):
					underWay++ // the replay's attempt had started: it may finish
				default:
					t.Errorf("%s to %s: %s with %d attempts %+v after replay then cancel (answered %s), want cancelled with none after the replay",
						id, d.EndpointID, d.Status, len(d.Attempts), d.Attempts, answered[id].Format(time.RFC3339Nano))
				}
			}
			for i, rc := range rcvs {
				if n := rc.countOf(id); n > 2 {
					t.Errorf("%s: endpoint %d got %d POSTs", id, i, n)
				}
			}
		}
		t.Logf("%d of %d deliveries had the replay's attempt under way when the cancel was answered", underWay, 2*len(ids))
		recordHistory(t, p, f.app, ids[0], "replay_then_cancel")
	})
}
