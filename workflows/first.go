package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

// firstTogether is the workflow.GetVersion change of the first attempts of
// a run's unordered targets made in one local activity (DeliverFirst)
// rather than one each. Runs started before it keep one per target. Runs
// started since EventWorkflowInput.FirstTogether do not ask.
const firstTogether = "first-attempts-together"

// firstAttempts is the DeliverFirst call making the first attempts of a
// run's unordered targets. Each delivery coroutine takes its own result
// from it and goes on from there as after its own Deliver call: its
// retries, waits and status are its own.
type firstAttempts struct {
	fut  workflow.Future
	at   map[*delivery]int // delivery -> its place in the request
	res  schemas.DeliverFirstResult
	err  error
	done bool
}

// startFirst starts the first attempts of the run's unordered deliveries in
// one local activity, when there are two or more and no signal is waiting
// (a cancel or replay waiting is handled first and may stop a delivery
// before its attempt: those runs keep one call per attempt). Called once,
// right after the run's first targets were started and before any of
// their coroutines ran.
//
// Why: a local activity costs the run a marker event, and the worker a
// goroutine handshake, per call; for an event fanned out to ten endpoints
// the ten first attempts were most of its history. The attempts still run
// concurrently, each recorded under its own delivery.
func (r *eventRun) startFirst(ctx workflow.Context, signalWaiting bool) *firstAttempts {
	if signalWaiting {
		return nil
	}
	var ds []*delivery
	for _, d := range r.all {
		if !d.target.Ordered && d.prev == nil && d.stopped == running {
			ds = append(ds, d)
		}
	}
	if len(ds) < 2 {
		return nil // one target: the shape of one Deliver call is as cheap, and unchanged
	}
	if !r.in.FirstTogether && workflow.GetVersion(ctx, firstTogether, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	var next time.Duration
	if len(r.in.RetrySchedule) > 0 {
		next = r.in.RetrySchedule[0]
	}
	f := &firstAttempts{at: make(map[*delivery]int, len(ds))}
	var req schemas.DeliverFirstRequest
	for _, d := range ds {
		f.at[d] = len(req.Requests)
		req.Requests = append(req.Requests, r.deliverRequest(ctx, d, 0, next))
	}
	actx, _ := workflow.NewDisconnectedContext(ctx)
	opts := deliverOptions(r.in.DeliveryTimeout, "")
	opts.Summary = fmt.Sprintf("first attempts to %d endpoints", len(ds))
	f.fut = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(actx, opts), schemas.ActivityDeliverFirst, req)
	return f
}

// holds reports whether attempt i of d is made by f, so that it is taken
// even when d was stopped meanwhile: the attempt is under way.
func (f *firstAttempts) holds(d *delivery, i int) bool {
	if f == nil || i != 0 {
		return false
	}
	_, ok := f.at[d]
	return ok
}

// take waits for attempt i of d when f makes it, and returns its result.
// made is false when f does not make it, or when DeliverFirst failed or
// its Deliver returned an error for d: the caller then calls Deliver for
// the attempt under the same key, which answers from the record an
// attempt that was made.
func (f *firstAttempts) take(ctx workflow.Context, d *delivery, i int, logger log.Logger) (res schemas.DeliverResult, made bool) {
	if !f.holds(d, i) {
		return res, false
	}
	if !f.done {
		// Every coroutine of the call waits here; only the first to wake
		// decodes the result, which lists every target's. Each decoding it
		// cost an event fanned out to ten endpoints ten decodes of ten
		// results, 3% of the process's CPU.
		_ = f.fut.Get(ctx, nil)
		if !f.done {
			var got schemas.DeliverFirstResult
			err := f.fut.Get(ctx, &got)
			f.res, f.err, f.done = got, err, true
		}
	}
	pos := f.at[d]
	delete(f.at, d)
	if f.err != nil {
		logger.Warn("first attempts failed together, calling alone", "endpoint", d.target.EndpointID, "error", f.err)
		return res, false
	}
	if pos >= len(f.res.Results) {
		logger.Error("first attempts answered too few results, calling alone", "endpoint", d.target.EndpointID,
			"results", len(f.res.Results))
		return res, false
	}
	item := f.res.Results[pos]
	if item.Error != "" {
		logger.Warn("first attempt failed, calling alone", "endpoint", d.target.EndpointID, "error", item.Error)
		return res, false
	}
	return item.Result, true
}
