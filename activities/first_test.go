package activities_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
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
