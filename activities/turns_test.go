package activities_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

type recordingWaker struct {
	mu   sync.Mutex
	refs []store.DeliveryRef // turns passed
}

func (w *recordingWaker) Turn(_ context.Context, ref store.DeliveryRef) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refs = append(w.refs, ref)
	return nil
}

func TestOrderedTurns(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		waker := &recordingWaker{}
		e.acts = activities.New(activities.Deps{Store: e.store, Waker: waker,
			Config: activities.Config{AllowPrivateNetworks: true}})
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		t1 := e.event("evt_1", "t", `{}`, time.Now())[0]
		t2 := e.event("evt_2", "t", `{}`, time.Now())[0]
		if !t1.Ordered || t1.Seq >= t2.Seq {
			t.Fatalf("targets %+v %+v", t1, t2)
		}
		turn := func(eventID string, seq int64) schemas.TurnResult {
			t.Helper()
			r, err := e.acts.AcquireTurn(e.ctx, schemas.TurnRequest{AppID: e.app, EventID: eventID, EndpointID: ep.ID, Seq: seq})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := turn("evt_2", t2.Seq); r.Go || r.DeliveryStatus != schemas.DeliveryPending {
			t.Fatalf("second went before the first: %+v", r)
		}
		if r := turn("evt_1", t1.Seq); !r.Go {
			t.Fatalf("first may not go: %+v", r)
		}
		if err := e.acts.PassTurn(e.ctx, schemas.PassTurnRequest{EndpointID: ep.ID}); err != nil {
			t.Fatal(err)
		}
		e.deliver("evt_1", ep.ID, time.Minute)
		if r := turn("evt_2", t2.Seq); !r.Go {
			t.Fatalf("second may not go after the first succeeded: %+v", r)
		}
		if err := e.acts.PassTurn(e.ctx, schemas.PassTurnRequest{EndpointID: ep.ID}); err != nil {
			t.Fatal(err)
		}
		if len(waker.refs) != 2 || waker.refs[0].EventID != "evt_1" || waker.refs[1].EventID != "evt_2" || waker.refs[1].Seq != t2.Seq {
			t.Fatalf("woken %+v", waker.refs)
		}

		// Cancelled meanwhile: it must not go.
		if _, err := e.acts.CancelDeliveries(e.ctx, schemas.CancelRequest{AppID: e.app, EventID: "evt_2", EndpointIDs: []string{ep.ID}}); err != nil {
			t.Fatal(err)
		}
		if r := turn("evt_2", t2.Seq); r.Go || r.DeliveryStatus != schemas.DeliveryCancelled {
			t.Fatalf("cancelled delivery: %+v", r)
		}
		// No head left: nobody is woken.
		if err := e.acts.PassTurn(e.ctx, schemas.PassTurnRequest{EndpointID: ep.ID}); err != nil || len(waker.refs) != 2 {
			t.Fatalf("pass with no head: %v, %d wakes", err, len(waker.refs))
		}

		// Replay gives the delivery a fresh seq behind everything else.
		targets, err := e.acts.PrepareReplay(e.ctx, schemas.PrepareReplayRequest{AppID: e.app, EventID: "evt_1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(targets) != 1 || targets[0].EndpointID != ep.ID || targets[0].Seq <= t2.Seq {
			t.Fatalf("replay targets %+v", targets)
		}
		if _, d := e.delivery("evt_1", ep.ID); d.Status != schemas.DeliveryPending {
			t.Fatalf("replayed delivery %s", d.Status)
		}
		if res := e.deliver("evt_1", ep.ID, time.Minute); res.Outcome != schemas.OutcomeSucceeded || res.Attempt.Attempt != 2 {
			t.Fatalf("replayed delivery %+v", res)
		}
		if n := len(rcv.got()); n != 2 {
			t.Fatalf("%d requests", n)
		}
	})
}

// clockedTurns is an env whose activities pass turns to a recording waker,
// on a clock the test sets, with a 5 s delivery timeout.
func clockedTurns(t *testing.T, open opener) (*env, *recordingWaker, func(time.Time)) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setClock := func(t time.Time) { mu.Lock(); defer mu.Unlock(); now = t }
	e := newEnv(t, open, withClock(clock))
	waker := &recordingWaker{}
	e.acts = activities.New(activities.Deps{Store: e.store, Waker: waker, Now: clock,
		Config: activities.Config{AllowPrivateNetworks: true, DeliveryTimeout: 5 * time.Second}})
	return e, waker, setClock
}

