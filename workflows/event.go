package workflows

import (
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

// EventWorkflow delivers one event to each of its targets, one coroutine per
// target, every attempt a local activity and every wait a durable timer, so
// the event's whole delivery story is in its own history. It answers the
// status query and the cancel, replay and turn signals, and ends when every
// delivery is final and no signal is waiting. Registered as
// schemas.EventWorkflowName.
//
// A run may start with no targets: replay's SignalWithStart starts a new run
// whose targets come in the replay signal, handled in the first task.
func EventWorkflow(ctx workflow.Context, in schemas.EventWorkflowInput) error {
	r := &eventRun{
		in:           in,
		root:         ctx,
		logger:       workflow.GetLogger(ctx),
		status:       map[string]schemas.DeliveryStatus{},
		current:      map[string]*delivery{},
		turns:        map[string]int{},
		searchStatus: schemas.EventPending, // set by the starter
	}
	if err := workflow.SetQueryHandler(ctx, schemas.QueryStatus, r.view); err != nil {
		return err
	}
	cancelCh := workflow.GetSignalChannel(ctx, schemas.SignalCancel)
	replayCh := workflow.GetSignalChannel(ctx, schemas.SignalReplay)
	turnCh := workflow.GetSignalChannel(ctx, schemas.SignalTurn)

	for _, t := range in.Targets {
		r.start(ctx, t)
	}
	r.first = r.startFirst(ctx, cancelCh.Len() > 0 || replayCh.Len() > 0)
	for {
		err := workflow.Await(ctx, func() bool {
			return r.live == 0 || cancelCh.Len() > 0 || replayCh.Len() > 0 || turnCh.Len() > 0
		})
		if err != nil {
			return err // the run itself was cancelled through Temporal
		}
		// Draining here, before the run may end, is what keeps a signal
		// that came with the last result from being lost.
		handled := false
		for {
			var turn schemas.TurnSignal
			var replay schemas.ReplaySignal
			var cancel schemas.CancelSignal // zero for an operator's signal, which has no argument
			if turnCh.ReceiveAsync(&turn) {
				r.turns[turn.EndpointID]++ // wakes the delivery waiting at that endpoint
			} else if cancelCh.ReceiveAsync(&cancel) {
				r.cancel(ctx, cancel)
			} else if replayCh.ReceiveAsync(&replay) {
				r.replay(ctx, replay)
			} else {
				break
			}
			handled = true
		}
		if !handled && r.live == 0 {
			break
		}
	}
	r.setSearchStatus(ctx, r.eventStatus())
	return nil
}

// eventRun is the state of one run of the event workflow. Coroutines share it
// safely: workflow coroutines never run at the same time.
type eventRun struct {
	in     schemas.EventWorkflowInput
	root   workflow.Context
	logger log.Logger

	order   []string                          // endpoint ids in the order first seen: deterministic iteration
	status  map[string]schemas.DeliveryStatus // endpoint id -> delivery status as this run knows it
	current map[string]*delivery              // endpoint id -> its latest delivery coroutine
	all     []*delivery                       // every coroutine started, in start order
	live    int                               // coroutines not done

	turns         map[string]int // turn signals received per endpoint; a change wakes its waiting delivery
	cancelGen     int            // cancel signals received
	cancelApplied int            // cancel signals whose CancelDeliveries has returned

	searchStatus schemas.EventStatus // HeraldStatus as last set

	first *firstAttempts // the first attempts made together, if any (first.go)
}

// Why a delivery coroutine was stopped.
const (
	running = iota
	stoppedByCancel
	stoppedByReplay
)

// delivery is one coroutine delivering the event to one target.
type delivery struct {
	index     int // its place in eventRun.all: part of its attempts' keys
	target    schemas.Target
	cancel    workflow.CancelFunc
	prev      *delivery // the coroutine it replaces, which must end first
	stopped   int
	cancelGen int // the cancel signal that stopped it
	done      bool
	// endedElsewhere: the delivery was found final (or superseded) before
	// this coroutine made an attempt, so the turn is not its to pass.
	endedElsewhere bool
	// turnPassed: the Deliver call that ended it passed the turn.
	turnPassed bool
}

// start begins delivering to t, after the coroutine it replaces (if any) ends.
func (r *eventRun) start(ctx workflow.Context, t schemas.Target) {
	id := t.EndpointID
	if _, seen := r.status[id]; !seen {
		r.order = append(r.order, id)
	}
	r.status[id] = schemas.DeliveryPending
	r.setSearchStatus(ctx, schemas.EventPending)

	dctx, cancel := workflow.WithCancel(r.root)
	d := &delivery{index: len(r.all), target: t, cancel: cancel, prev: r.current[id]}
	if d.prev != nil && !d.prev.done && d.prev.stopped == running {
		d.prev.stopped = stoppedByReplay
		d.prev.cancel()
	}
	r.current[id] = d
	r.all = append(r.all, d)
	r.live++
	workflow.Go(dctx, func(ctx workflow.Context) { r.run(ctx, d) })
}

// run is the body of a delivery coroutine.
func (r *eventRun) run(ctx workflow.Context, d *delivery) {
	id := d.target.EndpointID
	if d.prev != nil {
		_ = workflow.Await(ctx, func() bool { return d.prev.done })
	}
	end := ended(schemas.DeliveryCancelled)
	if ctx.Err() == nil || r.first.holds(d, 0) {
		end = r.deliver(ctx, d)
	}
	if r.current[id] == d && !end.superseded {
		r.status[id] = end.status
	}
	// The turn passes whatever the end. A coroutine that found its delivery
	// ended elsewhere leaves it to whoever ended it (a drain, a newer
	// target), except a cancel: the API's cancel ends a delivery in the
	// store and passes no turn, and the coroutine its signal stopped may be
	// an older generation's, long done (changePassCancelledTurn).
	if d.target.Ordered && !d.turnPassed && (!d.endedElsewhere || (end.status == schemas.DeliveryCancelled &&
		workflow.GetVersion(ctx, changePassCancelledTurn, workflow.DefaultVersion, 1) >= 1)) {
		// The context may be cancelled.
		pctx, _ := workflow.NewDisconnectedContext(ctx)
		if d.stopped == stoppedByCancel {
			// The store must see this delivery cancelled before the head moves.
			_ = workflow.Await(pctx, func() bool { return r.cancelApplied >= d.cancelGen })
		}
		r.passTurn(pctx, id, d.target.Lane, d.target.Seq)
	}
	d.done = true
	r.live--
}

// cancel stops every running delivery the signal covers (no new attempt
// starts; an attempt already under way finishes, and a success stays a
// success), then marks the event's non-final deliveries it covers cancelled
// in the store. The API's signal carries what its cancel found; the store
// step may run after a replay accepted since has re-queued a delivery under
// a newer generation, which neither the step nor the stop may touch. An
// operator's signal carries nothing: it covers what this run knows now.
func (r *eventRun) cancel(ctx workflow.Context, sig schemas.CancelSignal) {
	r.cancelGen++
	for _, d := range r.all {
		if !d.done && d.stopped == running && sig.UpTo.Covers(d.target) {
			d.stopped, d.cancelGen = stoppedByCancel, r.cancelGen
			d.cancel()
		}
	}
	upTo := sig.UpTo
	if upTo == nil {
		upTo = r.known()
	}
	req := schemas.CancelRequest{AppID: r.in.AppID, EventID: r.in.EventID, UpTo: upTo}
	var res schemas.CancelResult
	if err := r.call(ctx, ctx, shortOptions(), schemas.ActivityCancelDeliveries, req, &res); err != nil {
		r.logger.Error("cancel deliveries", "error", err)
	}
	r.cancelApplied = r.cancelGen
}

// known is the generation of each delivery this run has a target for (the
// newest), leaving out targets from before generations.
func (r *eventRun) known() schemas.Generations {
	var g schemas.Generations
	for _, id := range r.order {
		if d := r.current[id]; d.target.Gen > 0 {
			if g == nil {
				g = schemas.Generations{}
			}
			g[id] = d.target.Gen
		}
	}
	return g
}

// replay delivers again to the signal's targets, or to those PrepareReplay
// re-queues when the signal carries none (an operator's signal). A replayed
// delivery starts afresh, whatever a cancel did before.
func (r *eventRun) replay(ctx workflow.Context, sig schemas.ReplaySignal) {
	targets := sig.Targets
	if len(targets) == 0 {
		req := schemas.PrepareReplayRequest{AppID: r.in.AppID, EventID: r.in.EventID, EndpointID: sig.EndpointID}
		if err := r.call(ctx, ctx, shortOptions(), schemas.ActivityPrepareReplay, req, &targets); err != nil {
			r.logger.Error("prepare replay", "endpoint", sig.EndpointID, "error", err)
			return
		}
	}
	r.logger.Info("replay", "endpoint", sig.EndpointID, "targets", len(targets))
	for _, t := range targets {
		if r.stale(t) && workflow.GetVersion(ctx, changeKeepNewerTarget, workflow.DefaultVersion, 1) >= 1 {
			continue
		}
		r.start(ctx, t)
	}
}

// changePassCancelledTurn: an ordered coroutine that finds its delivery
// cancelled before any attempt passes the lane's turn. Before it, the lane
// waited for its next delivery's re-check (up to 2 minutes).
const changePassCancelledTurn = "pass-cancelled-turn"

// changeKeepNewerTarget: a replay signal's target that is older than, or
// the same as, the one a running coroutine delivers is ignored. Before it,
// such a target replaced the coroutine (see stale).
const changeKeepNewerTarget = "keep-newer-target"

// stale reports whether t is not news to this run: its coroutine for t's
// endpoint delivers a newer generation, or the same one and is still
// running. The sweep repeats a replay's signal with the targets it reads
// when it sends, which may come after a newer replay's own signal; and a
// run started by a turn already has the targets a replay signal repeats.
// Replacing the coroutine would stop a newer generation for an older one
// (which then finds itself superseded, leaving the delivery to nobody) or
// restart the same one, which passes its lane's turn for nothing.
func (r *eventRun) stale(t schemas.Target) bool {
	d := r.current[t.EndpointID]
	if d == nil || t.Gen == 0 || d.target.Gen == 0 {
		return false
	}
	return d.target.Gen > t.Gen || (d.target.Gen == t.Gen && !d.done && d.stopped == running)
}

// view answers the status query.
func (r *eventRun) view() (schemas.EventStatusView, error) {
	v := schemas.EventStatusView{Status: r.eventStatus(), Deliveries: make(map[string]schemas.DeliveryStatus, len(r.status))}
	for id, s := range r.status {
		v.Deliveries[id] = s
	}
	return v, nil
}

func (r *eventRun) eventStatus() schemas.EventStatus {
	statuses := make([]schemas.DeliveryStatus, len(r.order))
	for i, id := range r.order {
		statuses[i] = r.status[id]
	}
	return schemas.EventStatusOf(statuses)
}

// setSearchStatus upserts HeraldStatus when it changes.
func (r *eventRun) setSearchStatus(ctx workflow.Context, status schemas.EventStatus) {
	if status == r.searchStatus {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, statusKey.ValueSet(string(status))); err != nil {
		r.logger.Error("upsert search attribute", "attribute", statusKey.GetName(), "error", err)
		return
	}
	r.searchStatus = status
}
