package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// The activities' half of ordered delivery (docs/architecture.md, "Lanes"),
// in one place: whose turn it is (AcquireTurn), waking the next holder
// (PassTurn), the holder's drain of its lane, and a delivery adopting the
// attempt a drain made for it. The queries are store/lanes.go; the waiting
// is workflows/lanes.go.

// staleGrace is how long past its due time a lane's head may sit before the
// delivery behind it wakes it: a retry overdue by that long, or a turn not
// taken that long after it came, means its workflow lost a signal or never
// started.
const staleGrace = 20 * time.Second

// AcquireTurn says whether an ordered delivery may go: it must not be final
// already (cancelled meanwhile) nor queued again under another seq, and
// every delivery of its lane with a lower seq must be final. A delivery
// that no longer exists (its app or endpoint was deleted) answers
// cancelled: the waiting workflow ends.
func (a *Activities) AcquireTurn(ctx context.Context, req schemas.TurnRequest) (schemas.TurnResult, error) {
	st, seq, err := a.store.DeliveryState(ctx, req.AppID, req.EventID, req.EndpointID)
	if schemas.IsNotFound(err) {
		return schemas.TurnResult{DeliveryStatus: schemas.DeliveryCancelled}, nil
	}
	if err != nil {
		return schemas.TurnResult{}, err
	}
	if st.Final() {
		return schemas.TurnResult{Go: false, DeliveryStatus: st}, nil
	}
	if seq != req.Seq {
		// A replay or recover queued the delivery again after this request's
		// target was made: the newer target's coroutine delivers it.
		return schemas.TurnResult{Go: false, DeliveryStatus: st, Superseded: true}, nil
	}
	ahead, err := a.store.Ahead(ctx, req.EndpointID, req.Lane, req.Seq)
	if err != nil || ahead == 0 {
		return schemas.TurnResult{Go: ahead == 0, DeliveryStatus: st}, err
	}
	head, ok, err := a.store.HeadDelivery(ctx, req.EndpointID, req.Lane)
	if err != nil || !ok {
		return schemas.TurnResult{DeliveryStatus: st}, err
	}
	res := schemas.TurnResult{DeliveryStatus: st, HeadSeq: head.Seq, Next: ahead == 1}
	res.Nudge = res.Next && a.stale(head)
	return res, nil
}

// awaitsTurn reports whether a lane's head needs a turn signal: any head
// but one waiting for its retry (its own timer wakes it) that is not
// overdue. Without this, every delivery behind a failing head that ends
// (cancelled, replayed) sent it a signal: a workflow task each, and a
// workflow that gets a signal while it completes must run another task
// (UNHANDLED_COMMAND). A head that is delivering still gets one: its
// attempt may be a drain's whose process died, which only its own
// workflow, woken, takes over (TestOrderedLaneResumesAfterKillNine).
func (a *Activities) awaitsTurn(h store.LaneHead) bool {
	if h.Status == schemas.DeliveryPending && h.NextAttemptAt != nil {
		return a.stale(h)
	}
	return true
}

// stale reports whether a lane's head looks abandoned by its workflow.
func (a *Activities) stale(h store.LaneHead) bool {
	now := a.now()
	switch {
	case h.Status == schemas.DeliveryDelivering:
		// An attempt (with its drain) ends within its activity's timeout.
		return now.Sub(h.UpdatedAt) > a.cfg.DeliveryTimeout+2*staleGrace
	case h.NextAttemptAt != nil:
		return now.Sub(*h.NextAttemptAt) > staleGrace
	default:
		return now.Sub(h.UpdatedAt) > staleGrace
	}
}

// PassTurn wakes the event workflow of the lane's head delivery (the
// non-final ordered delivery with the lowest seq), if there is one and it
// is not in its retry wait (see awaitsTurn).
func (a *Activities) PassTurn(ctx context.Context, req schemas.PassTurnRequest) error {
	head, ok, err := a.store.HeadDelivery(ctx, req.EndpointID, req.Lane)
	if err != nil || !ok || !a.awaitsTurn(head) {
		return err
	}
	if a.waker == nil {
		return errors.New("pass turn: the activities have no Waker")
	}
	err = a.waker.Turn(ctx, head.DeliveryRef)
	if schemas.IsNotFound(err) {
		return nil // deleted meanwhile: nothing left to wake
	}
	if err != nil {
		return fmt.Errorf("pass turn of endpoint %s to event %s: %w", req.EndpointID, head.EventID, err)
	}
	return nil
}

// maxDrain bounds how many deliveries one drain makes, so that its result
// (the list of drained attempts, in the holder's history) stays small.
const maxDrain = 512

// recordSlack is kept free at the end of the activity for the records
// after the last POST: the last drained attempt and the holder's own end.
const recordSlack = 3 * time.Second