// PassTurn leaves a lane's head in its retry wait alone (its own timer
// wakes it) until the retry is overdue: a signal for every delivery behind
// it that ends would only keep its workflow busy (and, while it completes,
// from closing). Any other head is woken: one delivering may be a dead
// drain's attempt, which only its own workflow takes over.
func TestPassTurnLeavesAHeadInItsRetryWait(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e, waker, setClock := clockedTurns(t, open)
		rcv := newReceiver(t, status(http.StatusInternalServerError))
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		t1 := e.event("evt_1", "t", `{}`, time.Now())[0]
		t2 := e.event("evt_2", "t", `{}`, time.Now())[0]
		pass := func(want int, why string) {
			t.Helper()
			if err := e.acts.PassTurn(e.ctx, schemas.PassTurnRequest{EndpointID: ep.ID}); err != nil {
				t.Fatal(err)
			}
			waker.mu.Lock()
			defer waker.mu.Unlock()
			if len(waker.refs) != want {
				t.Fatalf("%s: %d wakes, want %d", why, len(waker.refs), want)
			}
		}
		pass(1, "a head that has not had its turn")
		res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
			Seq: t1.Seq, Gen: t1.Gen, Key: "run/0/0", NextDelay: time.Minute})
		if err != nil || res.Outcome != schemas.OutcomeRetry {
			t.Fatalf("deliver: %+v %v", res, err)
		}
		pass(1, "a head in its retry wait")
		setClock(time.Now().Add(time.Minute + 21*time.Second))
		pass(2, "a head whose retry is overdue")

		// evt_1 ends; evt_2 is left delivering by a drain whose process died
		// during its POST.
		setClock(time.Now())
		if _, _, err := e.store.FinishDelivery(e.ctx, e.app, "evt_1", ep.ID, t1.Gen, schemas.DeliveryFailed, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, moved, err := e.store.BeginAttempt(e.ctx, e.app, "evt_2", ep.ID, t2.Gen, store.DrainKey(t2.Seq), time.Now()); err != nil || !moved {
			t.Fatalf("begin attempt: %v %v", moved, err)
		}
		pass(3, "a head left delivering by a dead drain")
		waker.mu.Lock()
		defer waker.mu.Unlock()
		if waker.refs[2].EventID != "evt_2" {
			t.Fatalf("woke %+v, want evt_2", waker.refs[2])
		}
	})
}

// A delivery that ends behind its lane's head (cancelled, its endpoint
// disabled, replayed) leaves the head alone: the head did not change, and
// its workflow is on its way. It is signalled only once it looks
// abandoned. A nudge (no Ended) still wakes a delivering head.
func TestPassTurnLeavesAnUnchangedHead(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e, waker, setClock := clockedTurns(t, open)
		ep, _ := e.endpoint("http://127.0.0.1:1/", func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		t1 := e.event("evt_1", "t", `{}`, time.Now())[0]
		var behind []schemas.Target
		for i := range 5 {
			behind = append(behind, e.event(fmt.Sprintf("evt_%d", i+2), "t", `{}`, time.Now())[0])
		}
		if _, moved, err := e.store.BeginAttempt(e.ctx, e.app, "evt_1", ep.ID, t1.Gen, "run/0/0", time.Now()); err != nil || !moved {
			t.Fatalf("begin attempt: %v %v", moved, err)
		}
		wakes := func(want int, why string) {
			t.Helper()
			waker.mu.Lock()
			defer waker.mu.Unlock()
			if len(waker.refs) != want {
				t.Fatalf("%s: %d wakes, want %d (%+v)", why, len(waker.refs), want, waker.refs)
			}
		}
		for i, b := range behind {
			if _, err := e.store.SetDeliveryStatus(e.ctx, e.app, fmt.Sprintf("evt_%d", i+2), []string{ep.ID},
				schemas.DeliveryCancelled, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := e.acts.PassTurn(e.ctx, schemas.PassTurnRequest{EndpointID: ep.ID, Ended: b.Seq}); err != nil {
				t.Fatal(err)
			}
		}
		wakes(0, "deliveries behind a delivering head ended")
		if err := e.acts.PassTurn(e.ctx, schemas.PassTurnRequest{EndpointID: ep.ID}); err != nil {
			t.Fatal(err)
		}
		wakes(1, "a nudge")
		setClock(time.Now().Add(time.Minute))
		if err := e.acts.PassTurn(e.ctx, schemas.PassTurnRequest{EndpointID: ep.ID, Ended: behind[0].Seq}); err != nil {
			t.Fatal(err)
		}
		wakes(2, "a head delivering for longer than an attempt can take")
	})
}

