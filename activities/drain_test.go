package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// The turn holder of an ordered endpoint delivers the deliveries queued
// behind it, in order, each recorded under its own event; a failure stops
// the drain and is adopted by its own delivery with the retry schedule.
func TestDrainDeliversBacklogInOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		waker := &recordingWaker{}
		e := newEnv(t, open, func(d *activities.Deps) { d.Waker = waker })
		fail := map[string]bool{"evt_4": true}
		rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			if fail[r.Header.Get("webhook-id")] {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		var targets []schemas.Target
		for _, id := range []string{"evt_1", "evt_2", "evt_3", "evt_4", "evt_5"} {
			targets = append(targets, e.event(id, "t", `{}`, time.Now())[0])
		}

		res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
			Seq: targets[0].Seq, Key: "r1/0/0", NextDelay: time.Minute})
		if err != nil || res.Outcome != schemas.OutcomeSucceeded {
			t.Fatalf("holder: %+v %v", res, err)
		}
		var drained []string
		for _, d := range res.Drained {
			drained = append(drained, d.EventID)
		}
		if len(drained) != 3 || drained[0] != "evt_2" || drained[1] != "evt_3" || drained[2] != "evt_4" {
			t.Fatalf("drained %v, want evt_2..evt_4 (stopping at the failure)", drained)
		}
		var order []string
		for _, g := range rcv.got() {
			order = append(order, g.header.Get("webhook-id"))
		}
		if len(order) != 4 || order[0] != "evt_1" || order[3] != "evt_4" {
			t.Fatalf("requests %v", order)
		}
		for _, id := range []string{"evt_2", "evt_3"} {
			if _, d := e.delivery(id, ep.ID); d.Status != schemas.DeliverySucceeded || len(d.Attempts) != 1 {
				t.Fatalf("%s: %+v", id, d)
			}
		}
		if len(waker.refs) != 0 {
			t.Fatalf("passed the turn to %+v: a drain signals nobody", waker.refs)
		}
		// evt_5 waits behind the failed evt_4.
		if turn, _ := e.acts.AcquireTurn(e.ctx, schemas.TurnRequest{AppID: e.app, EventID: "evt_5", EndpointID: ep.ID, Seq: targets[4].Seq}); turn.Go {
			t.Fatal("evt_5 may go before evt_4 ended")
		}

		// evt_4's own workflow adopts the drained failure as its first attempt.
		res, err = e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_4", EndpointID: ep.ID,
			Seq: targets[3].Seq, Key: "r4/0/0", NextDelay: time.Minute})
		if err != nil || res.Outcome != schemas.OutcomeRetry || res.Attempt == nil || res.Attempt.Attempt != 1 ||
			res.RetryIn <= 0 || res.RetryIn > time.Minute {
			t.Fatalf("adopted: %+v %v", res, err)
		}
		if n := len(rcv.got()); n != 4 {
			t.Fatalf("adoption made a request: %d", n)
		}
		// Adopted once: a re-run of that attempt answers the same; the next one POSTs.
		again, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_4", EndpointID: ep.ID,
			Seq: targets[3].Seq, Key: "r4/0/0", NextDelay: time.Minute})
		if err != nil || again.Outcome != schemas.OutcomeRetry || again.Attempt.Attempt != 1 {
			t.Fatalf("re-run: %+v %v", again, err)
		}
		delete(fail, "evt_4")
		res, err = e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_4", EndpointID: ep.ID,
			Seq: targets[3].Seq, Key: "r4/0/1", NextDelay: time.Minute})
		if err != nil || res.Outcome != schemas.OutcomeSucceeded || res.Attempt.Attempt != 2 {
			t.Fatalf("second attempt: %+v %v", res, err)
		}
		if len(res.Drained) != 1 || res.Drained[0].EventID != "evt_5" {
			t.Fatalf("second drain %+v", res.Drained)
		}
	})
}

