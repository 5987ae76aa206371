package activities

import (
	"context"
	"net/http"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// How much a turn holder delivers for the deliveries queued behind it
// before it lets the turn go: enough to make a backlog cheap, little enough
// that one activity stays short.
const (
	maxDrain    = 512
	drainBudget = 5 * time.Second
)

// drain delivers, in order, the deliveries queued behind an ordered
// delivery (seq) that has just succeeded and is not yet recorded, so that it
// still holds the endpoint's turn and no other workflow may go. Without it
// each queued delivery costs a hand-off through Temporal (a signal and a
// workflow task) before its POST; with it, a backlog goes out at the speed
// of the endpoint, each attempt recorded under its own event.
//
// It stops at the first delivery that is not fresh (already tried, or not
// pending), or whose attempt fails: that delivery's own workflow adopts the
// failed attempt when its turn comes and goes on with its retry schedule.
// A drained delivery's workflow is not signalled: that would cost a Temporal
// write and a workflow task per delivery. It was most likely started with a
// delay that outlasts the drain (dispatch.Start), so its first task finds the
// delivery done; otherwise its turn re-check does.
func (a *Activities) drain(ctx context.Context, holder store.DeliveryJob, seq int64) []schemas.DrainedAttempt {
	if holder.Endpoint.RateLimitPerSecond > 0 {
		return nil
	}
	endpointID := holder.Endpoint.ID
	log := a.log.With("endpoint", endpointID)
	var out []schemas.DrainedAttempt
	start := time.Now()
	for len(out) < maxDrain && time.Since(start) < drainBudget {
		next, fresh, err := a.store.NextFresh(ctx, endpointID, seq)
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
		if err := a.store.MarkDelivering(ctx, next.AppID, next.EventID, endpointID); err != nil {
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
			Error: ans.errText, ResponseBody: ans.body, Status: schemas.DeliveryPending, Key: store.DrainKey(next.Seq)}
		if ok {
			rec.Status, rec.FinishedAt, rec.Outcome = schemas.DeliverySucceeded, &end, schemas.OutcomeSucceeded
		}
		n, _, err := a.store.RecordAttempt(ctx, rec)
		if err != nil {
			log.Error("drain: record attempt", "event", next.EventID, "err", err)
			break
		}
		if ans.status != http.StatusGone {
			if _, err := a.store.NoteEndpointResult(ctx, endpointID, ok, end, a.cfg.DisableAfter); err != nil {
				log.Error("note endpoint result for auto-disable", "err", err)
			}
		}
		out = append(out, schemas.DrainedAttempt{EventID: next.EventID, Attempt: ans.attempt(n, started, rec.DurationMS)})
		if !ok {
			break
		}
		if a.metrics != nil {
			a.metrics.DeliveryFinished(schemas.OutcomeSucceeded)
		}
		seq = next.Seq
	}
	return out
}
