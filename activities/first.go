package activities

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// DeliverFirst makes the first attempts of one event's unordered deliveries
// together, so the event costs its workflow one local activity, and one
// history marker, instead of one per endpoint. The common case, a fresh
// delivery (see fresh), is noted in flight for all of them in one store
// transaction before the POSTs and recorded in one after them: on SQLite
// each transaction is a turn of the one write connection, which ten
// endpoints' attempts otherwise wait for four times each. Every other
// request goes through Deliver on its own goroutine, as a delivery's later
// attempts do. Each attempt is still its own (its own load, SSRF guard,
// signature, POST, number and key, recorded under its own delivery), and
// each result means what Deliver would have answered. It never fails as a
// whole: a request that met an error carries it, and the workflow calls
// Deliver for that one again under the same key.
func (a *Activities) DeliverFirst(ctx context.Context, req schemas.DeliverFirstRequest) (schemas.DeliverFirstResult, error) {
	out := schemas.DeliverFirstResult{Results: make([]schemas.DeliverFirstItem, len(req.Requests))}
	jobs := a.loadAll(ctx, req.Requests)
	var alone, together sync.WaitGroup
	deliver := func(i int) {
		alone.Add(1)
		go func() {
			defer alone.Done()
			defer guard(&out.Results[i], req.Requests[i].EndpointID)
			res, err := a.Deliver(ctx, req.Requests[i])
			out.Results[i].Result = res
			if err != nil {
				out.Results[i].Error = err.Error()
			}
		}()
	}
	var fresh []int
	for i, r := range req.Requests {
		if jobs[i].err == nil && isFresh(r, jobs[i].job) {
			fresh = append(fresh, i)
		} else {
			deliver(i)
		}
	}
	moved := a.beginAll(ctx, req.Requests, jobs, fresh)
	var sent []int
	for _, i := range fresh {
		if !moved[i] {
			deliver(i) // changed since its load: Deliver says how
			continue
		}
		sent = append(sent, i)
		together.Add(1)
		go func() {
			defer together.Done()
			defer guard(&out.Results[i], req.Requests[i].EndpointID)
			if err := a.send(ctx, jobs[i].job, &jobs[i].t); err != nil {
				out.Results[i].Result.EndpointID = req.Requests[i].EndpointID
				out.Results[i].Error = err.Error()
				jobs[i].failed = true
			}
		}()
	}
	together.Wait()
	a.recordAll(ctx, req.Requests, jobs, sent, out.Results)
	alone.Wait()
	return out, ctx.Err()
}

// firstJob is one request of DeliverFirst on its way.
type firstJob struct {
	job    store.DeliveryJob
	err    error // its load's
	t      tried
	failed bool // its POST ended in an error, carried by its result
}

// isFresh reports whether a request is the common first attempt that
// DeliverFirst makes together with others: the delivery has no attempt
// yet, is pending under the request's generation, unordered, and its
// endpoint is there, enabled and without a rate limit. These are the
// requests for which Deliver goes straight to its attempt.
func isFresh(req schemas.DeliverRequest, job store.DeliveryJob) bool {
	return job.Attempts == 0 && job.Status == schemas.DeliveryPending && req.Seq == 0 &&
		superseded(req, job) == "" && !job.EndpointGone && !job.Endpoint.Disabled &&
		job.Endpoint.RateLimitPerSecond == 0
}

// loadAll loads every request's delivery: all in one read when they are
// one event's, as the workflow asks; otherwise one read each, concurrently.
func (a *Activities) loadAll(ctx context.Context, reqs []schemas.DeliverRequest) []firstJob {
	jobs := make([]firstJob, len(reqs))
	if oneEvent(reqs) {
		all, err := a.store.LoadDeliveries(ctx, reqs[0].AppID, reqs[0].EventID)
		for i, r := range reqs {
			job, ok := all[r.EndpointID]
			switch {
			case err != nil:
				jobs[i].err = err
			case !ok: // gone since (its app deleted): LoadDelivery says so
				jobs[i].job, jobs[i].err = a.store.LoadDelivery(ctx, r.AppID, r.EventID, r.EndpointID)
			default:
				jobs[i].job = job
			}
		}
		return jobs
	}
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jobs[i].job, jobs[i].err = a.store.LoadDelivery(ctx, r.AppID, r.EventID, r.EndpointID)
		}()
	}
	wg.Wait()
	return jobs
}