// A delivery whose lane is moving waits in AcquireTurn (req.Wait) and is
// woken in the process, without a turn signal: by the drain that delivers
// it, or by the PassTurn that makes it the head. A head in its retry wait
// is not waited for.
func TestTurnWaitedForInTheProcess(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		waker := &recordingWaker{}
		e := newEnv(t, open, func(d *activities.Deps) { d.Waker = waker })
		fail := false
		var mu sync.Mutex
		rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				w.WriteHeader(http.StatusInternalServerError)
			}
		})
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		ids := []string{"evt_1", "evt_2", "evt_3", "evt_4"}
		targets := make([]schemas.Target, len(ids))
		add := func(i int) { targets[i] = e.event(ids[i], "t", `{}`, time.Now())[0] }
		add(0)
		add(1)
		const wait = 20 * time.Second // far longer than any answer below may take
		type answer struct {
			res schemas.TurnResult
			err error
			in  time.Duration
		}
		await := func(i int) <-chan answer {
			ch := make(chan answer, 1)
			go func() {
				ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
				defer cancel()
				start := time.Now()
				res, err := e.acts.AcquireTurn(ctx, schemas.TurnRequest{AppID: e.app, EventID: ids[i],
					EndpointID: ep.ID, Seq: targets[i].Seq, Wait: wait})
				ch <- answer{res, err, time.Since(start)}
			}()
			deadline := time.Now().Add(10 * time.Second)
			for e.acts.Waiting() == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%s does not wait", ids[i])
				}
				time.Sleep(time.Millisecond)
			}
			return ch
		}
		got := func(ch <-chan answer) answer {
			t.Helper()
			a := <-ch
			if a.err != nil {
				t.Fatal(a.err)
			}
			if a.in >= wait/2 {
				t.Fatalf("answered after %v: it was not woken", a.in)
			}
			return a
		}

		// evt_1's success drains evt_2: its waiter learns it at once.
		ch := await(1)
		if res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
			Seq: targets[0].Seq, Key: "r1/0/0", NextDelay: time.Minute}); err != nil || len(res.Drained) != 1 {
			t.Fatalf("holder: %+v %v", res, err)
		}
		if a := got(ch); a.res.Go || a.res.DeliveryStatus != schemas.DeliverySucceeded {
			t.Fatalf("drained delivery: %+v", a.res)
		}

		// evt_3 is the head; evt_4 waits behind it. evt_3 is cancelled, and
		// the PassTurn that follows wakes evt_4's waiter instead of
		// signalling its workflow.
		add(2)
		add(3)
		ch = await(3)
		if _, err := e.acts.CancelDeliveries(e.ctx, schemas.CancelRequest{AppID: e.app, EventID: "evt_3", EndpointIDs: []string{ep.ID}}); err != nil {
			t.Fatal(err)
		}
		if err := e.acts.PassTurn(e.ctx, schemas.PassTurnRequest{EndpointID: ep.ID}); err != nil {
			t.Fatal(err)
		}
		if a := got(ch); !a.res.Go {
			t.Fatalf("new head: %+v", a.res)
		}
		waker.mu.Lock()
		if len(waker.refs) != 0 {
			t.Errorf("turn signals sent to a waiter in the process: %+v", waker.refs)
		}
		waker.mu.Unlock()

		// A head in its retry wait may keep its lane for a day: the one
		// behind it answers at once.
		mu.Lock()
		fail = true
		mu.Unlock()
		if res, _ := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_4", EndpointID: ep.ID,
			Seq: targets[3].Seq, Key: "r4/0/0", NextDelay: time.Hour}); res.Outcome != schemas.OutcomeRetry {
			t.Fatalf("head: %+v", res)
		}
		t5 := e.event("evt_5", "t", `{}`, time.Now())[0]
		start := time.Now()
		res, err := e.acts.AcquireTurn(e.ctx, schemas.TurnRequest{AppID: e.app, EventID: "evt_5", EndpointID: ep.ID, Seq: t5.Seq, Wait: wait})
		if err != nil || res.Go || time.Since(start) > wait/2 {
			t.Fatalf("behind a head in its retry wait: %+v %v after %v", res, err, time.Since(start))
		}
	})
}

