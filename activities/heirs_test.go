package activities_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

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
		h.drainedOn(t, res)
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

// drainedOn checks that the heir, its call's result res, drained the rest
// of the lane, and that every event arrived once, in order.
func (h *heirRun) drainedOn(t *testing.T, res schemas.DeliverResult) {
	t.Helper()
	if got := drainedIDs(res); !slices.Equal(got, h.ids[7:]) {
		t.Fatalf("the heir drained %v, want %v", got, h.ids[7:])
	}
	if arrived := h.arrived(); !slices.Equal(arrived, h.ids) {
		t.Fatalf("arrived %v, want each once in order", arrived)
	}
}

// arrived is the ids of the POSTs the lane's receiver got, in order.
func (h *heirRun) arrived() []string {
	var ids []string
	for _, r := range h.rcv.got() {
		ids = append(ids, r.header.Get("webhook-id"))
	}
	return ids
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
		h.drainedOn(t, res)
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
		arrived := h.arrived()
		if !slices.Equal(arrived, h.ids[:7]) {
			t.Fatalf("arrived %v, want %v once each", arrived, h.ids[:7])
		}
	})
}
