package activities

import (
	"context"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

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
		moved, err := a.store.MarkDelivering(ctx, next.AppID, next.EventID, endpointID, job.Gen)
		if err != nil || !moved {
			break
		}
		started, t0 := a.now(), time.Now()
		ans, err := a.post(ctx, job, started)
		dur := time.Since(t0)
		if err != nil {
			break // the activity is ending; the delivery's own workflow makes the attempt
		}
		if a.metrics != nil {
			a.metrics.Attempt(ans.status, dur)
		}
		end := a.now()
		ok := ans.ok()
		rec := store.AttemptRecord{AppID: next.AppID, EventID: next.EventID, EndpointID: endpointID,
			StartedAt: started, DurationMS: dur.Milliseconds(), ResponseStatus: ans.status,
			Error: ans.errText, ResponseBody: ans.body, Status: schemas.DeliveryPending,
			Key: store.DrainKey(next.Seq), Gen: job.Gen}
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
