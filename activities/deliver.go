package activities

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// DisabledReasonGone is the disabled_reason of an endpoint that answered 410.
const DisabledReasonGone = "gone"

// Deliver makes one attempt of a delivery, unless the delivery is already
// final, queued again under another generation (superseded), gone or its
// endpoint deleted or disabled (cancelled) or its rate limit says wait
// (throttled). The attempt is recorded; an HTTP failure is a recorded
// attempt, not an error. Errors are the store's, and the activity is
// retried on them; a delivery deleted meanwhile is an outcome, never an
// error, so a deleted app or endpoint ends its waiting workflows.
//
// An ordered delivery's request may also ask for its turn first
// (AwaitTurn) and to pass the turn when it ends (PassTurn): see
// awaitTurnFirst and passTurnAfter in lanes.go.
func (a *Activities) Deliver(ctx context.Context, req schemas.DeliverRequest) (schemas.DeliverResult, error) {
	if req.AwaitTurn > 0 {
		turn, err := a.awaitTurnFirst(ctx, req)
		if err != nil {
			return schemas.DeliverResult{EndpointID: req.EndpointID}, err
		}
		if !turn.Go {
			return schemas.DeliverResult{EndpointID: req.EndpointID, Turn: &turn}, nil
		}
	}
	res, err := a.deliver(ctx, req)
	if schemas.IsNotFound(err) {
		res = schemas.DeliverResult{EndpointID: req.EndpointID, Outcome: schemas.OutcomeCancelled,
			Reason: "the delivery no longer exists: " + err.Error()}
		err = nil
	}
	if err == nil && req.PassTurn {
		a.passTurnAfter(ctx, req, &res)
	}
	return res, err
}

func (a *Activities) deliver(ctx context.Context, req schemas.DeliverRequest) (schemas.DeliverResult, error) {
	res := schemas.DeliverResult{EndpointID: req.EndpointID}
	job, err := a.store.LoadDelivery(ctx, req.AppID, req.EventID, req.EndpointID)
	if err != nil {
		return res, err
	}
	if job.Attempts > 0 && req.Key != "" { // a fresh delivery has nothing to find
		if done, err := a.rerun(ctx, req, job, &res); done || err != nil {
			return res, err
		}
	}
	if job.Status.Final() {
		res.Outcome, res.Reason = schemas.OutcomeOfFinal(job.Status), "the delivery is already "+string(job.Status)
		res.EventStatus, err = a.eventStatus(ctx, req, job.Status)
		return res, err
	}
	if why := superseded(req, job); why != "" {
		res.Outcome, res.Reason = schemas.OutcomeSuperseded, why
		return res, nil
	}
	// A drain may have made this delivery's first attempt: the delivery
	// adopts it as the attempt this call would make. A success is a drain's
	// heir's, and stands whatever came since, a disable too.
	var prior store.RecordedAttempt
	found := false
	if req.Seq > 0 && job.Attempts > 0 {
		if prior, found, err = a.store.AttemptByKey(ctx, req.AppID, req.EventID, req.EndpointID, store.DrainKey(req.Seq)); err != nil {
			return res, err
		}
	}
	if found && prior.Outcome == schemas.OutcomeSucceeded {
		return a.adopt(ctx, req, job, prior)
	}
	if job.EndpointGone || job.Endpoint.Disabled {
		reason := "the endpoint was deleted"
		if !job.EndpointGone {
			reason = "the endpoint is disabled"
			if job.Endpoint.DisabledReason != "" {
				reason += " (" + job.Endpoint.DisabledReason + ")"
			}
		}
		return a.cancel(ctx, req, reason)
	}
	if found && prior.Outcome == schemas.OutcomeInFlight {
		if wait := a.underWay(prior); wait > 0 {
			// The drain may still be POSTing it (its holder lost the lane
			// to a replay meanwhile, say).
			return a.stillUnderWay(req, prior, wait), nil
		}
		// The drain's process died during the POST: on record as
		// interrupted, and this call attempts again.
		if err := a.store.ReleaseInterrupted(ctx, req.AppID, req.EventID, req.EndpointID, prior.Attempt.Attempt, 0); err != nil {
			return res, err
		}
	} else if found {
		return a.adopt(ctx, req, job, prior)
	}
	if rate := job.Endpoint.RateLimitPerSecond; rate > 0 {
		wait, err := a.store.TakeRateToken(ctx, req.EndpointID, rate, a.now())
		if err != nil {
			return res, err
		}
		if wait > 0 {
			res.Outcome, res.RetryIn = schemas.OutcomeThrottled, wait
			res.Reason = fmt.Sprintf("rate limit of %d/s", rate)
			return res, nil
		}
	}
	return a.attempt(ctx, req, job)
}

