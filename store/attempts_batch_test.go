package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// BeginAttempts notes each attempt in flight under its own delivery and
// key, or not at all for a delivery that may not go; RecordAttempts
// completes each note, sets each delivery, gives every record the event's
// status after them all, keeps the endpoints' failure streaks, and skips a
// delivery deleted meanwhile.
func testBeginRecordAttempts(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkApp(t, s, "app_2")
	for _, ep := range []string{"ep_1", "ep_2", "ep_3"} {
		mkEndpoint(t, s, "app_1", ep, false)
	}
	mkEndpoint(t, s, "app_2", "ep_9", false)
	accept(t, s, "app_1", "evt_1", "a", 0)
	accept(t, s, "app_2", "evt_9", "a", 0)

	start := func(app, ev, ep string, gen int64) store.AttemptStart {
		return store.AttemptStart{AppID: app, EventID: ev, EndpointID: ep, Gen: gen, Key: "run/" + ep + "/0", StartedAt: at(1)}
	}
	// Out of order; then a second attempt of one delivery (the next
	// number), a delivery that does not exist and one of another generation.
	starts := []store.AttemptStart{start("app_1", "evt_1", "ep_3", 0), start("app_1", "evt_1", "ep_1", 0),
		start("app_1", "evt_1", "ep_2", 0), start("app_2", "evt_9", "ep_9", 0), start("app_1", "evt_1", "ep_1", 0),
		start("app_1", "evt_1", "nope", 0), start("app_1", "evt_1", "ep_2", 99)}
	begun, err := s.BeginAttempts(ctx, starts)
	must(t, err)
	want := []store.Begun{{1, true}, {1, true}, {1, true}, {1, true}, {2, true}, {0, false}, {0, false}}
	for i := range want {
		if begun[i] != want[i] {
			t.Fatalf("begun %d = %+v, want %+v (all %+v)", i, begun[i], want[i], begun)
		}
	}
	for _, ep := range []string{"ep_1", "ep_2", "ep_3"} {
		if st := status(t, s, "app_1", "evt_1", ep); st != schemas.DeliveryDelivering {
			t.Fatalf("%s is %s, want delivering", ep, st)
		}
		got, found, err := s.AttemptByKey(ctx, "app_1", "evt_1", ep, "run/"+ep+"/0")
		must(t, err)
		if !found || got.Outcome != schemas.OutcomeInFlight {
			t.Fatalf("%s: found=%v %+v, want in flight", ep, found, got)
		}
	}

	// app_2 goes during the POSTs.
	must(t, s.DeleteApp(ctx, "app_2", at(2)))
	next, end := at(9), at(3)
	rec := func(app, ev, ep string, n int, code int, st schemas.DeliveryStatus, out schemas.Outcome) store.AttemptRecord {
		r := store.AttemptRecord{AppID: app, EventID: ev, EndpointID: ep, StartedAt: at(1), DurationMS: 7,
			ResponseStatus: code, Status: st, Key: "run/" + ep + "/0", Outcome: out, Attempt: n}
		if st.Final() {
			r.FinishedAt = &end
		} else {
			r.NextAttemptAt, r.RetryIn = &next, 6*time.Second
		}
		return r
	}
	recs := []store.AttemptRecord{rec("app_1", "evt_1", "ep_2", 1, 500, schemas.DeliveryPending, schemas.OutcomeRetry),
		rec("app_2", "evt_9", "ep_9", 1, 200, schemas.DeliverySucceeded, schemas.OutcomeSucceeded),
		rec("app_1", "evt_1", "ep_1", 1, 200, schemas.DeliverySucceeded, schemas.OutcomeSucceeded),
		rec("app_1", "evt_1", "ep_3", 1, 500, schemas.DeliveryFailed, schemas.OutcomeFailed)}
	results := []store.EndpointResult{{EndpointID: "ep_2", At: end}, {EndpointID: "ep_9", OK: true, At: end},
		{EndpointID: "ep_1", OK: true, At: end}}
	got, err := s.RecordAttempts(ctx, recs, results)
	must(t, err)
	ev := getEvent(t, s, "app_1", "evt_1")
	for i, g := range got {
		gone := recs[i].AppID == "app_2"
		if g.Gone != gone || (!gone && (g.Attempt != 1 || !g.Applied || g.EventStatus != ev.Status)) {
			t.Fatalf("recorded %d = %+v (event %s)", i, g, ev.Status)
		}
	}
	wantSt := map[string]schemas.DeliveryStatus{"ep_1": schemas.DeliverySucceeded, "ep_2": schemas.DeliveryPending,
		"ep_3": schemas.DeliveryFailed}
	for ep, st := range wantSt {
		if got := status(t, s, "app_1", "evt_1", ep); got != st {
			t.Fatalf("%s is %s, want %s", ep, got, st)
		}
	}
	if a, found, err := s.AttemptByKey(ctx, "app_1", "evt_1", "ep_2", "run/ep_2/0"); err != nil || !found ||
		a.Outcome != schemas.OutcomeRetry || a.RetryIn != 6*time.Second || a.Attempt.ResponseStatus != 500 {
		t.Fatalf("ep_2's attempt: found=%v %+v err=%v", found, a, err)
	}
	// ep_2's failure started its streak, ep_1's success has none.
	for ep, due := range map[string]bool{"ep_2": true, "ep_1": false} {
		disabled, err := s.DisableIfFailing(ctx, ep, end.Add(time.Minute), time.Minute)
		must(t, err)
		if disabled != due {
			t.Fatalf("%s disabled = %v, want %v", ep, disabled, due)
		}
	}
	if _, err := s.RecordAttempts(ctx, []store.AttemptRecord{{AppID: "app_1", EventID: "evt_1", EndpointID: "ep_1",
		Status: "bogus"}}, nil); err == nil {
		t.Fatal("recorded an unknown status")
	}
}
