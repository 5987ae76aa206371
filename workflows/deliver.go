package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

// ending is how a delivery coroutine ended: with the delivery's final
// status, or superseded (the delivery was queued again, and a newer
// coroutine delivers it; status is then empty).
type ending struct {
	status     schemas.DeliveryStatus
	superseded bool
}

func ended(status schemas.DeliveryStatus) ending { return ending{status: status} }

// deliver waits for an ordered target's turn, then makes attempts by the
// retry schedule until one is final, and returns how the delivery ended.
// A cancelled ctx stops it between attempts: the delivery is cancelled.
//
// An ordered delivery of a run with TurnsInDeliver asks for its turn in its
// first Deliver call, and passes the turn in the call that ends it; only
// when the first call finds the lane not yet its own does it wait here as
// the others do (awaitTurn).
func (r *eventRun) deliver(ctx workflow.Context, d *delivery) ending {
	id := d.target.EndpointID
	hasTurn := !d.target.Ordered
	if d.target.Ordered && !r.in.TurnsInDeliver {
		end, ok := r.waitTurn(ctx, d, nil, r.turns[id])
		if !ok {
			return end
		}
		hasTurn = true
	}
	for i := 0; ; {
		if ctx.Err() != nil && !r.first.holds(d, i) {
			return ended(schemas.DeliveryCancelled)
		}
		var next time.Duration // 0: the last attempt
		if i < len(r.in.RetrySchedule) {
			next = r.in.RetrySchedule[i]
		}
		if r.current[id] == d && hasTurn {
			r.status[id] = schemas.DeliveryDelivering
		}
		seen := r.turns[id] // before asking, so a turn signal during the call is not missed
		res, err := r.attempt(ctx, d, i, next, !hasTurn)
		if err != nil {
			if ctx.Err() != nil {
				return ended(schemas.DeliveryCancelled)
			}
			r.logger.Error("delivery ended by an error", "endpoint", id, "error", err)
			return ended(schemas.DeliveryFailed)
		}
		if res.Turn != nil { // no attempt: the lane is not yet this delivery's
			end, ok := r.waitTurn(ctx, d, res.Turn, seen)
			if !ok {
				return end
			}
			hasTurn = true
			continue
		}
		hasTurn = true
		d.turnPassed = res.TurnPassed
		if status, final := res.Outcome.Ends(); final {
			return ended(status)
		}
		var wait time.Duration
		switch res.Outcome {
		case schemas.OutcomeSuperseded:
			return ending{superseded: true}
		case schemas.OutcomeRetry:
			wait = res.RetryIn
			if wait <= 0 {
				wait = next
			}
			i++
		case schemas.OutcomeThrottled: // no attempt was made: same i
			wait = res.RetryIn
		default:
			r.logger.Error("unknown delivery outcome", "endpoint", id, "outcome", res.Outcome)
			return ended(schemas.DeliveryFailed)
		}
		if ctx.Err() != nil {
			return ended(schemas.DeliveryCancelled)
		}
		wait = max(wait, minWait)
		timer := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{Summary: string(res.Outcome) + " " + id})
		if err := timer.Get(ctx, nil); err != nil {
			return ended(schemas.DeliveryCancelled)
		}
	}
}

// attempt runs the Deliver local activity once (its retries aside). It runs
// on a context the cancel signal does not reach, so an attempt under way
// finishes and its result is recorded, as the contract asks.
//
// awaitTurn asks the call to wait for the ordered delivery's turn first;
// its result's Turn is then set when the turn did not come.
func (r *eventRun) attempt(ctx workflow.Context, d *delivery, i int, next time.Duration, awaitTurn bool) (schemas.DeliverResult, error) {
	endpointID := d.target.EndpointID
	actx, _ := workflow.NewDisconnectedContext(ctx)
	res, made := r.first.take(actx, d, i, r.logger)
	if !made {
		req := r.deliverRequest(ctx, d, i, next)
		opts := deliverOptions(r.in.DeliveryTimeout, endpointID)
		if d.target.Ordered && r.in.TurnsInDeliver {
			req.PassTurn = true
			if awaitTurn {
				req.AwaitTurn = turnWait
				opts.StartToCloseTimeout += turnWait
			}
		}
		err := r.call(ctx, actx, opts, schemas.ActivityDeliver, req, &res)
		if err != nil || res.Turn != nil {
			return res, err
		}
	}
	kv := []any{"endpoint", endpointID, "outcome", res.Outcome}
	if a := res.Attempt; a != nil {
		kv = append(kv, "attempt", a.Attempt, "response_status", a.ResponseStatus, "duration_ms", a.DurationMS)
		if a.Error != "" {
			kv = append(kv, "error", a.Error)
		}
	}
	if res.RetryIn > 0 {
		kv = append(kv, "retry_in", res.RetryIn)
	}
	if res.Reason != "" {
		kv = append(kv, "reason", res.Reason)
	}
	r.logger.Info("delivery attempt", kv...)
	return res, nil
}

// deliverRequest is the request of attempt i of d, under its key.
func (r *eventRun) deliverRequest(ctx workflow.Context, d *delivery, i int, next time.Duration) schemas.DeliverRequest {
	key := fmt.Sprintf("%s/%d/%d", workflow.GetInfo(ctx).WorkflowExecution.RunID, d.index, i)
	return schemas.DeliverRequest{AppID: r.in.AppID, EventID: r.in.EventID, EndpointID: d.target.EndpointID,
		Seq: d.target.Seq, Lane: d.target.Lane, Gen: d.target.Gen, Key: key, NextDelay: next}
}

// call runs a local activity by name on actx. An error the SDK's retries did
// not cure within infraWindow is an infrastructure error: call waits
// infraPause (on ctx, so a cancel ends the wait) and calls again, without
// limit. Only a non-retryable error or a cancellation returns.
func (r *eventRun) call(ctx, actx workflow.Context, opts workflow.LocalActivityOptions, name string, arg, res any) error {
	for {
		actx := workflow.WithLocalActivityOptions(actx, opts)
		err := workflow.ExecuteLocalActivity(actx, name, arg).Get(actx, res)
		if err == nil || permanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.logger.Warn("activity failed, calling again", "activity", name, "in", infraPause, "error", err)
		if err := workflow.Sleep(ctx, infraPause); err != nil {
			return err
		}
	}
}

// permanent reports whether an activity error must not be retried: a
// cancellation, or an application error marked non-retryable.
func permanent(err error) bool {
	if temporal.IsCanceledError(err) {
		return true
	}
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable()
}
