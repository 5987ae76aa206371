package activities_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// A deleted app ends the work waiting for it: every activity answers an
// outcome, none an error its workflow would retry without end.
func TestDeletedAppIsAnOutcome(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open, func(d *activities.Deps) { d.Waker = &recordingWaker{} })
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		e.event("evt_1", "t", `{}`, time.Now())
		tg := e.event("evt_2", "t", `{}`, time.Now())[0]
		if err := e.store.DeleteApp(e.ctx, e.app, time.Now()); err != nil {
			t.Fatal(err)
		}
		turn, err := e.acts.AcquireTurn(e.ctx, schemas.TurnRequest{AppID: e.app, EventID: "evt_2", EndpointID: ep.ID, Seq: tg.Seq})
		if err != nil || turn.Go || !turn.DeliveryStatus.Final() {
			t.Fatalf("acquire turn: %+v %v", turn, err)
		}
		if _, err := e.acts.CancelDeliveries(e.ctx, schemas.CancelRequest{AppID: e.app, EventID: "evt_2"}); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		if tg, err := e.acts.PrepareReplay(e.ctx, schemas.PrepareReplayRequest{AppID: e.app, EventID: "evt_2"}); err != nil || len(tg) != 0 {
			t.Fatalf("prepare replay: %v %v", tg, err)
		}
		if err := e.acts.PassTurn(e.ctx, schemas.PassTurnRequest{EndpointID: ep.ID}); err != nil {
			t.Fatalf("pass turn: %v", err)
		}
		res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_2", EndpointID: ep.ID, Seq: tg.Seq})
		if err != nil || res.Outcome != schemas.OutcomeCancelled {
			t.Fatalf("deliver: %+v %v", res, err)
		}
		if len(rcv.got()) != 0 {
			t.Fatal("POSTed for a deleted app")
		}
	})
}

// cancelOnMark is the real store, with a cancel of the delivery committed
// just before BeginAttempt marks it delivering: the cancel lands between
// the load and the mark.
type cancelOnMark struct {
	*store.Store
}

func (s cancelOnMark) BeginAttempt(ctx context.Context, appID, eventID, endpointID string, gen int64, key string,
	startedAt time.Time) (int, bool, error) {
	if _, err := s.Store.SetDeliveryStatus(ctx, appID, eventID, nil, schemas.DeliveryCancelled, time.Now()); err != nil {
		return 0, false, err
	}
	return s.Store.BeginAttempt(ctx, appID, eventID, endpointID, gen, key, startedAt)
}

func TestCancelBeforeMarkStopsTheAttempt(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		e.acts = activities.New(activities.Deps{Store: cancelOnMark{e.store}, Config: activities.Config{AllowPrivateNetworks: true}})
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, nil)
		e.event("evt_1", "t", `{}`, time.Now())
		res := e.deliver("evt_1", ep.ID, time.Minute)
		if res.Outcome != schemas.OutcomeCancelled || res.Attempt != nil {
			t.Fatalf("result %+v", res)
		}
		if len(rcv.got()) != 0 {
			t.Fatal("POSTed after the cancel")
		}
		if _, d := e.delivery("evt_1", ep.ID); d.Status != schemas.DeliveryCancelled {
			t.Fatalf("delivery %+v", d)
		}
	})
}

// A replay while an attempt is under way is not swallowed by that attempt's
// success: the delivery stays pending for its new generation, whose own
// attempt delivers it again, once.
func TestReplayDuringAttemptDeliversAgain(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		t.Run(map[bool]string{false: "unordered", true: "ordered"}[ordered], func(t *testing.T) {
			eachStore(t, func(t *testing.T, open opener) {
				e := newEnv(t, open)
				var replayed []schemas.Target
				var rerr error
				rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
					if replayed == nil { // the replay comes while the first attempt is under way
						replayed, rerr = e.store.PrepareReplay(context.Background(), e.app, "evt_1", "", time.Now())
					}
					w.WriteHeader(http.StatusOK)
				})
				ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = ordered })
				tg := e.event("evt_1", "t", `{}`, time.Now())[0]
				res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
					Seq: tg.Seq, Gen: tg.Gen, Key: "run/0/0", NextDelay: time.Minute})
				if err != nil || rerr != nil || len(replayed) != 1 {
					t.Fatalf("%v %v %v", err, rerr, replayed)
				}
				if res.Outcome != schemas.OutcomeSuperseded {
					t.Fatalf("outcome %s, want superseded", res.Outcome)
				}
				if _, d := e.delivery("evt_1", ep.ID); d.Status != schemas.DeliveryPending || len(d.Attempts) != 1 {
					t.Fatalf("after the first attempt: %+v", d)
				}
				res, err = e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
					Seq: replayed[0].Seq, Gen: replayed[0].Gen, Key: "run/1/0", NextDelay: time.Minute})
				if err != nil || res.Outcome != schemas.OutcomeSucceeded {
					t.Fatalf("again: %+v %v", res, err)
				}
				if _, d := e.delivery("evt_1", ep.ID); d.Status != schemas.DeliverySucceeded || len(d.Attempts) != 2 {
					t.Fatalf("after the replay: %+v", d)
				}
				if n := len(rcv.got()); n != 2 {
					t.Fatalf("%d requests, want 2", n)
				}
			})
		})
	}
}

