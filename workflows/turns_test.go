package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/herald-hq/herald/schemas"
)

// The turn folded into the Deliver calls (EventWorkflowInput.TurnsInDeliver).

func folded(targets ...schemas.Target) schemas.EventWorkflowInput {
	in := input(targets...)
	in.TurnsInDeliver = true
	return in
}

// A delivery whose lane is free costs one local activity, as an unordered
// one does: its Deliver call asks for the turn and passes it.
func TestFoldedTurnIsOneCall(t *testing.T) {
	h := newHarness(t)
	h.acts.turn = func(schemas.TurnRequest) schemas.TurnResult {
		return schemas.TurnResult{Go: true, DeliveryStatus: schemas.DeliveryPending}
	}
	h.run(t, folded(schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 3, Lane: "k"}))
	calls := h.acts.deliverCalls()
	require.Len(t, calls, 1)
	require.Equal(t, turnWait, calls[0].req.AwaitTurn)
	require.True(t, calls[0].req.PassTurn)
	require.Equal(t, "k", calls[0].req.Lane)
	require.Zero(t, h.acts.acquires, "no AcquireTurn call")
	require.Empty(t, h.acts.passes, "no PassTurn call")
	require.Equal(t, []string{"ep_o"}, h.acts.inCalls)
	require.Equal(t, schemas.DeliverySucceeded, h.query(t).Deliveries["ep_o"])
}

// Only the first call asks for the turn; every call may pass it, and the
// one that ends the delivery does.
func TestFoldedTurnWithRetries(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = func(n int, _ schemas.DeliverRequest) schemas.DeliverResult {
		if n < 2 {
			return schemas.DeliverResult{Outcome: schemas.OutcomeRetry}
		}
		return schemas.DeliverResult{Outcome: schemas.OutcomeSucceeded}
	}
	h.run(t, folded(schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 1}))
	calls := h.acts.deliverCalls()
	require.Len(t, calls, 3)
	require.Equal(t, []time.Duration{turnWait, 0, 0}, []time.Duration{calls[0].req.AwaitTurn, calls[1].req.AwaitTurn, calls[2].req.AwaitTurn})
	require.Equal(t, []string{"ep_o"}, h.acts.inCalls)
	require.Empty(t, h.acts.passes)
}

// A first call that finds the lane busy waits as before (a turn signal or
// a re-check), then delivers without asking again in the call.
func TestFoldedTurnWaitsWhenTheLaneIsBusy(t *testing.T) {
	h := newHarness(t)
	signalled := false
	h.acts.turn = func(schemas.TurnRequest) schemas.TurnResult {
		return schemas.TurnResult{Go: signalled, DeliveryStatus: schemas.DeliveryPending, Next: true, HeadSeq: 1}
	}
	start := h.env.Now()
	h.env.RegisterDelayedCallback(func() {
		require.Equal(t, schemas.DeliveryPending, h.query(t).Deliveries["ep_o"], "waiting is not delivering")
		h.acts.mu.Lock()
		signalled = true
		h.acts.mu.Unlock()
		h.env.SignalWorkflow(schemas.SignalTurn, schemas.TurnSignal{EndpointID: "ep_o"})
	}, 4*time.Second)
	h.run(t, folded(schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 2}))
	calls := h.acts.deliverCalls()
	require.Len(t, calls, 2)
	require.Equal(t, turnWait, calls[0].req.AwaitTurn)
	require.Zero(t, calls[1].req.AwaitTurn, "the turn came through AcquireTurn")
	require.Equal(t, 4*time.Second, calls[1].at.Sub(start))
	require.Equal(t, 1, h.acts.acquires)
	require.Equal(t, []string{"ep_o"}, h.acts.inCalls)
	require.Empty(t, h.acts.passes)
}

// A cancel that stops the delivery between attempts passes the turn with
// its own call, after the store has the cancel.
func TestFoldedTurnCancelledBetweenAttempts(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = func(int, schemas.DeliverRequest) schemas.DeliverResult {
		return schemas.DeliverResult{Outcome: schemas.OutcomeRetry}
	}
	h.signal(2*time.Second, schemas.SignalCancel, schemas.CancelSignal{})
	h.run(t, folded(schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 1}))
	require.Len(t, h.acts.deliverCalls(), 1)
	require.Empty(t, h.acts.inCalls)
	require.Equal(t, []string{"ep_o"}, h.acts.passes)
	require.Len(t, h.acts.cancels, 1)
}