// drain delivers, in order, the deliveries queued behind an ordered
// delivery that has just succeeded and is not yet final, so that it still
// holds its lane and no other workflow may go. Without it each queued
// delivery costs a hand-off through Temporal (a signal and a workflow task)
// before its POST; with it, a backlog goes out at the speed of the
// endpoint, each attempt recorded under its own event.
//
// It starts a POST only while the activity's own deadline leaves room for
// the whole delivery timeout and the records after it: a drain that outlived
// its activity would be run again by the SDK and POST twice.
//
// It stops at the first delivery that is not fresh (already tried, or not
// pending), or whose attempt fails: that delivery's own workflow adopts the
// failed attempt when its turn comes and goes on with its retry schedule.
// A drained delivery's workflow is not signalled: that would cost a Temporal
// write and a workflow task per delivery. It was most likely started with a
// delay that outlasts the drain (dispatch.Start), so its first task finds the
// delivery done; otherwise its turn re-check does.
func (a *Activities) drain(ctx context.Context, holder store.DeliveryJob) []schemas.DrainedAttempt {
	endpointID, lane, seq := holder.Endpoint.ID, holder.Lane, holder.Seq
	log := a.log.With("endpoint", endpointID, "lane", lane)
	deadline := a.deadline(ctx)
	var out []schemas.DrainedAttempt
	for len(out) < maxDrain && time.Until(deadline) > a.cfg.DeliveryTimeout+recordSlack {
		if !a.holds(ctx, holder) {
			break // cancelled or queued again meanwhile: the lane is not ours
		}
		next, fresh, err := a.store.NextFresh(ctx, endpointID, lane, seq)
		if err != nil {
			log.Warn("drain: find the next delivery", "err", err)
			break
		}
		if !fresh {
			break
		}
		job, err := a.store.LoadDelivery(ctx, next.AppID, next.EventID, endpointID)
		if err != nil || job.Status != schemas.DeliveryPending || job.Seq != next.Seq ||
			job.EndpointGone || job.Endpoint.Disabled || job.Endpoint.RateLimitPerSecond > 0 {
			break
		}
		t, moved, err := a.try(ctx, job, store.DrainKey(next.Seq), job.Gen)
		if err != nil || !moved {
			break // the activity is ending (the attempt is on record as interrupted), or the delivery may not go
		}
		started, dur, ans := t.started, t.dur, t.ans
		end := a.now()
		ok := ans.ok()
		rec := store.AttemptRecord{AppID: next.AppID, EventID: next.EventID, EndpointID: endpointID,
			StartedAt: started, DurationMS: dur.Milliseconds(), ResponseStatus: ans.status,
			Error: ans.errText, ResponseBody: ans.body, Status: schemas.DeliveryPending,
			Key: store.DrainKey(next.Seq), Gen: job.Gen, Attempt: t.n}
		if ok {
			rec.Status, rec.FinishedAt, rec.Outcome = schemas.DeliverySucceeded, &end, schemas.OutcomeSucceeded
		}
		got, err := a.store.RecordAttemptOf(ctx, rec)
		if err != nil {
			log.Error("drain: record attempt", "event", next.EventID, "err", err)
			break
		}
		if ans.status != http.StatusGone {
			if _, err := a.store.NoteEndpointResult(ctx, endpointID, ok, end, a.cfg.DisableAfter); err != nil {
				log.Error("note endpoint result for auto-disable", "err", err)
			}
		}
		out = append(out, schemas.DrainedAttempt{EventID: next.EventID, Attempt: ans.attempt(got.Attempt, started, rec.DurationMS)})
		if !ok || !got.Applied {
			break
		}
		if a.metrics != nil {
			a.metrics.DeliveryFinished(schemas.OutcomeSucceeded)
		}
		seq = next.Seq
	}
	return out
}

// holds reports whether the drain's holder still holds its lane: it is
// delivering, at the seq and generation it was loaded with.
func (a *Activities) holds(ctx context.Context, holder store.DeliveryJob) bool {
	st, seq, err := a.store.DeliveryState(ctx, holder.Event.AppID, holder.Event.ID, holder.Endpoint.ID)
	return err == nil && st == schemas.DeliveryDelivering && seq == holder.Seq
}

// deadline is when the running activity times out: the SDK runs a timed-out
// activity again, so no work may be started that could outlast it.
func (a *Activities) deadline(ctx context.Context) time.Time {
	if activity.IsActivity(ctx) {
		if d := activity.GetInfo(ctx).Deadline; !d.IsZero() {
			return d
		}
	}
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	// Called outside an activity (tests): as if its timeout were the
	// delivery timeout plus the workflows' slack.
	return time.Now().Add(a.cfg.DeliveryTimeout + 10*time.Second)
}

// adopt takes a drained attempt as this call's attempt: the drain could not
// know the delivery's retry schedule, so its outcome is decided here.
// Retry-After is not kept with a drained attempt: the schedule's delay holds.
func (a *Activities) adopt(ctx context.Context, req schemas.DeliverRequest, prior store.RecordedAttempt) (schemas.DeliverResult, error) {
	res := schemas.DeliverResult{EndpointID: req.EndpointID}
	at := prior.Attempt
	ans := answer{status: at.ResponseStatus, body: at.ResponseBody, errText: at.Error}
	rec := store.AttemptRecord{AppID: req.AppID, EventID: req.EventID, EndpointID: req.EndpointID}
	end := at.StartedAt.Add(time.Duration(at.DurationMS) * time.Millisecond)
	a.classify(req, ans, end, &res, &rec)
	if res.Outcome == schemas.OutcomeRetry {
		// The wait runs from the drained attempt, not from now.
		res.RetryIn = max(rec.NextAttemptAt.Sub(a.now()), 0)
		rec.RetryIn = res.RetryIn
	}
	rec.Gen = req.Gen
	got, eventStatus, found, err := a.store.AdoptAttempt(ctx, rec, store.DrainKey(req.Seq))
	if err != nil {
		return res, err
	}
	if !found {
		return res, fmt.Errorf("adopt drained attempt of event %s to %s: it is gone", req.EventID, req.EndpointID)
	}
	res.EventStatus, res.Attempt = eventStatus, &got
	log := a.log.With("app", req.AppID, "event", req.EventID, "endpoint", req.EndpointID, "attempt", got.Attempt)
	a.afterAttempt(ctx, req, ans, end, &res, log, false)
	return res, nil
}