// A rate-limited endpoint is not drained: its limit holds per delivery.
func TestDrainSkipsRateLimitedEndpoints(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) {
			ep.Ordered, ep.RateLimitPerSecond = true, 100
		})
		first := e.event("evt_1", "t", `{}`, time.Now())[0]
		e.event("evt_2", "t", `{}`, time.Now())
		res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
			Seq: first.Seq, NextDelay: time.Minute})
		if err != nil || res.Outcome != schemas.OutcomeSucceeded || len(res.Drained) != 0 || len(rcv.got()) != 1 {
			t.Fatalf("%+v %v, %d requests", res, err, len(rcv.got()))
		}
	})
}

// A replay that lands while a drain POSTs is not swallowed, neither the
// drained delivery's (its success is recorded but ends nothing) nor the
// holder's (its end is not written over the newer generation): both stay
// pending for their new generations, which deliver again.
func TestReplayDuringDrainIsNotSwallowed(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		var mu sync.Mutex
		replayed := map[string]schemas.Target{}
		var rerr error
		rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if r.Header.Get("webhook-id") == "evt_2" && len(replayed) == 0 { // the drain's POST
				for _, id := range []string{"evt_1", "evt_2"} {
					ts, err := e.store.PrepareReplay(context.Background(), e.app, id, "", time.Now())
					if err != nil || len(ts) != 1 {
						rerr = fmt.Errorf("replay %s: %v %v", id, ts, err)
						break
					}
					replayed[id] = ts[0]
				}
			}
			w.WriteHeader(http.StatusOK)
		})
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		t1 := e.event("evt_1", "t", `{}`, time.Now())[0]
		e.event("evt_2", "t", `{}`, time.Now())

		res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
			Seq: t1.Seq, Gen: t1.Gen, Key: "r1/0/0", NextDelay: time.Minute})
		mu.Lock()
		again := map[string]schemas.Target{"evt_1": replayed["evt_1"], "evt_2": replayed["evt_2"]}
		replayErr := rerr
		mu.Unlock()
		if err != nil || replayErr != nil || len(res.Drained) != 1 {
			t.Fatalf("holder: %+v %v %v", res, err, replayErr)
		}
		if res.Outcome != schemas.OutcomeSuperseded {
			t.Fatalf("holder's outcome %s (%s), want superseded: replayed during its drain", res.Outcome, res.Reason)
		}
		for _, id := range []string{"evt_1", "evt_2"} {
			if _, d := e.delivery(id, ep.ID); d.Status != schemas.DeliveryPending {
				t.Fatalf("%s replayed during the drain ended %s: the replay was swallowed", id, d.Status)
			}
		}
		// The new generations deliver again, in their new order.
		for i, id := range []string{"evt_1", "evt_2"} {
			tg := again[id]
			res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: id, EndpointID: ep.ID,
				Seq: tg.Seq, Gen: tg.Gen, Key: fmt.Sprintf("r2/%d/0", i), NextDelay: time.Minute})
			if err != nil || res.Outcome != schemas.OutcomeSucceeded {
				t.Fatalf("%s again: %+v %v", id, res, err)
			}
		}
		if n := len(rcv.got()); n != 4 {
			t.Fatalf("%d POSTs, want 4 (each event twice)", n)
		}
	})
}

