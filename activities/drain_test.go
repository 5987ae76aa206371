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