// A Deliver call may ask for its turn first and pass it at the end
// (DeliverRequest.AwaitTurn, PassTurn): the one call an ordered delivery
// with a free lane makes. One whose lane is not free makes no attempt and
// says why, after a wait that leaves the activity room for the attempt.
func TestDeliverTakesAndPassesTheTurn(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		waker := &recordingWaker{}
		e := newEnv(t, open, func(d *activities.Deps) { d.Waker = waker })
		var mu sync.Mutex
		code := http.StatusInternalServerError
		rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			w.WriteHeader(code)
		})
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		t1 := e.event("evt_1", "t", `{}`, time.Now())[0]
		t2 := e.event("evt_2", "t", `{}`, time.Now())[0]
		deliver := func(ctx context.Context, eventID string, target schemas.Target, key string, next time.Duration) schemas.DeliverResult {
			t.Helper()
			res, err := e.acts.Deliver(ctx, schemas.DeliverRequest{AppID: e.app, EventID: eventID, EndpointID: ep.ID,
				Seq: target.Seq, Lane: target.Lane, Gen: target.Gen, Key: key, NextDelay: next,
				AwaitTurn: 20 * time.Second, PassTurn: true})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}

		// evt_2 is behind evt_1, which is about to go: it waits, but only as
		// long as leaves the whole attempt room within the activity.
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second+2*3*time.Second+time.Second)
		start := time.Now()
		res := deliver(ctx, "evt_2", t2, "r2/0/0", time.Minute)
		cancel()
		if res.Turn == nil || res.Turn.Go || !res.Turn.Next || res.Attempt != nil || res.TurnPassed {
			t.Fatalf("evt_2 before its turn: %+v (turn %+v)", res, res.Turn)
		}
		if in := time.Since(start); in > 4*time.Second {
			t.Fatalf("waited %v: the attempt would not fit in the activity", in)
		}
		if n := len(rcv.got()); n != 0 {
			t.Fatalf("%d requests before any turn", n)
		}

		// evt_1 goes; its failed last attempt ends it, and the call passes
		// the turn to evt_2.
		res = deliver(e.ctx, "evt_1", t1, "r1/0/0", 0)
		if res.Turn != nil || res.Outcome != schemas.OutcomeFailed || !res.TurnPassed {
			t.Fatalf("evt_1: %+v", res)
		}
		waker.mu.Lock()
		woken := append([]store.DeliveryRef(nil), waker.refs...)
		waker.mu.Unlock()
		if len(woken) != 1 || woken[0].EventID != "evt_2" {
			t.Fatalf("woken %+v", woken)
		}

		// A retry does not end the delivery: no turn passes.
		res = deliver(e.ctx, "evt_2", t2, "r2/0/1", time.Minute)
		if res.Turn != nil || res.Outcome != schemas.OutcomeRetry || res.TurnPassed {
			t.Fatalf("evt_2 failing: %+v", res)
		}
		mu.Lock()
		code = http.StatusOK
		mu.Unlock()
		res = deliver(e.ctx, "evt_2", t2, "r2/0/2", time.Minute)
		if res.Outcome != schemas.OutcomeSucceeded || !res.TurnPassed {
			t.Fatalf("evt_2: %+v", res)
		}
		if n := len(rcv.got()); n != 3 {
			t.Fatalf("%d requests, want 3", n)
		}
	})
}
