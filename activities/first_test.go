package activities_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// DeliverFirst makes each request's attempt as Deliver would, at the same
// time, each recorded under its own delivery and key; called again with
// the same keys (its workflow task ran again) it POSTs nothing and answers
// what was recorded.
func TestDeliverFirstMakesEachAttempt(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		// The two receivers answer only once both requests are in: the
		// attempts are under way together, not one after the other.
		var both sync.WaitGroup
		both.Add(2)
		var once [2]sync.Once
		together := func(i, code int) http.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request) {
				once[i].Do(both.Done)
				done := make(chan struct{})
				go func() { both.Wait(); close(done) }()
				select {
				case <-done:
					w.WriteHeader(code)
				case <-time.After(4 * time.Second):
					w.WriteHeader(http.StatusTeapot) // alone: the attempts were serial
				}
			}
		}
		okRcv, failRcv, offRcv := newReceiver(t, together(0, 200)), newReceiver(t, together(1, 500)), newReceiver(t, nil)
		okEp, _ := e.endpoint(okRcv.URL, nil)
		failEp, _ := e.endpoint(failRcv.URL, nil)
		offEp, _ := e.endpoint(offRcv.URL, nil)
		e.event("evt_1", "order.created", `{"n":1}`, time.Now())
		if err := e.store.DisableEndpoint(e.ctx, e.app, offEp.ID, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
		req := schemas.DeliverFirstRequest{}
		for i, ep := range []string{okEp.ID, failEp.ID, offEp.ID, "ep_gone"} {
			req.Requests = append(req.Requests, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep,
				Key: "run/" + string(rune('0'+i)) + "/0", NextDelay: 5 * time.Second})
		}
		res, err := e.acts.DeliverFirst(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Results) != 4 {
			t.Fatalf("%d results", len(res.Results))
		}
		want := []schemas.Outcome{schemas.OutcomeSucceeded, schemas.OutcomeRetry, schemas.OutcomeCancelled, schemas.OutcomeCancelled}
		for i, it := range res.Results {
			if it.Error != "" || it.Result.Outcome != want[i] || it.Result.EndpointID != req.Requests[i].EndpointID {
				t.Errorf("result %d = %+v, want outcome %s", i, it, want[i])
			}
		}
		if a := res.Results[0].Result.Attempt; a == nil || a.ResponseStatus != 200 {
			t.Errorf("first attempt %+v", a)
		}
		if a := res.Results[1].Result.Attempt; a == nil || a.ResponseStatus != 500 || res.Results[1].Result.RetryIn != 5*time.Second {
			t.Errorf("second attempt %+v", res.Results[1].Result)
		}
		for i, ep := range []string{okEp.ID, failEp.ID} {
			_, d := e.delivery("evt_1", ep)
			if len(d.Attempts) != 1 {
				t.Fatalf("delivery to %s has %d attempts", ep, len(d.Attempts))
			}
			got, found, err := e.store.AttemptByKey(e.ctx, e.app, "evt_1", ep, req.Requests[i].Key)
			if err != nil || !found || got.Outcome != want[i] {
				t.Errorf("attempt under key %s: %+v found=%v err=%v", req.Requests[i].Key, got, found, err)
			}
		}
		if _, d := e.delivery("evt_1", failEp.ID); d.Status != schemas.DeliveryPending {
			t.Errorf("failed delivery is %s, want pending (its retry is the workflow's)", d.Status)
		}
		if len(offRcv.got()) != 0 {
			t.Errorf("the disabled endpoint got %d requests", len(offRcv.got()))
		}

		again, err := e.acts.DeliverFirst(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(okRcv.got()) != 1 || len(failRcv.got()) != 1 {
			t.Fatalf("called again, the receivers got %d and %d requests, want 1 each", len(okRcv.got()), len(failRcv.got()))
		}
		for i, it := range again.Results[:2] {
			if it.Result.Outcome != want[i] || it.Result.Attempt == nil || it.Result.Attempt.Attempt != 1 {
				t.Errorf("called again, result %d = %+v", i, it.Result)
			}
		}
	})
}

