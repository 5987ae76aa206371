package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

// The workflow's half of ordered delivery (docs/architecture.md, "Lanes"),
// in one place: a delivery waits for its turn (a turn signal, or a re-check
// timer), the one next behind the head wakes an abandoned head, and every
// ordered delivery passes the turn when it ends (eventRun.run). The store's
// half is store/lanes.go, the activities' activities/lanes.go.

const (
	// An ordered delivery that is not first in line re-checks its turn after
	// turnRecheckMin, doubling up to turnRecheckMax when it is next behind
	// the head and to turnRecheckFar when further back, in case a turn
	// signal was lost. Only the next one wakes an abandoned head, so the
	// far ones need not look often: their re-checks are what a long queue
	// costs the server while its head fails.
	turnRecheckMin = 30 * time.Second
	turnRecheckMax = 2 * time.Minute
	turnRecheckFar = time.Hour

	// turnWait is how long AcquireTurn may wait in the activity for a turn
	// in a lane that is moving (activities.AcquireTurn). The workflow task
	// stays open meanwhile; past 80% of its timeout the SDK heartbeats it
	// (one history write, the task handed straight back), far cheaper than
	// ending the task and being woken by a timer or signal through
	// matching.
	turnWait = 20 * time.Second
)

// waitTurn waits for an ordered delivery's turn (awaitTurn), starting from
// first when a Deliver call already asked (seen: the turn signals counted
// before it asked). ok is false when the delivery must not go: end is then
// how it ended.
func (r *eventRun) waitTurn(ctx workflow.Context, d *delivery, first *schemas.TurnResult, seen int) (end ending, ok bool) {
	end, mayGo, ok := r.awaitTurn(ctx, d.target, first, seen)
	if !ok {
		return ended(schemas.DeliveryCancelled), false
	}
	if !mayGo {
		// Already final or superseded: it must not go, and whoever ended
		// it (a drain, a cancel, a newer target) passes the turn.
		d.endedElsewhere = true
		return end, false
	}
	return ending{}, true
}

// awaitTurn returns when an ordered target may go (mayGo, ok), or when its
// delivery is already final or queued again under another seq (ok, and end
// says which); ok is false when ctx was cancelled. Between checks it waits
// for a turn signal (sent by whoever ends the lane's head) or, in case one
// was lost, a timer: short for the delivery next behind the head, which
// wakes the head when the store says it looks abandoned, long for those
// further back, so that a head failing for a day gets no signal from the
// deliveries behind it and theirs histories stay short. first, when not
// nil, is the answer to a check already made, with seen the turn signals
// counted before it.
func (r *eventRun) awaitTurn(ctx workflow.Context, t schemas.Target, first *schemas.TurnResult, seen int) (end ending, mayGo, ok bool) {
	req := schemas.TurnRequest{AppID: r.in.AppID, EventID: r.in.EventID, EndpointID: t.EndpointID, Lane: t.Lane, Seq: t.Seq, Wait: turnWait}
	wait := turnRecheckMin
	for {
		var res schemas.TurnResult
		if first != nil {
			res, first = *first, nil
		} else {
			seen = r.turns[t.EndpointID] // before asking, so a signal during the call is not missed
			if err := r.call(ctx, ctx, turnOptions(), schemas.ActivityAcquireTurn, req, &res); err != nil {
				if ctx.Err() != nil {
					return ending{}, false, false
				}
				r.logger.Error("acquire turn", "endpoint", t.EndpointID, "error", err)
				return ended(schemas.DeliveryFailed), false, true
			}
		}
		if res.Go {
			return ending{}, true, true
		}
		if res.Superseded {
			return ending{superseded: true}, false, true
		}
		if res.DeliveryStatus.Final() {
			return ended(res.DeliveryStatus), false, true
		}
		if res.Nudge {
			r.passTurn(ctx, t.EndpointID, t.Lane, 0)
		}
		limit := turnRecheckMax
		if !res.Next {
			limit = turnRecheckFar
		}
		wait = min(wait, limit)
		woke, err := workflow.AwaitWithTimeout(ctx, wait, func() bool { return r.turns[t.EndpointID] != seen })
		if err != nil {
			return ending{}, false, false
		}
		if woke {
			wait = turnRecheckMin
		} else {
			wait = min(2*wait, limit)
		}
	}
}

// passTurn wakes the event workflow whose delivery is now first in line in
// the lane, after the end of the delivery at seq ended (0: a nudge). A
// failure is only logged: the delivery next in line re-checks on its own.
func (r *eventRun) passTurn(ctx workflow.Context, endpointID, lane string, ended int64) {
	req := schemas.PassTurnRequest{EndpointID: endpointID, Lane: lane, Ended: ended}
	if err := r.call(ctx, ctx, shortOptions(), schemas.ActivityPassTurn, req, nil); err != nil && ctx.Err() == nil {
		r.logger.Error("pass turn", "endpoint", endpointID, "error", err)
	}
}