// superseded says why a request is for an older queueing of its delivery
// than the stored one (a replay or recover queued it again), or "".
func superseded(req schemas.DeliverRequest, job store.DeliveryJob) string {
	if req.Seq > 0 && job.Seq != req.Seq {
		return fmt.Sprintf("the delivery was queued again (seq %d, not %d)", job.Seq, req.Seq)
	}
	if req.Gen > 0 && job.Gen != req.Gen {
		return fmt.Sprintf("the delivery was queued again (generation %d, not %d)", job.Gen, req.Gen)
	}
	return ""
}

// rerun answers a request whose attempt was already made: the workflow task
// that ran it failed and runs again, so it answers what the attempt did
// rather than POST a second time. done is false when no attempt has the key.
func (a *Activities) rerun(ctx context.Context, req schemas.DeliverRequest, job store.DeliveryJob, res *schemas.DeliverResult) (bool, error) {
	prior, found, err := a.store.AttemptByKey(ctx, req.AppID, req.EventID, req.EndpointID, req.AttemptKey())
	if err != nil || !found {
		return false, err
	}
	if prior.Outcome == schemas.OutcomeInFlight {
		if wait := a.underWay(prior); wait > 0 {
			// The run whose workflow task failed may still be POSTing.
			*res = a.stillUnderWay(req, prior, wait)
			return true, nil
		}
		// Its process died during the POST: the attempt goes on record as
		// interrupted, and this call makes it again under the same key.
		return false, a.store.ReleaseInterrupted(ctx, req.AppID, req.EventID, req.EndpointID, prior.Attempt.Attempt, 0)
	}
	at := prior.Attempt
	res.Outcome, res.RetryIn, res.Attempt = prior.Outcome, prior.RetryIn, &at
	res.Reason = "attempt " + req.AttemptKey() + " was already made"
	if superseded(req, job) != "" {
		res.Outcome = schemas.OutcomeSuperseded
		return true, nil
	}
	if end, ok := prior.Outcome.Ends(); ok {
		// The attempt's end stands; a success recorded before its drain
		// (the holder of an ordered lane) is made final here.
		res.EventStatus, _, err = a.store.FinishDelivery(ctx, req.AppID, req.EventID, req.EndpointID, req.Gen,
			end, a.now())
	}
	return true, err
}

// underWay is how much longer an attempt noted in flight may still be
// running: its POST ends within the delivery timeout, and its record
// follows. Until then the note may be a live attempt's (a drain still
// under way, or the run of a local activity whose workflow task timed
// out), not a dead process's: taking it over would POST twice. A note that
// names its process (production: store.WithProcess) is a dead one's once
// that process stops beating, which comes sooner; while it beats, the
// answer is asked for again within a lapse, as it may die meanwhile.
// `herald dev` marks a dead process's notes interrupted as it starts
// (store.RecoverAfterCrash), so it never waits here.
func (a *Activities) underWay(prior store.RecordedAttempt) time.Duration {
	wait := prior.Attempt.StartedAt.Add(a.cfg.DeliveryTimeout + recordSlack).Sub(a.now())
	switch prior.Owner {
	case store.OwnerGone:
		return 0
	case store.OwnerAlive:
		return min(wait, store.ProcessLapse)
	}
	return wait
}

// stillUnderWay is the answer to a request whose attempt an earlier call
// may still be making: no attempt, ask again in wait.
func (a *Activities) stillUnderWay(req schemas.DeliverRequest, prior store.RecordedAttempt, wait time.Duration) schemas.DeliverResult {
	return schemas.DeliverResult{EndpointID: req.EndpointID, Outcome: schemas.OutcomeThrottled, RetryIn: wait,
		Reason: fmt.Sprintf("attempt %d, started %s, may still be under way", prior.Attempt.Attempt,
			prior.Attempt.StartedAt.Format(time.RFC3339Nano))}
}