// A lane's holder keeps its lane until its drain ends, whatever comes
// during the drain's POST: a cancel or a disable leaves the holder, whose
// success is on record, to end succeeded, so the delivery being drained is
// not first in line yet; a replay moves the holder to the lane's end, and
// the drained delivery's own workflow, finding the drain's attempt in
// flight, waits rather than taking it for a dead process's. Either way the
// endpoint gets that delivery once. Before, a cancel made the holder
// cancelled and its drained delivery's workflow POSTed it a second time
// while the drain's POST was still under way (the chaos test, seed of
// 2026-12-02).
func TestHolderKeepsItsLaneThroughItsDrain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		during func(e *env, endpointID string) error
		holder schemas.DeliveryStatus // the holder's status at the end
	}{
		{"cancel", func(e *env, _ string) error {
			_, _, err := e.store.CancelDeliveries(e.ctx, e.app, "evt_1", nil, time.Now())
			return err
		}, schemas.DeliverySucceeded},
		{"disable", func(e *env, endpointID string) error {
			return e.store.DisableEndpoint(e.ctx, e.app, endpointID, "test", time.Now())
		}, schemas.DeliverySucceeded},
		{"replay", func(e *env, _ string) error {
			_, err := e.store.PrepareReplay(e.ctx, e.app, "evt_1", "", time.Now())
			return err
		}, schemas.DeliveryPending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, open opener) {
				e := newEnv(t, open)
				var mu sync.Mutex
				posts := map[string]int{}
				var during error
				var own schemas.DeliverResult
				var targets []schemas.Target
				var epID string
				rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
					id := r.Header.Get("webhook-id")
					mu.Lock()
					posts[id]++
					first := id == "evt_2" && posts[id] == 1
					mu.Unlock()
					if first { // the drain's POST of evt_2, under way
						if err := tc.during(e, epID); err != nil {
							during = err
						}
						// evt_2's own workflow, woken now, asks for its turn.
						turn, err := e.acts.AcquireTurn(e.ctx, schemas.TurnRequest{AppID: e.app, EventID: "evt_2",
							EndpointID: epID, Seq: targets[1].Seq})
						if err != nil {
							during = err
						} else if turn.Go {
							own, err = e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_2",
								EndpointID: epID, Seq: targets[1].Seq, Gen: targets[1].Gen, Key: "r2/0/0", NextDelay: time.Minute})
							if err != nil {
								during = err
							}
						}
					}
					w.WriteHeader(http.StatusOK)
				})
				ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
				epID = ep.ID
				for _, id := range []string{"evt_1", "evt_2", "evt_3"} {
					targets = append(targets, e.event(id, "t", `{}`, time.Now())[0])
				}
				_, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
					Seq: targets[0].Seq, Gen: targets[0].Gen, Key: "r1/0/0", NextDelay: time.Minute})
				mu.Lock()
				defer mu.Unlock()
				if err != nil || during != nil {
					t.Fatalf("holder: %v; during the drain: %v", err, during)
				}
				if posts["evt_2"] != 1 {
					t.Fatalf("evt_2 was POSTed %d times, want once (its own workflow's answer: %+v)", posts["evt_2"], own)
				}
				if own.Outcome != "" && own.Outcome != schemas.OutcomeThrottled {
					t.Fatalf("evt_2's own workflow, during the drain's POST: %+v, want to wait", own)
				}
				if _, d := e.delivery("evt_1", ep.ID); d.Status != tc.holder {
					t.Fatalf("holder ended %s, want %s", d.Status, tc.holder)
				}
			})
		})
	}
}

// A drain never has more than its one POST under way unrecorded: when the
// receiver gets a drained delivery, the one before it is on record. With
// several sent and not recorded, a kill -9 left them all in flight, and the
// first was made again after the later ones had arrived: out of order at
// the receiver (seen in TestProductionShape with batched records).
func TestDrainRecordsEachAttemptBeforeTheNext(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ids := []string{"evt_1", "evt_2", "evt_3", "evt_4", "evt_5", "evt_6"}
		var mu sync.Mutex
		var unrecorded []string
		var ep schemas.Endpoint
		rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("webhook-id")
			if i := slices.Index(ids, id); i > 1 { // evt_1, the holder, stays delivering through its drain
				if _, d := e.delivery(ids[i-1], ep.ID); d.Status != schemas.DeliverySucceeded {
					mu.Lock()
					unrecorded = append(unrecorded, ids[i-1]+" "+string(d.Status)+" when "+id+" came")
					mu.Unlock()
				}
			}
			w.WriteHeader(http.StatusOK)
		})
		ep, _ = e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		var targets []schemas.Target
		for _, id := range ids {
			targets = append(targets, e.event(id, "t", `{}`, time.Now())[0])
		}
		res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
			Seq: targets[0].Seq, Key: "r1/0/0", NextDelay: time.Minute})
		if err != nil || res.Outcome != schemas.OutcomeSucceeded || len(res.Drained) != len(ids)-1 {
			t.Fatalf("holder: %+v %v", res, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(unrecorded) > 0 {
			t.Fatalf("POSTed with the previous drained delivery not on record: %v", unrecorded)
		}
		for _, id := range ids[1:] {
			if _, d := e.delivery(id, ep.ID); d.Status != schemas.DeliverySucceeded || len(d.Attempts) != 1 {
				t.Fatalf("%s: %+v", id, d)
			}
		}
	})
}