// writeCounter is the real store, counting the write transactions of
// attempts: per delivery (Deliver's) and per event (DeliverFirst's).
type writeCounter struct {
	*store.Store
	begin, begins, records, finish atomic.Int32
}

func (s *writeCounter) BeginAttempt(ctx context.Context, appID, eventID, endpointID string, gen int64, key string,
	startedAt time.Time) (int, bool, error) {
	s.begin.Add(1)
	return s.Store.BeginAttempt(ctx, appID, eventID, endpointID, gen, key, startedAt)
}

func (s *writeCounter) FinishDelivery(ctx context.Context, appID, eventID, endpointID string, gen int64,
	status schemas.DeliveryStatus, now time.Time) (schemas.EventStatus, bool, error) {
	s.finish.Add(1)
	return s.Store.FinishDelivery(ctx, appID, eventID, endpointID, gen, status, now)
}

func (s *writeCounter) BeginAttempts(ctx context.Context, starts []store.AttemptStart) ([]store.Begun, error) {
	s.begins.Add(1)
	return s.Store.BeginAttempts(ctx, starts)
}

func (s *writeCounter) RecordAttempts(ctx context.Context, recs []store.AttemptRecord,
	results []store.EndpointResult) ([]store.Recorded, error) {
	s.records.Add(1)
	return s.Store.RecordAttempts(ctx, recs, results)
}

// DeliverFirst notes the fresh deliveries' attempts in one transaction and
// records them in one, with what Deliver would do after each: a 410
// disables its endpoint, a failure that ends a long streak disables its
// endpoint and cancels the retry. A delivery with a rate limit goes
// through Deliver, as before.
func TestDeliverFirstWritesOncePerEvent(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		var w *writeCounter
		e := newEnv(t, open, func(d *activities.Deps) {
			w = &writeCounter{Store: d.Store.(*store.Store)}
			d.Store = w
		})
		codes := []int{200, 500, 410, 200}
		var eps []string
		var rcvs []*receiver
		for i, code := range codes {
			rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) })
			ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) {
				if i == 3 {
					ep.RateLimitPerSecond = 100
				}
			})
			eps, rcvs = append(eps, ep.ID), append(rcvs, rcv)
		}
		// The 500's endpoint has been failing for longer than DisableAfter.
		if _, err := e.store.NoteEndpointResult(e.ctx, eps[1], false, time.Now().Add(-25*time.Hour), 0); err != nil {
			t.Fatal(err)
		}
		e.event("evt_1", "order.created", `{"n":1}`, time.Now())
		var req schemas.DeliverFirstRequest
		for i, ep := range eps {
			req.Requests = append(req.Requests, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep,
				Key: fmt.Sprintf("run/%d/0", i), NextDelay: 5 * time.Second})
		}
		res, err := e.acts.DeliverFirst(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		want := []schemas.Outcome{schemas.OutcomeSucceeded, schemas.OutcomeCancelled, schemas.OutcomeFailed, schemas.OutcomeSucceeded}
		// Recorded together, before the rate-limited one ended: the same status.
		if s0, s2 := res.Results[0].Result.EventStatus, res.Results[2].Result.EventStatus; s0 != schemas.EventPending || s2 != s0 {
			t.Errorf("event status after the first attempts: %s and %s, want pending", s0, s2)
		}
		for i, it := range res.Results {
			r := it.Result
			if it.Error != "" || r.Outcome != want[i] || r.EndpointID != eps[i] || r.Attempt == nil ||
				r.Attempt.Attempt != 1 || r.Attempt.ResponseStatus != codes[i] || len(rcvs[i].got()) != 1 {
				t.Errorf("result %d = %+v, want outcome %s after one POST answered %d", i, it, want[i], codes[i])
			}
		}
		for i, reason := range map[int]string{1: store.DisabledReasonFailing, 2: activities.DisabledReasonGone} {
			got, err := e.store.GetEndpoint(e.ctx, e.app, eps[i])
			if err != nil || !got.Disabled || got.DisabledReason != reason {
				t.Errorf("endpoint %d: %+v %v, want disabled (%s)", i, got, err, reason)
			}
		}
		for i, st := range []schemas.DeliveryStatus{schemas.DeliverySucceeded, schemas.DeliveryCancelled,
			schemas.DeliveryFailed, schemas.DeliverySucceeded} {
			if _, d := e.delivery("evt_1", eps[i]); d.Status != st || len(d.Attempts) != 1 {
				t.Errorf("delivery %d: %s with %d attempts, want %s with 1", i, d.Status, len(d.Attempts), st)
			}
		}
		// One transaction before the POSTs and one after, and only the
		// rate-limited delivery alone: its own begin and record (with its
		// failure streak, in one transaction).
		if w.begins.Load() != 1 || w.begin.Load() != 1 || w.records.Load() != 2 {
			t.Errorf("%d BeginAttempts, %d BeginAttempt and %d RecordAttempts, want 1, 1 and 2",
				w.begins.Load(), w.begin.Load(), w.records.Load())
		}
	})
}