// attempt makes an attempt (try), records it and applies what it says. An
// ordered success first drains the lane behind it.
func (a *Activities) attempt(ctx context.Context, req schemas.DeliverRequest, job store.DeliveryJob) (schemas.DeliverResult, error) {
	res := schemas.DeliverResult{EndpointID: req.EndpointID}
	t, moved, err := a.try(ctx, job, req.AttemptKey(), req.Gen)
	if err != nil {
		return res, err
	}
	if !moved {
		// A cancel or a re-queue came after the load: no attempt may start.
		st, _, err := a.store.DeliveryState(ctx, req.AppID, req.EventID, req.EndpointID)
		if err != nil {
			return res, err
		}
		res.Outcome, res.Reason = schemas.OutcomeSuperseded, "the delivery was queued again before the attempt"
		if st.Final() {
			res.Outcome, res.Reason = schemas.OutcomeOfFinal(st), "the delivery became "+string(st)+" before the attempt"
		}
		return res, nil
	}
	ans := t.ans
	rec, end := a.recordOf(req, t, &res)
	drain := res.Outcome == schemas.OutcomeSucceeded && req.Seq > 0 && job.Endpoint.RateLimitPerSecond == 0 &&
		a.queuedBehind(ctx, job)
	if drain {
		// Recorded at once, so that an activity that times out while
		// draining is answered from the store when it runs again, not POSTed
		// twice; the row stays delivering, so the lane stays held.
		rec.Status, rec.FinishedAt = schemas.DeliveryDelivering, nil
	}
	// The endpoint's failure streak is kept in the record's transaction
	// (none for a 410, which disables the endpoint instead: afterAttempt).
	var health []store.EndpointResult
	if ans.status != http.StatusGone {
		health = []store.EndpointResult{{EndpointID: req.EndpointID, OK: ans.ok(), At: end}}
	}
	var got []store.Recorded
	err = a.persist(ctx, "record attempt", func() (err error) {
		got, err = a.store.RecordAttempts(ctx, []store.AttemptRecord{rec}, health)
		return err
	})
	if err != nil {
		return res, err
	}
	if got[0].Gone {
		return schemas.DeliverResult{EndpointID: req.EndpointID, Outcome: schemas.OutcomeCancelled,
			Reason: "the delivery no longer exists"}, nil
	}
	log := a.recorded(req, t, rec, got[0], &res)
	if !got[0].Applied {
		return res, nil
	}
	if drain {
		if err := a.drainThenFinish(ctx, req, job, end, &res, log); err != nil {
			return res, err
		}
	}
	a.afterAttempt(ctx, req, ans, end, &res, log, a.disableIfFailing(ctx, req.EndpointID, ans, end))
	return res, nil
}

// drainThenFinish drains the lane behind job, whose success is on record
// with the delivery still delivering (holding its lane), then makes the
// delivery succeeded.
func (a *Activities) drainThenFinish(ctx context.Context, req schemas.DeliverRequest, job store.DeliveryJob, end time.Time,
	res *schemas.DeliverResult, log *slog.Logger) error {
	// The drain's writes follow one another, each waiting for the one
	// before, while the lane stands still: they go first on SQLite's one
	// writer. Only the drain's: with every ordered delivery's first, a
	// hundred lanes kept the accepts waiting.
	ctx = store.Urgent(ctx)
	res.Drained = a.drain(ctx, job)
	st, done, err := a.store.FinishDelivery(ctx, req.AppID, req.EventID, req.EndpointID, req.Gen,
		schemas.DeliverySucceeded, end)
	if err != nil {
		log.Error("record the end of a drained lane's head (its re-run will)", "err", err)
		return err
	}
	res.EventStatus = st
	if !done {
		res.Outcome, res.Reason = schemas.OutcomeSuperseded, "the delivery was queued again during the drain"
	}
	return nil
}

// queuedBehind reports whether a fresh delivery waits right behind job in
// its lane, for a drain to make. When none does, a success is recorded
// final at once: one write, where holding the lane through an empty drain
// took two. One queued just after the look waits for the turn this
// delivery's end passes. A failed look drains, as before it was asked.
func (a *Activities) queuedBehind(ctx context.Context, job store.DeliveryJob) bool {
	_, fresh, err := a.store.NextFresh(ctx, job.Endpoint.ID, job.Lane, job.Seq)
	return fresh || err != nil
}