// A drain that has caught up with its lane keeps it a moment for the next
// event accepted: a burst whose accepts only just keep up with the drain
// otherwise stood still at every catch-up while the next event's own
// workflow started. A lane with nothing queued behind its head is not
// drained at all, and does not wait.
func TestDrainWaitsForTheNextEventAccepted(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		deliver := func(id string, target schemas.Target) schemas.DeliverResult {
			t.Helper()
			return e.succeed(id, ep.ID, target)
		}
		start := time.Now()
		if res := deliver("evt_0", e.event("evt_0", "t", `{}`, time.Now())[0]); len(res.Drained) != 0 {
			t.Fatalf("evt_0 alone drained %d", len(res.Drained))
		}
		if in := time.Since(start); in > 400*time.Millisecond {
			t.Errorf("a head with nothing behind it took %v", in)
		}
		t1 := e.event("evt_1", "t", `{}`, time.Now())[0]
		e.event("evt_2", "t", `{}`, time.Now())
		accepted := make(chan struct{})
		go func() {
			defer close(accepted)
			deadline := time.Now().Add(10 * time.Second)
			for len(rcv.got()) < 3 { // evt_0, evt_1, and evt_2 drained
				if time.Now().After(deadline) {
					t.Error("evt_2 never arrived")
					return
				}
				time.Sleep(time.Millisecond)
			}
			e.event("evt_3", "t", `{}`, time.Now())
		}()
		res := deliver("evt_1", t1)
		<-accepted
		var drained []string
		for _, d := range res.Drained {
			drained = append(drained, d.EventID)
		}
		if !slices.Equal(drained, []string{"evt_2", "evt_3"}) {
			t.Fatalf("drained %v, want evt_2 and evt_3 (accepted after the drain caught up)", drained)
		}
		var ids []string
		for _, r := range rcv.got() {
			ids = append(ids, r.header.Get("webhook-id"))
		}
		if !slices.Equal(ids, []string{"evt_0", "evt_1", "evt_2", "evt_3"}) {
			t.Fatalf("arrived %v", ids)
		}
	})
}

// A long drain's result, kept in its holder's history, stays small whatever
// the receiver answers: the answers' bodies are listed for its first 64 KiB
// of them, and the rest only in the store, where the API reads them.
func TestDrainListsBodiesUpToItsBudget(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		body := strings.Repeat("b", schemas.MaxResponseBody)
		rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		const n = 100
		first := e.events(n)
		res := e.succeed("evt_000", ep.ID, first)
		if len(res.Drained) != n-1 {
			t.Fatalf("drained %d, want %d", len(res.Drained), n-1)
		}
		listed := 0
		for _, d := range res.Drained {
			if d.Attempt.ResponseBody != "" {
				listed++
			}
		}
		if listed != 64 || res.Drained[63].Attempt.ResponseBody == "" {
			t.Fatalf("%d bodies listed, want the first 64", listed)
		}
		if size, _ := json.Marshal(res); len(size) > 64<<10+n*200 {
			t.Fatalf("result of %d bytes", len(size))
		}
		last := res.Drained[n-2]
		if _, d := e.delivery(last.EventID, ep.ID); len(d.Attempts) != 1 || d.Attempts[0].ResponseBody != body {
			t.Fatalf("%s: the store lost the body: %+v", last.EventID, d.Attempts)
		}
	})
}

// readCounter counts the reads that load deliveries with their events and
// endpoints.
type readCounter struct {
	activities.Store
	reads atomic.Int64
}