// One attempt is two writes: its note in flight and its record, with the
// endpoint's failure streak. An ordered success holds its lane through a
// drain (a third write ends it) only when a fresh delivery waits behind it.
func TestDeliverWritesTwicePerAttempt(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		var w *writeCounter
		e := newEnv(t, open, func(d *activities.Deps) {
			w = &writeCounter{Store: d.Store.(*store.Store)}
			d.Store = w
		})
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		deliver := func(id string, target schemas.Target) schemas.DeliverResult {
			t.Helper()
			return e.succeed(id, ep.ID, target)
		}
		deliver("evt_1", e.event("evt_1", "t", `{}`, time.Now())[0])
		if _, d := e.delivery("evt_1", ep.ID); d.Status != schemas.DeliverySucceeded {
			t.Fatalf("evt_1 is %s", d.Status)
		}
		if b, r, f := w.begin.Load(), w.records.Load(), w.finish.Load(); b != 1 || r != 1 || f != 0 {
			t.Errorf("alone in its lane: %d begins, %d records, %d finishes; want 1, 1, 0", b, r, f)
		}
		t2 := e.event("evt_2", "t", `{}`, time.Now())[0]
		e.event("evt_3", "t", `{}`, time.Now())
		if res := deliver("evt_2", t2); len(res.Drained) != 1 {
			t.Fatalf("evt_2 drained %d", len(res.Drained))
		}
		if f := w.finish.Load(); f != 1 {
			t.Errorf("with one behind: %d finishes, want 1", f)
		}
		if n := len(rcv.got()); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})
}

// An event's first attempts read its deliveries, with the event and the
// endpoints, in one query: each read of one delivery parsed the same event
// again, ten reads for ten endpoints.
func TestDeliverFirstReadsOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		var c *readCounter
		e := newEnv(t, open, func(d *activities.Deps) { c = &readCounter{Store: d.Store}; d.Store = c })
		var got atomic.Int64
		rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { got.Add(1); w.WriteHeader(http.StatusOK) })
		var req schemas.DeliverFirstRequest
		for i := range 5 {
			ep, _ := e.endpoint(rcv.URL, nil)
			req.Requests = append(req.Requests, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
				Key: fmt.Sprintf("run/%d/0", i), NextDelay: 5 * time.Second})
		}
		e.event("evt_1", "order.created", `{"n":1}`, time.Now())
		c.reads.Store(0)
		res, err := e.acts.DeliverFirst(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for i, it := range res.Results {
			if it.Error != "" || it.Result.Outcome != schemas.OutcomeSucceeded {
				t.Errorf("result %d = %+v", i, it)
			}
		}
		if n := got.Load(); n != 5 {
			t.Errorf("%d POSTs, want 5", n)
		}
		if n := c.reads.Load(); n != 1 {
			t.Errorf("%d reads of deliveries, want 1", n)
		}
	})
}