// disableIfFailing is the auto-disable check after an attempt whose
// failure streak was kept with its record: a failure that has lasted
// DisableAfter disables the endpoint.
func (a *Activities) disableIfFailing(ctx context.Context, endpointID string, ans answer, end time.Time) func() (bool, error) {
	return func() (bool, error) {
		if ans.ok() {
			return false, nil
		}
		return a.store.DisableIfFailing(ctx, endpointID, end, a.cfg.DisableAfter)
	}
}

// persist runs write, the record of a POST already made, again when the
// store fails, until it succeeds or the activity's deadline is near. An
// attempt whose record failed stays noted in flight, and the delivery's
// workflow makes it again once the note may no longer be a live attempt's:
// a second POST of what the receiver already has, for a store that was
// away for a moment (a busy SQLite writer, a Postgres failover). Only an
// outage that outlasts the activity still costs one.
func (a *Activities) persist(ctx context.Context, what string, write func() error) error {
	deadline := a.deadline(ctx).Add(-time.Second)
	pause := 50 * time.Millisecond
	for {
		err := write()
		if err == nil || schemas.IsNotFound(err) || ctx.Err() != nil || time.Now().Add(pause).After(deadline) {
			return err
		}
		a.log.Warn(what+": the store failed, trying again", "in", pause, "err", err)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return err
		}
		pause = min(2*pause, time.Second)
	}
}

// recordOf is the record of attempt t, classified (the outcome into res),
// and the time it ended.
func (a *Activities) recordOf(req schemas.DeliverRequest, t tried, res *schemas.DeliverResult) (store.AttemptRecord, time.Time) {
	rec := store.AttemptRecord{AppID: req.AppID, EventID: req.EventID, EndpointID: req.EndpointID,
		StartedAt: t.started, DurationMS: t.dur.Milliseconds(), ResponseStatus: t.ans.status,
		Error: t.ans.errText, ResponseBody: t.ans.body, Gen: req.Gen, Attempt: t.n}
	end := a.now()
	a.classify(req, t.ans, end, res, &rec)
	return rec, end
}

// recorded puts what recording attempt t (as rec) did into res, and
// returns the attempt's logger. An attempt that did not apply was of an
// older queueing of its delivery: res says superseded, it goes again.
func (a *Activities) recorded(req schemas.DeliverRequest, t tried, rec store.AttemptRecord, got store.Recorded,
	res *schemas.DeliverResult) *slog.Logger {
	res.EventStatus = got.EventStatus
	at := t.ans.attempt(got.Attempt, t.started, rec.DurationMS)
	res.Attempt = &at
	log := a.log.With("app", req.AppID, "event", req.EventID, "endpoint", req.EndpointID, "attempt", got.Attempt)
	log.Debug("delivery attempt", "status", t.ans.status, "error", t.ans.errText, "duration", t.dur, "outcome", res.Outcome)
	if !got.Applied {
		// Queued again while the attempt was under way: it goes again.
		res.Outcome, res.RetryIn = schemas.OutcomeSuperseded, 0
		res.Reason = "the delivery was queued again during the attempt; " + res.Reason
	}
	return log
}

// classify decides what an answer means for the delivery: the outcome, the
// delivery's status after it and, for a retry, when the next attempt is.
func (a *Activities) classify(req schemas.DeliverRequest, ans answer, end time.Time, res *schemas.DeliverResult, rec *store.AttemptRecord) {
	switch {
	case ans.ok():
		res.Outcome, rec.Status, rec.FinishedAt = schemas.OutcomeSucceeded, schemas.DeliverySucceeded, &end
	case ans.status == http.StatusGone:
		res.Outcome, rec.Status, rec.FinishedAt = schemas.OutcomeFailed, schemas.DeliveryFailed, &end
		res.Reason = "the endpoint answered 410 Gone: it is disabled"
	case req.NextDelay <= 0:
		res.Outcome, rec.Status, rec.FinishedAt = schemas.OutcomeFailed, schemas.DeliveryFailed, &end
		res.Reason = ans.describe() + "; that was the last attempt"
	default:
		res.RetryIn = retryIn(req.NextDelay, ans.status, ans.retryAfter, end)
		next := end.Add(res.RetryIn)
		res.Outcome, rec.Status, rec.NextAttemptAt = schemas.OutcomeRetry, schemas.DeliveryPending, &next
		res.Reason = ans.describe()
	}
	rec.Key, rec.Outcome, rec.RetryIn = req.AttemptKey(), res.Outcome, res.RetryIn
}