func (c *readCounter) LoadDelivery(ctx context.Context, appID, eventID, endpointID string) (store.DeliveryJob, error) {
	c.reads.Add(1)
	return c.Store.LoadDelivery(ctx, appID, eventID, endpointID)
}

func (c *readCounter) LoadDeliveries(ctx context.Context, appID, eventID string) (map[string]store.DeliveryJob, error) {
	c.reads.Add(1)
	return c.Store.LoadDeliveries(ctx, appID, eventID)
}

func (c *readCounter) QueuedBehind(ctx context.Context, appID, endpointID, lane string, seq int64, limit int) (store.LaneBatch, error) {
	c.reads.Add(1)
	return c.Store.QueuedBehind(ctx, appID, endpointID, lane, seq, limit)
}

// A drain reads the deliveries it makes in batches, the endpoint once per
// batch: its reads are on the lane's critical path, between one POST and
// the next, and reading each delivery with its endpoint (three queries)
// cost a burst's drain about a tenth of its rate (docs/performance.md).
func TestDrainReadsInBatches(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		var c *readCounter
		e := newEnv(t, open, func(d *activities.Deps) { c = &readCounter{Store: d.Store}; d.Store = c })
		rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		const n = 65
		first := e.events(n)
		c.reads.Store(0)
		res := e.succeed("evt_000", ep.ID, first)
		if len(res.Drained) != n-1 {
			t.Fatalf("drained %d, want %d", len(res.Drained), n-1)
		}
		// The holder's own load, then a batch per 16 deliveries and the
		// empty one that ends the drain.
		if got := c.reads.Load(); got > 1+(n-1)/16+1 {
			t.Fatalf("%d reads for %d drained deliveries", got, n-1)
		}
	})
}

// events accepts n events evt_000, evt_001, … and returns the first one's
// target.
func (e *env) events(n int) schemas.Target {
	e.t.Helper()
	var first schemas.Target
	for i := range n {
		tg := e.event(fmt.Sprintf("evt_%03d", i), "t", `{}`, time.Now())
		if i == 0 {
			first = tg[0]
		}
	}
	return first
}

