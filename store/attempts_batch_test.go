package store_test

import (
	"context"
	"fmt"
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

// An attempt begun for a lane's holder (a drain's) is noted only while the
// holder still holds the lane, asked in the same transaction: not once the
// holder is final, or queued again under a newer seq.
func testBeginForHolder(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_o", true)
	var targets []schemas.Target
	for i, id := range []string{"evt_1", "evt_2", "evt_3"} {
		_, ts := accept(t, s, "app_1", id, "a", i)
		targets = append(targets, ts[0])
	}
	holder := &store.DeliveryRef{AppID: "app_1", EventID: "evt_1", EndpointID: "ep_o", Lane: targets[0].Lane, Seq: targets[0].Seq}
	drainStart := func(ev string, seq int64) store.AttemptStart {
		return store.AttemptStart{AppID: "app_1", EventID: ev, EndpointID: "ep_o", Key: store.DrainKey(seq), StartedAt: at(5), Holder: holder}
	}
	// Not yet delivering: the holder has not begun its own attempt.
	begun, err := s.BeginAttempts(ctx, []store.AttemptStart{drainStart("evt_2", targets[1].Seq)})
	must(t, err)
	if begun[0].Moved || status(t, s, "app_1", "evt_2", "ep_o") != schemas.DeliveryPending {
		t.Fatalf("begun for a holder not delivering: %+v", begun[0])
	}
	if n, moved, err := s.BeginAttempt(ctx, "app_1", "evt_1", "ep_o", 0, "run/1", at(4)); err != nil || !moved || n != 1 {
		t.Fatalf("holder's own attempt: %d %v %v", n, moved, err)
	}
	begun, err = s.BeginAttempts(ctx, []store.AttemptStart{drainStart("evt_2", targets[1].Seq)})
	must(t, err)
	if !begun[0].Moved || status(t, s, "app_1", "evt_2", "ep_o") != schemas.DeliveryDelivering {
		t.Fatalf("begun for the holder: %+v", begun[0])
	}
	// The holder is queued again (a replay): its old seq holds nothing.
	_, err = s.PrepareReplay(ctx, "app_1", "evt_1", "ep_o", at(6))
	must(t, err)
	_, _, err = s.RecordAttemptsAndBegin(ctx, nil, nil, drainStart("evt_3", targets[2].Seq))
	must(t, err)
	if st := status(t, s, "app_1", "evt_3", "ep_o"); st != schemas.DeliveryPending {
		t.Fatalf("evt_3 is %s after its drain's holder was replayed", st)
	}
	if _, found, err := s.AttemptByKey(ctx, "app_1", "evt_3", "ep_o", store.DrainKey(targets[2].Seq)); err != nil || found {
		t.Fatalf("attempt noted: %v %v", found, err)
	}
}

// An event's attempts to ten endpoints are begun with two statements each
// (the delivery's move and the note, its number taken in the insert) and
// recorded with three each (the delivery read under lock, the attempt, the
// delivery) and a few for the event and the endpoints: the event is
// locked once (on Postgres; a SQLite transaction holds the one write lock
// already), and the successes' failure streaks are read in one query.
// Before, beginning took three each, and recording five each.
func testFanOutStatements(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	const n = 10
	var starts []store.AttemptStart
	for i := range n {
		ep := fmt.Sprintf("ep_%02d", i)
		mkEndpoint(t, s, "app_1", ep, false)
		starts = append(starts, store.AttemptStart{AppID: "app_1", EventID: "evt_1", EndpointID: ep,
			Key: "run/" + ep + "/0", StartedAt: at(1)})
	}
	accept(t, s, "app_1", "evt_1", "a", 0)
	// ep_03 is failing: its success must still end the streak.
	_, err := s.NoteEndpointResult(ctx, "ep_03", false, at(0), time.Hour)
	must(t, err)

	var ran int
	s.OnStatement(func(string) { ran++ })
	begun, err := s.BeginAttempts(ctx, starts)
	must(t, err)
	if ran > 2*n {
		t.Errorf("beginning %d attempts ran %d statements, want at most %d", n, ran, 2*n)
	}
	var recs []store.AttemptRecord
	var results []store.EndpointResult
	end := at(2)
	for i, st := range starts {
		recs = append(recs, store.AttemptRecord{AppID: "app_1", EventID: "evt_1", EndpointID: st.EndpointID,
			StartedAt: at(1), DurationMS: 5, ResponseStatus: 200, Status: schemas.DeliverySucceeded,
			FinishedAt: &end, Key: st.Key, Outcome: schemas.OutcomeSucceeded, Attempt: begun[i].N})
		results = append(results, store.EndpointResult{EndpointID: st.EndpointID, OK: true, At: end})
	}
	ran = 0
	got, err := s.RecordAttempts(ctx, recs, results)
	must(t, err)
	// The streak reset of ep_03, the event's lock and status: 3 + 1.
	if want := 3*n + 4; ran > want {
		t.Errorf("recording %d attempts ran %d statements, want at most %d", n, ran, want)
	}
	s.OnStatement(nil)
	for i, g := range got {
		if !g.Applied || g.Attempt != 1 || g.EventStatus != schemas.EventDelivered {
			t.Fatalf("recorded %d = %+v", i, g)
		}
	}
	disabled, err := s.DisableIfFailing(ctx, "ep_03", at(0).Add(2*time.Hour), time.Hour)
	must(t, err)
	if disabled {
		t.Fatal("ep_03 was disabled: its success did not end its failure streak")
	}
}