// oneEvent reports whether every request is a delivery of one event.
func oneEvent(reqs []schemas.DeliverRequest) bool {
	if len(reqs) == 0 {
		return false
	}
	for _, r := range reqs[1:] {
		if r.AppID != reqs[0].AppID || r.EventID != reqs[0].EventID {
			return false
		}
	}
	return true
}

// beginAll notes the attempts of the fresh requests in flight in one
// transaction, as try does for one (store.BeginAttempts), and says which
// may go. When the transaction fails none goes, and each goes through
// Deliver, which notes its own.
func (a *Activities) beginAll(ctx context.Context, reqs []schemas.DeliverRequest, jobs []firstJob, fresh []int) map[int]bool {
	moved := make(map[int]bool, len(fresh))
	if len(fresh) == 0 {
		return moved
	}
	started := a.now()
	starts := make([]store.AttemptStart, len(fresh))
	for k, i := range fresh {
		r := reqs[i]
		starts[k] = store.AttemptStart{AppID: r.AppID, EventID: r.EventID, EndpointID: r.EndpointID, Gen: r.Gen,
			Key: r.AttemptKey(), StartedAt: started}
	}
	begun, err := a.store.BeginAttempts(ctx, starts)
	if err != nil {
		a.log.Warn("begin first attempts together (each goes alone)", "event", reqs[fresh[0]].EventID, "err", err)
		return moved
	}
	for k, i := range fresh {
		jobs[i].t = tried{n: begun[k].N, started: started}
		moved[i] = begun[k].Moved
	}
	return moved
}

// recordAll records the sent attempts in one transaction (with their
// endpoints' failure streaks, store.RecordAttempts) and applies each as
// attempt does after its own RecordAttempts. A transaction that failed until the
// activity's deadline (persist) is each result's error: the workflow calls
// Deliver again under the key, which finds the attempt noted in flight.
func (a *Activities) recordAll(ctx context.Context, reqs []schemas.DeliverRequest, jobs []firstJob, sent []int,
	results []schemas.DeliverFirstItem) {
	var idx []int
	var recs []store.AttemptRecord
	var health []store.EndpointResult
	ends := make(map[int]time.Time, len(sent))
	for _, i := range sent {
		if jobs[i].failed || results[i].Error != "" {
			continue
		}
		res := &results[i].Result
		res.EndpointID = reqs[i].EndpointID
		rec, end := a.recordOf(reqs[i], jobs[i].t, res)
		idx, recs = append(idx, i), append(recs, rec)
		ends[i] = end
		if jobs[i].t.ans.status != http.StatusGone { // a 410 disables the endpoint instead (afterAttempt)
			health = append(health, store.EndpointResult{EndpointID: reqs[i].EndpointID, OK: jobs[i].t.ans.ok(), At: end})
		}
	}
	if len(recs) == 0 {
		return
	}
	var got []store.Recorded
	err := a.persist(ctx, "record first attempts", func() (err error) {
		got, err = a.store.RecordAttempts(ctx, recs, health)
		return err
	})
	for k, i := range idx {
		if err != nil {
			results[i].Result = schemas.DeliverResult{EndpointID: reqs[i].EndpointID}
			results[i].Error = err.Error()
			continue
		}
		a.applyRecorded(ctx, reqs[i], jobs[i].t, recs[k], got[k], ends[i], &results[i].Result)
	}
}

// applyRecorded finishes one attempt that recordAll recorded, as attempt
// finishes one it recorded: its record into res, then the 410 and
// auto-disable (whose streak RecordAttempts kept) and metrics.
func (a *Activities) applyRecorded(ctx context.Context, req schemas.DeliverRequest, t tried, rec store.AttemptRecord,
	got store.Recorded, end time.Time, res *schemas.DeliverResult) {
	if got.Gone {
		// What Deliver answers for a delivery deleted meanwhile.
		*res = schemas.DeliverResult{EndpointID: req.EndpointID, Outcome: schemas.OutcomeCancelled,
			Reason: "the delivery no longer exists"}
		return
	}
	log := a.recorded(req, t, rec, got, res)
	if !got.Applied {
		return
	}
	a.afterAttempt(ctx, req, t.ans, end, res, log, a.disableIfFailing(ctx, req.EndpointID, t.ans, end))
}

// guard makes a panic of one request's goroutine its error: Deliver alone
// would panic inside the SDK's local activity, which recovers; here the
// goroutine is ours.
func guard(item *schemas.DeliverFirstItem, endpointID string) {
	if p := recover(); p != nil {
		item.Error = fmt.Sprintf("deliver to %s panicked: %v", endpointID, p)
	}
}