// The drain starts no POST its activity's deadline cannot cover: after a
// head whose receiver took most of the activity's time, it drains nothing,
// and every event is POSTed exactly once.
func TestDrainKeepsWithinTheDeadline(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open, withConfig(func(c *activities.Config) { c.DeliveryTimeout = 2 * time.Second }))
		rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("webhook-id") == "evt_1" {
				time.Sleep(1500 * time.Millisecond) // a slow receiver, for the head only
			}
			w.WriteHeader(http.StatusOK)
		})
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = true })
		tg := e.event("evt_1", "t", `{}`, time.Now())[0]
		e.event("evt_2", "t", `{}`, time.Now())
		// The activity's timeout: the delivery timeout and 3.5 s.
		ctx, cancel := context.WithTimeout(e.ctx, 5500*time.Millisecond)
		defer cancel()
		res, err := e.acts.Deliver(ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
			Seq: tg.Seq, Gen: tg.Gen, Key: "run/0/0", NextDelay: time.Minute})
		if err != nil || res.Outcome != schemas.OutcomeSucceeded {
			t.Fatalf("%+v %v", res, err)
		}
		if len(res.Drained) != 0 || len(rcv.got()) != 1 {
			t.Fatalf("drained %d with %v left", len(res.Drained), time.Until(time.Now()))
		}
		// Run again with the same key (the SDK's retry after a timeout):
		// answered from the store, no second POST.
		res, err = e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
			Seq: tg.Seq, Gen: tg.Gen, Key: "run/0/0", NextDelay: time.Minute})
		if err != nil || res.Outcome != schemas.OutcomeSucceeded || len(rcv.got()) != 1 {
			t.Fatalf("re-run: %+v %v, %d requests", res, err, len(rcv.got()))
		}
	})
}

