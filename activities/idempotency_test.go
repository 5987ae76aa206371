package activities_test

import (
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
)

// A local activity runs again when the workflow task that ran it fails. The
// attempt key makes that re-run answer the recorded attempt, not POST again,
// and restore the delivery's end if the re-run task queued it again.
func TestDeliverSameKeyDoesNotPostTwice(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, nil)
		e.event("evt_k", "t", `{}`, time.Now())
		req := schemas.DeliverRequest{AppID: e.app, EventID: "evt_k", EndpointID: ep.ID, Key: "run/0/0", NextDelay: time.Minute}

		first, err := e.acts.Deliver(e.ctx, req)
		if err != nil || first.Outcome != schemas.OutcomeSucceeded {
			t.Fatalf("first: %+v %v", first, err)
		}
		// The re-run task's PrepareReplay queued the delivery again.
		if _, err := e.acts.PrepareReplay(e.ctx, schemas.PrepareReplayRequest{AppID: e.app, EventID: "evt_k"}); err != nil {
			t.Fatal(err)
		}
		again, err := e.acts.Deliver(e.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if again.Outcome != schemas.OutcomeSucceeded || again.Attempt == nil || again.Attempt.Attempt != first.Attempt.Attempt {
			t.Fatalf("re-run answered %+v, want the recorded attempt %+v", again, first.Attempt)
		}
		if n := len(rcv.got()); n != 1 {
			t.Fatalf("%d requests, want 1", n)
		}
		if ev, d := e.delivery("evt_k", ep.ID); d.Status != schemas.DeliverySucceeded || ev.Status != schemas.EventDelivered || len(d.Attempts) != 1 {
			t.Fatalf("stored %s %+v", ev.Status, d)
		}

		// A new key is a new attempt.
		req.Key = "run/1/0"
		if _, err := e.acts.PrepareReplay(e.ctx, schemas.PrepareReplayRequest{AppID: e.app, EventID: "evt_k"}); err != nil {
			t.Fatal(err)
		}
		if res, err := e.acts.Deliver(e.ctx, req); err != nil || res.Attempt == nil || res.Attempt.Attempt != 2 {
			t.Fatalf("new key: %+v %v", res, err)
		}
		if n := len(rcv.got()); n != 2 {
			t.Fatalf("%d requests, want 2", n)
		}
	})
}

// A delivery queued again under a new seq belongs to the newer target: the
// older one's turn and attempt are refused without a request.
func TestSupersededDeliveryDoesNotGo(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		old := e.event("evt_s", "t", `{}`, time.Now())[0]
		targets, err := e.acts.PrepareReplay(e.ctx, schemas.PrepareReplayRequest{AppID: e.app, EventID: "evt_s"})
		if err != nil || len(targets) != 1 || targets[0].Seq == old.Seq {
			t.Fatalf("replay targets %+v (old seq %d): %v", targets, old.Seq, err)
		}
		turn, err := e.acts.AcquireTurn(e.ctx, schemas.TurnRequest{AppID: e.app, EventID: "evt_s", EndpointID: ep.ID, Seq: old.Seq})
		if err != nil || turn.Go || !turn.Superseded {
			t.Fatalf("old target's turn: %+v %v", turn, err)
		}
		res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_s", EndpointID: ep.ID, Seq: old.Seq, NextDelay: time.Minute})
		if err != nil || res.Outcome != schemas.OutcomeSuperseded || res.Attempt != nil {
			t.Fatalf("old target's attempt: %+v %v", res, err)
		}
		if n := len(rcv.got()); n != 0 {
			t.Fatalf("%d requests, want none", n)
		}
		res, err = e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_s", EndpointID: ep.ID, Seq: targets[0].Seq, NextDelay: time.Minute})
		if err != nil || res.Outcome != schemas.OutcomeSucceeded {
			t.Fatalf("new target's attempt: %+v %v", res, err)
		}
	})
}

// The workflow task that runs again after a failure may take in signals the
// failed one had not, so the coroutine at the same place of the run (the
// same key) may deliver a newer generation. That attempt is a new one: the
// older generation's answered it, and the replay's delivery was marked
// succeeded with no POST after the replay (the chaos test, seed
// 1796462470459139795). First attempts made together key theirs the same way.
func TestSameKeyOfANewerGenerationPostsAgain(t *testing.T) {
	for _, together := range []bool{false, true} {
		t.Run(map[bool]string{false: "alone", true: "together"}[together], func(t *testing.T) {
			eachStore(t, func(t *testing.T, open opener) {
				e := newEnv(t, open)
				rcv := newReceiver(t, nil)
				ep, _ := e.endpoint(rcv.URL, nil)
				target := e.event("evt_g", "t", `{}`, time.Now())[0]
				req := schemas.DeliverRequest{AppID: e.app, EventID: "evt_g", EndpointID: ep.ID, Gen: target.Gen,
					Key: "run/2/0", NextDelay: time.Minute}
				var first schemas.DeliverResult
				if together {
					out, err := e.acts.DeliverFirst(e.ctx, schemas.DeliverFirstRequest{Requests: []schemas.DeliverRequest{req}})
					if err != nil || len(out.Results) != 1 || out.Results[0].Error != "" {
						t.Fatalf("first together: %+v %v", out, err)
					}
					first = out.Results[0].Result
				} else {
					var err error
					if first, err = e.acts.Deliver(e.ctx, req); err != nil {
						t.Fatal(err)
					}
				}
				if first.Outcome != schemas.OutcomeSucceeded {
					t.Fatalf("first: %+v", first)
				}
				targets, err := e.acts.PrepareReplay(e.ctx, schemas.PrepareReplayRequest{AppID: e.app, EventID: "evt_g"})
				if err != nil || len(targets) != 1 || targets[0].Gen == req.Gen {
					t.Fatalf("replay targets %+v: %v", targets, err)
				}
				req.Gen = targets[0].Gen
				again, err := e.acts.Deliver(e.ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				if again.Outcome != schemas.OutcomeSucceeded || again.Attempt == nil || again.Attempt.Attempt != 2 {
					t.Fatalf("the newer generation's call answered %+v, want attempt 2 made", again)
				}
				if n := len(rcv.got()); n != 2 {
					t.Fatalf("%d requests, want 2: the replay is delivered again", n)
				}
				if _, d := e.delivery("evt_g", ep.ID); d.Status != schemas.DeliverySucceeded || len(d.Attempts) != 2 {
					t.Fatalf("stored %+v", d)
				}
			})
		})
	}
}