// afterAttempt applies what a recorded attempt says about the endpoint: a
// 410 disables it; otherwise note, when not nil, says whether the failure
// streak (kept with the record) has now disabled it (nil: a drained attempt,
// whose drain did that). From here a store error is logged, not returned,
// since a retried activity would POST again.
func (a *Activities) afterAttempt(ctx context.Context, req schemas.DeliverRequest, ans answer, end time.Time,
	res *schemas.DeliverResult, log *slog.Logger, note func() (bool, error)) {
	if ans.status == http.StatusGone {
		if err := a.store.DisableEndpoint(ctx, req.AppID, req.EndpointID, DisabledReasonGone, end); err != nil {
			log.Error("disable endpoint that answered 410 Gone (its next 410 will)", "err", err)
		} else {
			log.Warn("endpoint answered 410 Gone: disabled")
		}
	} else if note != nil {
		disabled, err := note()
		if err != nil {
			log.Error("note endpoint result for auto-disable", "err", err)
		}
		if disabled {
			log.Warn("endpoint disabled: every delivery failed", "for_at_least", a.cfg.DisableAfter)
			if res.Outcome == schemas.OutcomeRetry {
				// Disabling cancelled this delivery's retry.
				res.Outcome, res.RetryIn = schemas.OutcomeCancelled, 0
				res.Reason = fmt.Sprintf("%s; the endpoint is disabled: every delivery failed for %s", res.Reason, a.cfg.DisableAfter)
				if st, err := a.eventStatus(ctx, req, schemas.DeliveryCancelled); err == nil {
					res.EventStatus = st
				}
			}
		}
	}
	if a.metrics != nil && res.Outcome != schemas.OutcomeRetry {
		a.metrics.DeliveryFinished(res.Outcome)
	}
}

// cancel makes a delivery cancelled without an attempt, if it is still of
// the request's generation: a replay accepted since the delivery was loaded
// (after an enable, say) is the newer generation's to deliver, not this
// cancel's to end.
func (a *Activities) cancel(ctx context.Context, req schemas.DeliverRequest, reason string) (schemas.DeliverResult, error) {
	st, done, err := a.store.FinishDelivery(ctx, req.AppID, req.EventID, req.EndpointID, req.Gen,
		schemas.DeliveryCancelled, a.now())
	if err != nil {
		return schemas.DeliverResult{EndpointID: req.EndpointID}, err
	}
	if !done {
		// Final meanwhile, or queued again under a newer generation.
		cur, _, err := a.store.DeliveryState(ctx, req.AppID, req.EventID, req.EndpointID)
		if err != nil {
			return schemas.DeliverResult{EndpointID: req.EndpointID}, err
		}
		res := schemas.DeliverResult{EndpointID: req.EndpointID, Outcome: schemas.OutcomeSuperseded, EventStatus: st,
			Reason: "the delivery was queued again before it could be cancelled (" + reason + ")"}
		if cur.Final() {
			res.Outcome, res.Reason = schemas.OutcomeOfFinal(cur), "the delivery became "+string(cur)+" meanwhile"
		}
		return res, nil
	}
	if a.metrics != nil {
		a.metrics.DeliveryFinished(schemas.OutcomeCancelled)
	}
	return schemas.DeliverResult{Outcome: schemas.OutcomeCancelled, EndpointID: req.EndpointID,
		Reason: reason, EventStatus: st}, nil
}

// eventStatus is the event's status, recomputed; it changes no delivery.
func (a *Activities) eventStatus(ctx context.Context, req schemas.DeliverRequest, status schemas.DeliveryStatus) (schemas.EventStatus, error) {
	return a.store.SetDeliveryStatus(ctx, req.AppID, req.EventID, []string{}, status, a.now())
}