// A cancel covers only what was queued when it was accepted. The workflow's
// cancel step (CancelDeliveries) runs after the API's cancel and may run
// after a replay or recover accepted since: bounded by the generations the
// API's cancel found, it leaves the re-queued delivery to be delivered, once.
// A cancel accepted after the re-queue covers it: no attempt.
func TestCancelCoversOnlyWhatCameBefore(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		for _, tc := range []struct {
			name    string
			requeue func(e *env, epID string) []schemas.Target
		}{
			{"replay", func(e *env, _ string) []schemas.Target {
				tg, err := e.store.PrepareReplay(e.ctx, e.app, "evt_1", "", time.Now())
				if err != nil {
					e.t.Fatal(err)
				}
				return tg
			}},
			{"recover", func(e *env, epID string) []schemas.Target {
				got, err := e.store.RecoverFailed(e.ctx, e.app, epID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), time.Now())
				if err != nil {
					e.t.Fatal(err)
				}
				tg := make([]schemas.Target, len(got))
				for i, r := range got {
					tg[i] = r.Target
				}
				return tg
			}},
		} {
			name := map[bool]string{false: "unordered", true: "ordered"}[ordered] + "/" + tc.name
			t.Run(name, func(t *testing.T) {
				eachStore(t, func(t *testing.T, open opener) {
					for _, cancelFirst := range []bool{true, false} {
						e := newEnv(t, open)
						rcv := newReceiver(t, nil)
						ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.Ordered = ordered })
						e.event("evt_1", "t", `{}`, time.Now())
						if tc.name == "recover" { // recover re-queues failed deliveries only
							fin := time.Now()
							if _, err := e.store.RecordAttemptOf(e.ctx, store.AttemptRecord{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
								StartedAt: fin, ResponseStatus: 500, Status: schemas.DeliveryFailed, FinishedAt: &fin}); err != nil {
								t.Fatal(err)
							}
						}
						cancel := func() schemas.Generations {
							_, upTo, err := e.store.CancelDeliveries(e.ctx, e.app, "evt_1", nil, time.Now())
							if err != nil {
								t.Fatal(err)
							}
							return upTo
						}
						var upTo schemas.Generations
						var tg []schemas.Target
						if cancelFirst {
							upTo = cancel()
							tg = tc.requeue(e, ep.ID)
						} else {
							tg = tc.requeue(e, ep.ID)
							upTo = cancel()
						}
						if len(tg) != 1 {
							t.Fatalf("%s re-queued %v", tc.name, tg)
						}
						// The workflow's cancel step, late.
						if _, err := e.acts.CancelDeliveries(e.ctx, schemas.CancelRequest{AppID: e.app, EventID: "evt_1", UpTo: upTo}); err != nil {
							t.Fatal(err)
						}
						res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
							Seq: tg[0].Seq, Gen: tg[0].Gen, Key: "run/1/0", NextDelay: time.Minute})
						if err != nil {
							t.Fatal(err)
						}
						_, d := e.delivery("evt_1", ep.ID)
						if cancelFirst {
							if res.Outcome != schemas.OutcomeSucceeded || d.Status != schemas.DeliverySucceeded || len(rcv.got()) != 1 {
								t.Fatalf("cancel, then %s: outcome %s, delivery %s, %d POSTs; want delivered once",
									tc.name, res.Outcome, d.Status, len(rcv.got()))
							}
						} else if res.Outcome != schemas.OutcomeCancelled || res.Attempt != nil || d.Status != schemas.DeliveryCancelled || len(rcv.got()) != 0 {
							t.Fatalf("%s, then cancel: outcome %s, delivery %s, %d POSTs; want cancelled, none",
								tc.name, res.Outcome, d.Status, len(rcv.got()))
						}
					}
				})
			})
		}
	}
}

// replayOnLoad is the real store, with a replay of the loaded delivery
// committed just after Deliver's load: the replay lands between the load
// and whatever Deliver does with what it loaded.
type replayOnLoad struct {
	*store.Store
	replayed *[]schemas.Target
}

func (s replayOnLoad) LoadDelivery(ctx context.Context, appID, eventID, endpointID string) (store.DeliveryJob, error) {
	job, err := s.Store.LoadDelivery(ctx, appID, eventID, endpointID)
	if err != nil || *s.replayed != nil {
		return job, err
	}
	*s.replayed, err = s.Store.PrepareReplay(ctx, appID, eventID, endpointID, time.Now())
	return job, err
}

// A delivery to a disabled endpoint is cancelled without an attempt, but
// only in the generation the attempt was for: a replay accepted since the
// load is left pending for its own generation, not swallowed.
func TestDisabledCancelLeavesANewerGeneration(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		var replayed []schemas.Target
		e.acts = activities.New(activities.Deps{Store: replayOnLoad{e.store, &replayed},
			Config: activities.Config{AllowPrivateNetworks: true}})
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, nil)
		e.event("evt_1", "t", `{}`, time.Now())
		// Disabling cancels the delivery; a replay then queues it again,
		// as the API lets one do while the endpoint is disabled.
		if err := e.store.DisableEndpoint(e.ctx, e.app, ep.ID, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
		again, err := e.store.PrepareReplay(e.ctx, e.app, "evt_1", ep.ID, time.Now())
		if err != nil || len(again) != 1 {
			t.Fatalf("replay: %v %+v", err, again)
		}
		tg := again[0]
		res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID,
			Gen: tg.Gen, Key: "run/0/0", NextDelay: time.Minute})
		if err != nil || len(replayed) != 1 || replayed[0].Gen <= tg.Gen {
			t.Fatalf("deliver: %v; replayed %+v", err, replayed)
		}
		if res.Outcome != schemas.OutcomeSuperseded {
			t.Fatalf("outcome %s (%s), want superseded", res.Outcome, res.Reason)
		}
		if _, d := e.delivery("evt_1", ep.ID); d.Status != schemas.DeliveryPending {
			t.Fatalf("the replay was cancelled by an older generation's attempt: %+v", d)
		}
		if len(rcv.got()) != 0 {
			t.Fatal("POSTed to a disabled endpoint")
		}
	})
}