// A drain past its heirFrom deliveries hands its lane to an heir whose
// workflow waits for its turn in the process, by a channel: the lane goes
// on without waiting for a new workflow's start, in order, each delivery
// POSTed once and no turn signalled. The heir drains on, and its own heir,
// whose workflow never came, is made final by the drain that chose it.
func TestDrainHandsItsLaneToAWaitingHeir(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		h := startHeir(t, open, true)
		if h.holder.Outcome != schemas.OutcomeSucceeded || !h.holder.TurnPassed {
			t.Fatalf("holder: %+v", h.holder)
		}
		if got := drainedIDs(h.holder); !slices.Equal(got, h.ids[1:7]) {
			t.Fatalf("the holder drained %v, want %v (up to its heir's wait)", got, h.ids[1:7])
		}
		res := h.result(t)
		if res.Outcome != schemas.OutcomeSucceeded || res.Attempt == nil || res.Attempt.Attempt != 1 {
			t.Fatalf("heir: %+v", res)
		}
		if got := drainedIDs(res); !slices.Equal(got, h.ids[7:]) {
			t.Fatalf("the heir drained %v, want %v", got, h.ids[7:])
		}
		var arrived []string
		for _, r := range h.rcv.got() {
			arrived = append(arrived, r.header.Get("webhook-id"))
		}
		if !slices.Equal(arrived, h.ids) {
			t.Fatalf("arrived %v, want each once in order", arrived)
		}
		for _, id := range h.ids {
			if _, d := h.e.delivery(id, h.ep.ID); d.Status != schemas.DeliverySucceeded || len(d.Attempts) != 1 {
				t.Fatalf("%s: %s with %d attempts", id, d.Status, len(d.Attempts))
			}
		}
		if len(h.waker.refs) != 0 {
			t.Fatalf("signalled %+v: the heir waited in the process", h.waker.refs)
		}
		// The heir's own drain (evt_007 on) chose evt_010 and, with no
		// workflow waiting for it, made it final itself.
		for _, want := range []string{`herald_lane_heirs_total{how="handed"} 1`, `herald_lane_heirs_total{how="finished"} 1`} {
			if !h.e.metric(want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

// An heir's success stands when its endpoint is disabled before its
// workflow adopts it, as a holder's does: the POST was made and answered.
func TestHeirsSuccessOutlivesADisable(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		h := startHeir(t, open, false)
		if err := h.e.store.DisableEndpoint(h.e.ctx, h.e.app, h.ep.ID, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := h.e.acts.PassTurn(h.e.ctx, schemas.PassTurnRequest{EndpointID: h.ep.ID, Ended: h.targets[0].Seq}); err != nil {
			t.Fatal(err)
		}
		if res := h.result(t); res.Outcome != schemas.OutcomeSucceeded {
			t.Fatalf("heir: %+v", res)
		}
		if _, d := h.e.delivery("evt_004", h.ep.ID); d.Status != schemas.DeliverySucceeded || len(d.Attempts) != 1 {
			t.Fatalf("the heir: %s with %d attempts", d.Status, len(d.Attempts))
		}
		if _, d := h.e.delivery("evt_007", h.ep.ID); d.Status != schemas.DeliveryCancelled || len(d.Attempts) != 0 {
			t.Fatalf("behind the heir: %s with %d attempts", d.Status, len(d.Attempts))
		}
	})
}

// heirRun is a lane of twelve events whose holder, evt_000, has drained up
// to evt_006 and handed the lane to its heir evt_004, whose Deliver waits.
type heirRun struct {
	e       *env
	ep      schemas.Endpoint
	waker   *recordingWaker
	rcv     *receiver
	ids     []string
	targets []schemas.Target
	holder  schemas.DeliverResult
	heir    chan heirResult
}

type heirResult struct {
	res schemas.DeliverResult
	err error
}

// startHeir runs evt_000's Deliver, passing the turn when it ends if pass
// says so. Drains choose their heir after 3 deliveries and make at most 10;
// evt_004's workflow comes to wait for its turn when evt_006 is POSTed.
func startHeir(t *testing.T, open opener, pass bool) *heirRun {
	h := &heirRun{waker: &recordingWaker{}, heir: make(chan heirResult, 1)}
	h.e = newEnv(t, open, func(d *activities.Deps) { d.Waker = h.waker })
	h.e.acts.SetDrainLimits(10, 3)
	h.rcv = newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("webhook-id") == "evt_006" {
			go func() {
				res, err := h.e.acts.Deliver(h.e.ctx, schemas.DeliverRequest{AppID: h.e.app, EventID: "evt_004", EndpointID: h.ep.ID,
					Seq: h.targets[4].Seq, Gen: h.targets[4].Gen, Key: "run/evt_004/0", NextDelay: time.Minute,
					AwaitTurn: 10 * time.Second, PassTurn: true})
				h.heir <- heirResult{res, err}
			}()
			deadline := time.Now().Add(5 * time.Second)
			for h.e.acts.Waiting() == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	h.ep, _ = h.e.endpoint(h.rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
	for i := range 12 {
		id := fmt.Sprintf("evt_%03d", i)
		h.targets = append(h.targets, h.e.event(id, "t", `{}`, time.Now())[0])
		h.ids = append(h.ids, id)
	}
	var err error
	h.holder, err = h.e.acts.Deliver(h.e.ctx, schemas.DeliverRequest{AppID: h.e.app, EventID: "evt_000", EndpointID: h.ep.ID,
		Seq: h.targets[0].Seq, Gen: h.targets[0].Gen, Key: "run/evt_000/0", NextDelay: time.Minute, PassTurn: pass})
	if err != nil {
		t.Fatalf("holder: %v", err)
	}
	return h
}

// result is the heir's Deliver's result.
func (h *heirRun) result(t *testing.T) schemas.DeliverResult {
	t.Helper()
	select {
	case r := <-h.heir:
		if r.err != nil {
			t.Fatalf("heir: %v", r.err)
		}
		return r.res
	case <-time.After(10 * time.Second):
		t.Fatal("the heir never got its turn")
		return schemas.DeliverResult{}
	}
}

func drainedIDs(res schemas.DeliverResult) []string {
	var ids []string
	for _, d := range res.Drained {
		ids = append(ids, d.EventID)
	}
	return ids
}

// A cancel that reaches an heir while it waits for the lane it was handed
// leaves its delivery alone, as it leaves a holder's whose drain is under
// way (store.CancelDeliveries): the heir's POST was answered 2xx, so its
// delivery is not one "not yet succeeded". The heir takes the lane and
// drains on, every event arriving once, in order.
func TestCancelReachingAWaitingHeirLeavesItsSuccess(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		h := startHeir(t, open, false)
		if _, _, err := h.e.store.CancelDeliveries(h.e.ctx, h.e.app, "evt_004", nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := h.e.acts.PassTurn(h.e.ctx, schemas.PassTurnRequest{EndpointID: h.ep.ID, Ended: h.targets[0].Seq}); err != nil {
			t.Fatal(err)
		}
		res := h.result(t)
		if res.Outcome != schemas.OutcomeSucceeded || res.EventStatus != schemas.EventDelivered {
			t.Fatalf("heir: %+v", res)
		}
		if got := drainedIDs(res); !slices.Equal(got, h.ids[7:]) {
			t.Fatalf("the heir drained %v, want %v", got, h.ids[7:])
		}
		var arrived []string
		for _, r := range h.rcv.got() {
			arrived = append(arrived, r.header.Get("webhook-id"))
		}
		if !slices.Equal(arrived, h.ids) {
			t.Fatalf("arrived %v, want each once in order", arrived)
		}
		if _, d := h.e.delivery("evt_004", h.ep.ID); d.Status != schemas.DeliverySucceeded || len(d.Attempts) != 1 {
			t.Fatalf("the heir: %s with %d attempts", d.Status, len(d.Attempts))
		}
	})
}

// A replay that reaches an heir while it waits queues its delivery again at
// the lane's end, as any replay does: the heir's call ends superseded,
// drains nothing, and the lane goes on to the next delivery queued behind
// the holder's drain, without a POST made twice.
func TestReplayReachingAWaitingHeirPassesTheLaneOn(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		h := startHeir(t, open, false)
		ts, err := h.e.store.PrepareReplay(h.e.ctx, h.e.app, "evt_004", "", time.Now())
		if err != nil || len(ts) != 1 {
			t.Fatalf("replay: %+v %v", ts, err)
		}
		if err := h.e.acts.PassTurn(h.e.ctx, schemas.PassTurnRequest{EndpointID: h.ep.ID, Ended: h.targets[0].Seq}); err != nil {
			t.Fatal(err)
		}
		res := h.result(t)
		if res.Turn == nil || !res.Turn.Superseded || len(res.Drained) != 0 || res.Attempt != nil {
			t.Fatalf("heir: %+v, turn %+v; want superseded, nothing drained", res, res.Turn)
		}
		h.waker.mu.Lock()
		refs := append([]store.DeliveryRef(nil), h.waker.refs...)
		h.waker.mu.Unlock()
		if len(refs) != 1 || refs[0].EventID != "evt_007" {
			t.Fatalf("turns passed %+v, want one, to evt_007", refs)
		}
		if _, d := h.e.delivery("evt_004", h.ep.ID); d.Status != schemas.DeliveryPending || len(d.Attempts) != 1 {
			t.Fatalf("the replayed heir: %s with %d attempts, want pending again", d.Status, len(d.Attempts))
		}
		var arrived []string
		for _, r := range h.rcv.got() {
			arrived = append(arrived, r.header.Get("webhook-id"))
		}
		if !slices.Equal(arrived, h.ids[:7]) {
			t.Fatalf("arrived %v, want %v once each", arrived, h.ids[:7])
		}
	})
}
