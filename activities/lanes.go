package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/herald-hq/herald/lanewake"
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
//
// With req.Wait, a delivery whose lane is moving (its head delivering, or
// about to) waits here, up to req.Wait, for its turn or for a drain to
// deliver it, instead of answering "not yet" at once. The workflow task
// that asked stays open meanwhile, so a queued event whose delivery the
// drain makes ends in its first task, and a turn passed in this process
// wakes it without a signal (PassTurn): no timer, no signal, no second
// task through the server. Both were most of what an ordered delivery cost
// beyond an unordered one.
func (a *Activities) AcquireTurn(ctx context.Context, req schemas.TurnRequest) (schemas.TurnResult, error) {
	wait := req.Wait
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d)-recordSlack)
	}
	var w *lanewake.Waiter // nil: answer at once (no wait asked, or as many wait as may)
	if wait > 0 {
		// Registered before the store is asked, so that a turn passed
		// between the answer and the wait is not missed.
		w = a.waiters.Add(lanewake.Wake{AppID: req.AppID, EventID: req.EventID, EndpointID: req.EndpointID, Seq: req.Seq})
	}
	res, head, err := a.turn(ctx, req)
	if w == nil {
		return res, err
	}
	if err != nil || settled(res) || !moving(head) {
		return a.leave(ctx, req, w, res, err)
	}
	a.waiters.Park(w)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-w.Woken():
			if res, _, err = a.turn(ctx, req); err != nil || settled(res) {
				return a.leave(ctx, req, w, res, err)
			}
			continue
		case <-timer.C:
		case <-ctx.Done():
		}
		break
	}
	// Asked once more at the end: a wake is only a hint, and may have been
	// lost (a notification between processes dropped, say).
	a.waiters.Remove(w)
	res, _, err = a.turn(ctx, req)
	return res, err
}

// leave takes w out of the registry with the answer it has. A PassTurn that
// found w there sent no signal and woke it instead: if a wake came since
// the answer was asked, the answer is asked again.
func (a *Activities) leave(ctx context.Context, req schemas.TurnRequest, w *lanewake.Waiter, res schemas.TurnResult, err error) (schemas.TurnResult, error) {
	a.waiters.Remove(w)
	select {
	case <-w.Woken():
		res, _, err = a.turn(ctx, req)
	default:
	}
	return res, err
}

// turn answers a TurnRequest from the store, with the lane's head when the
// delivery may not go yet.
func (a *Activities) turn(ctx context.Context, req schemas.TurnRequest) (schemas.TurnResult, store.LaneHead, error) {
	st, seq, err := a.store.DeliveryState(ctx, req.AppID, req.EventID, req.EndpointID)
	if schemas.IsNotFound(err) {
		return schemas.TurnResult{DeliveryStatus: schemas.DeliveryCancelled}, store.LaneHead{}, nil
	}
	if err != nil {
		return schemas.TurnResult{}, store.LaneHead{}, err
	}
	if st.Final() {
		return schemas.TurnResult{Go: false, DeliveryStatus: st}, store.LaneHead{}, nil
	}
	if seq != req.Seq {
		// A replay or recover queued the delivery again after this request's
		// target was made: the newer target's coroutine delivers it.
		return schemas.TurnResult{Go: false, DeliveryStatus: st, Superseded: true}, store.LaneHead{}, nil
	}
	ahead, err := a.store.Ahead(ctx, req.EndpointID, req.Lane, req.Seq)
	if err != nil || ahead == 0 {
		return schemas.TurnResult{Go: ahead == 0, DeliveryStatus: st}, store.LaneHead{}, err
	}
	head, ok, err := a.store.HeadDelivery(ctx, req.EndpointID, req.Lane)
	if err != nil || !ok {
		return schemas.TurnResult{DeliveryStatus: st}, store.LaneHead{}, err
	}
	res := schemas.TurnResult{DeliveryStatus: st, HeadSeq: head.Seq, Next: ahead == 1}
	res.Nudge = res.Next && a.stale(head)
	return res, head, nil
}

// settled reports whether a turn's answer ends the wait: the delivery may
// go, must not, or must wake its head.
func settled(res schemas.TurnResult) bool {
	return res.Go || res.Superseded || res.DeliveryStatus.Final() || res.Nudge
}

// moving reports whether a lane's head is being delivered or is about to
// be: a waiter behind it may get its turn, or be drained, within seconds.
// One in its retry wait may keep the lane for a day; waiting for it would
// only hold a workflow task slot.
func moving(h store.LaneHead) bool {
	return h.Seq > 0 && (h.Status == schemas.DeliveryDelivering || h.NextAttemptAt == nil)
}

// wake wakes the waiters of the delivery d names in this process and
// reports whether there were any; when there were none, it publishes the
// wake to the other processes (Deps.Wakes), where its waiter may be.
func (a *Activities) wake(d lanewake.Wake) bool {
	if a.waiters.Wake(d) {
		return true
	}
	if a.wakes != nil {
		a.wakes.Publish(d)
	}
	return false
}

// WakeTurn wakes this process's waiters that w names (lanewake.Waiters.Wake):
// a turn or a drain of another process, or a change to the store.
func (a *Activities) WakeTurn(w lanewake.Wake) {
	a.waiters.Wake(w)
}

// WakeAllTurns wakes every waiter of this process to ask the store again,
// for wakes that other processes published and that may have been lost.
func (a *Activities) WakeAllTurns() {
	a.waiters.WakeAll()
}

// awaitsTurn reports whether a lane's head needs a turn signal after the
// end of the delivery at seq ended (0: a nudge). Two heads are signalled
// only once they look abandoned (stale):
//   - one waiting for its retry: its own timer wakes it. Without this,
//     every delivery behind a failing head that ends (cancelled, replayed)
//     sent it a signal: a workflow task each, and a workflow that gets a
//     signal while it completes must run another task (UNHANDLED_COMMAND);
//   - one ahead of the delivery that ended, which was the head before that
//     end: its workflow is on its way. Without this, every delivery that
//     ended behind a draining holder signalled it (the chaos test saw 12
//     in 6 s).
//
// Any other head gets one, a delivering one too: its attempt may be a
// drain's whose process died, which only its own workflow, woken, takes
// over (TestOrderedLaneResumesAfterKillNine).
func (a *Activities) awaitsTurn(h store.LaneHead, ended int64) bool {
	inRetryWait := h.Status == schemas.DeliveryPending && h.NextAttemptAt != nil
	if inRetryWait || (ended > 0 && h.Seq < ended) {
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
// needs a turn (see awaitsTurn).
func (a *Activities) PassTurn(ctx context.Context, req schemas.PassTurnRequest) error {
	head, ok, err := a.store.HeadDelivery(ctx, req.EndpointID, req.Lane)
	if err != nil || !ok || !a.awaitsTurn(head, req.Ended) {
		return err
	}
	if a.wake(lanewake.Wake{AppID: head.AppID, EventID: head.EventID, EndpointID: head.EndpointID, Seq: head.Seq}) {
		return nil // its workflow's task is open, waiting in AcquireTurn
	}
	// Its workflow may be waiting in another process's AcquireTurn, which
	// the wake published reaches, and the signal only once that wait ends;
	// or not waiting at all, which only the signal reaches.
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

// awaitTurnFirst is AcquireTurn for a Deliver request that asks for its
// turn first. Its wait leaves the activity room for the whole attempt
// after it, so that an attempt never starts too late to be recorded.
//
// Why in Deliver: a delivery whose lane is free, the usual case with
// ordering keys, then costs one local activity, as an unordered one does,
// where AcquireTurn, Deliver and PassTurn were three (a marker event each
// in its history, and a round through the SDK's local activity machinery).
func (a *Activities) awaitTurnFirst(ctx context.Context, req schemas.DeliverRequest) (schemas.TurnResult, error) {
	wait := min(req.AwaitTurn, time.Until(a.deadline(ctx))-a.cfg.DeliveryTimeout-2*recordSlack)
	return a.AcquireTurn(ctx, schemas.TurnRequest{AppID: req.AppID, EventID: req.EventID, EndpointID: req.EndpointID,
		Lane: req.Lane, Seq: req.Seq, Wait: max(wait, 0)})
}

// passTurnAfter passes the lane's turn when res ends the delivery, or finds
// it queued again under a newer seq, whose own delivery then waits for the
// turn: the calls the workflow no longer makes for this delivery. A
// failure is only logged, and the workflow passes the turn itself.
//
// A Deliver run again after its workflow task failed answers its recorded
// attempt; when that attempt ended the delivery, AwaitTurn finds it final
// and this is not reached again: the first run passed the turn. Only a
// process killed between the record and the pass leaves the lane to the
// next delivery's re-check (herald dev's start-up recovery gives its head
// the turn at once: store.RecoverAfterCrash).
func (a *Activities) passTurnAfter(ctx context.Context, req schemas.DeliverRequest, res *schemas.DeliverResult) {
	if _, final := res.Outcome.Ends(); !final && res.Outcome != schemas.OutcomeSuperseded {
		return
	}
	if err := a.PassTurn(ctx, schemas.PassTurnRequest{EndpointID: req.EndpointID, Lane: req.Lane, Ended: req.Seq}); err != nil {
		a.log.Warn("pass turn after delivery (the workflow will)", "endpoint", req.EndpointID, "event", req.EventID, "err", err)
		return
	}
	res.TurnPassed = true
}

// DefaultDrainMax bounds how many deliveries one drain makes (unless
// HERALD_LANE_DRAIN_MAX says otherwise), so that its result (the list of
// drained attempts, in the holder's history) stays small: about 150 bytes
// an attempt, and the answers' bodies only for the first drainedBodies
// bytes of them (each is in the store, and the API shows it), where 512
// bodies of 1 KiB reached Temporal's payload warning. Drains of up to
// 4,096 made a burst's latency worse, not better (docs/performance.md).
const (
	DefaultDrainMax = 512
	drainedBodies   = 64 << 10
)

// drainLimits: max is how many deliveries one drain makes at most
// (Config.DrainMax, DefaultDrainMax unless set), heirFrom how many it
// makes before it chooses an heir, half of max.
//
// A drain at its limit must hand its lane to the next holder. Passed to
// the next delivery queued, the turn waited for that delivery's workflow
// to start: under a burst the drain reaches each new delivery within
// milliseconds of its acceptance, while its workflow's start through the
// server takes hundreds (docs/performance.md, "What the hand-off at a
// drain's limit waits for"), and the lane stood still that long every 512
// deliveries. So from heirFrom deliveries on, the drain chooses an heir:
// the next delivery it makes that succeeds is recorded as a holder is
// (delivering, its success on record), and the drain goes on behind it
// until the heir's workflow waits for its turn in this process. Then the
// drain ends; the holder's end wakes the heir, now the lane's head, by a
// channel, and the heir adopts its success and drains on behind the
// deliveries made since. Order holds: the heir's POST came before every
// later one. A drain that ends with its heir not waiting here (its workflow
// not started yet, or in another process) makes the heir final itself, so
// the lane is handed on as before.
type drainLimits struct{ max, heirFrom int }

// heirLead: a drain also chooses an heir once it has less than heirLead
// left before its activity's deadline stops it (a slow receiver ends a
// drain there, before heirFrom deliveries), about as long as an heir's
// workflow takes to come.
const heirLead = 2 * time.Second

// drainBatch is how many queued deliveries a drain reads at once.
const drainBatch = 16

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
// Each attempt is noted in flight before its POST, as every attempt is,
// and recorded in the transaction that notes the next one
// (store.RecordAttemptsAndBegin): one write per drained delivery, where
// three (note, record, failure streak) on SQLite's one writer, shared with
// the API's accepts, held a burst's drain below the accept rate. Recording
// them in batches instead was as fast but left several POSTs unrecorded at
// once, and after a kill -9 the first of them was made again after the
// later ones had arrived (TestDrainRecordsEachAttemptBeforeTheNext).
//
// The deliveries to make are read drainBatch at a time, with their events
// and the endpoint (store.QueuedBehind): the reads sit between one POST
// and the next, on the lane's critical path. A delivery cancelled or
// replayed since its batch was read does not begin (the begin checks its
// status and generation); a change to the endpoint (a rotated secret, a
// rate limit) reaches the drain with its next batch, as it reaches an
// attempt already under way.
//
// Whether the holder still holds its lane (not cancelled or queued again
// meanwhile) is asked in the transaction that begins each attempt
// (AttemptStart.Holder): no read of its own per delivery, and no window
// between the answer and the begin.
//
// It stops at the first delivery that is not fresh (already tried, or not
// pending), or whose attempt fails: that delivery's own workflow adopts the
// failed attempt when its turn comes and goes on with its retry schedule.
// A drained delivery's workflow is not signalled, which would cost a
// Temporal write and a workflow task per delivery: one waiting in this
// process for its turn is woken by a channel (AcquireTurn); another finds
// its delivery done at its (delayed) start or its next re-check.
func (a *Activities) drain(ctx context.Context, holder store.DeliveryJob) []schemas.DrainedAttempt {
	endpointID, lane, seq := holder.Endpoint.ID, holder.Lane, holder.Seq
	d := drainer{a: a, endpointID: endpointID, log: a.log.With("endpoint", endpointID, "lane", lane)}
	deadline := a.deadline(ctx)
	self := &store.DeliveryRef{AppID: holder.Event.AppID, EventID: holder.Event.ID, EndpointID: endpointID, Lane: lane, Seq: holder.Seq}
	var batch store.LaneBatch
	for d.made < a.drains.max && a.roomForAttempt(deadline) {
		if d.heirWaits() {
			break
		}
		if len(batch.Queued) == 0 {
			b, err := a.store.QueuedBehind(ctx, holder.Event.AppID, endpointID, lane, seq, drainBatch)
			if err != nil {
				d.log.Warn("drain: find the next deliveries", "err", err)
				break
			}
			if len(b.Queued) == 0 {
				if (d.made > 0 || d.last != nil) && d.linger(ctx, lane, seq, deadline) {
					continue // the next begin asks whether the lane is still ours
				}
				break
			}
			if b.EndpointGone || b.Endpoint.Disabled || b.Endpoint.RateLimitPerSecond > 0 {
				break
			}
			batch = b
		}
		next := batch.Queued[0]
		batch.Queued = batch.Queued[1:]
		if next.Tried || next.Status != schemas.DeliveryPending {
			break
		}
		job := store.DeliveryJob{Event: next.Event, Endpoint: batch.Endpoint, Secrets: batch.Secrets,
			Status: next.Status, Seq: next.Ref.Seq, Lane: lane, Gen: next.Gen}
		start := store.AttemptStart{AppID: next.Ref.AppID, EventID: next.Ref.EventID, EndpointID: endpointID,
			Gen: job.Gen, Key: store.DrainKey(next.Ref.Seq), StartedAt: a.now(), Holder: self}
		t, moved := d.begin(ctx, start)
		if !moved {
			break // the holder was cancelled or queued again, the delivery may not go, or the store failed
		}
		if err := a.send(ctx, job, &t); err != nil {
			return d.out // the activity is ending: the attempt is on record as interrupted
		}
		d.begun++
		d.last = &drained{ref: next.Ref, gen: job.Gen, t: t}
		if !t.ans.ok() {
			break // recorded below, adopted by its own workflow
		}
		if d.heir == nil && (d.begun > a.drains.heirFrom || !a.roomForAttempt(deadline.Add(-heirLead))) {
			d.last.heir = true
			d.heir = d.last
		}
		seq = next.Ref.Seq
	}
	d.recordLast(ctx)
	d.settleHeir(ctx)
	return d.out
}

// heirWaits reports whether the drain's heir, recorded, waits for its turn
// in this process: the drain ends and hands it the lane.
func (d *drainer) heirWaits() bool {
	h := d.heir
	return h != nil && d.last != h && !h.unrecorded &&
		d.a.waiters.Waits(lanewake.Wake{AppID: h.ref.AppID, EventID: h.ref.EventID, EndpointID: d.endpointID, Seq: h.ref.Seq})
}

// settleHeir makes the drain's heir final at the drain's end, unless its
// workflow waits in this process for the turn the holder's end passes.
// One not waiting here would hold the lane until its workflow ran, where
// the next delivery queued may go at once.
func (d *drainer) settleHeir(ctx context.Context) {
	h := d.heir
	if h == nil || h.unrecorded {
		return
	}
	if d.heirWaits() {
		if d.a.metrics != nil {
			d.a.metrics.LaneHeir(true)
		}
		return
	}
	end := h.t.started.Add(h.t.dur)
	_, done, err := d.a.store.FinishDelivery(ctx, h.ref.AppID, h.ref.EventID, d.endpointID, h.gen, schemas.DeliverySucceeded, end)
	if err != nil {
		// It stays the lane's head, its success on record: its own
		// workflow adopts that success when the turn reaches it.
		d.log.Warn("drain: make its heir final", "event", h.ref.EventID, "err", err)
		return
	}
	if done {
		if d.a.metrics != nil {
			d.a.metrics.DeliveryFinished(schemas.OutcomeSucceeded)
			d.a.metrics.LaneHeir(false)
		}
		d.a.wake(lanewake.Wake{AppID: h.ref.AppID, EventID: h.ref.EventID, EndpointID: d.endpointID, Seq: h.ref.Seq})
	}
}

// A drain that has caught up with its lane keeps it for up to drainLinger,
// looking every drainPoll for the next delivery queued. Letting the lane go
// at once left the next event's first attempt to its own workflow, whose
// start under a burst took about 300 ms through the server: the lane stood
// still that long at every catch-up, where unordered deliveries, side by
// side, hid the same latency (docs/performance.md). Only a drain that made
// a delivery lingers: a lane with no queue, as most with ordering keys,
// never drains.
const (
	drainLinger = 500 * time.Millisecond
	drainPoll   = 5 * time.Millisecond
)

// linger waits for a delivery to be queued behind seq, for up to
// drainLinger and while the activity has room for an attempt, and reports
// whether one was. The last attempt is recorded first: its event's
// workflow is waiting for it.
func (d *drainer) linger(ctx context.Context, lane string, seq int64, deadline time.Time) bool {
	d.recordLast(ctx)
	until := time.Now().Add(drainLinger)
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for time.Now().Before(until) && d.a.roomForAttempt(deadline) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return false
		}
		next, _, err := d.a.store.NextFresh(ctx, d.endpointID, lane, seq)
		if err != nil {
			return false
		}
		if next.EventID != "" {
			return true
		}
	}
	return false
}

// drainer is one drain's state: its last attempt, sent and not yet
// recorded, and what it recorded.
type drainer struct {
	a          *Activities
	endpointID string
	log        *slog.Logger
	last       *drained
	heir       *drained // chosen to hold the lane after the drain (heirFrom)
	begun      int      // attempts begun
	made       int      // attempts recorded
	out        []schemas.DrainedAttempt
	bodies     int // bytes of answers' bodies listed in out
}

// drained is an attempt a drain made.
type drained struct {
	ref        store.DeliveryRef
	gen        int64
	t          tried
	heir       bool // its success is recorded holding the lane
	unrecorded bool // its record failed: it stays noted in flight
}

// begin notes the attempt start in flight, recording the last attempt in
// the same transaction. It reports whether the attempt may be sent.
func (d *drainer) begin(ctx context.Context, start store.AttemptStart) (tried, bool) {
	t := tried{started: start.StartedAt}
	if d.last == nil {
		begun, err := d.a.store.BeginAttempts(ctx, []store.AttemptStart{start})
		if err != nil {
			d.log.Warn("drain: begin an attempt", "event", start.EventID, "err", err)
			return t, false
		}
		t.n = begun[0].N
		return t, begun[0].Moved
	}
	x := *d.last
	rec, health := d.record(x)
	got, begun, err := d.a.store.RecordAttemptsAndBegin(ctx, []store.AttemptRecord{rec}, health, start)
	if err != nil {
		// The drain stops here: its last attempt is recorded alone, tried
		// again while the activity has time (a retry of this transaction
		// could begin a POST too late to finish in it).
		d.log.Warn("drain: record attempt and begin the next", "event", rec.EventID, "err", err)
		d.recordLast(ctx)
		return t, false
	}
	d.recorded(x, rec, got[0])
	t.n = begun.N
	return t, begun.Moved
}

// recordLast records the drain's last attempt, and for a failure whether
// its endpoint has now failed long enough to be disabled.
func (d *drainer) recordLast(ctx context.Context) {
	if d.last == nil {
		return
	}
	x := *d.last
	rec, health := d.record(x)
	var got []store.Recorded
	err := d.a.persist(ctx, "drain: record attempt", func() (err error) {
		got, err = d.a.store.RecordAttempts(ctx, []store.AttemptRecord{rec}, health)
		return err
	})
	if err != nil {
		// The attempt stays noted in flight: its delivery's own workflow
		// finds the note and makes it again once it may.
		d.log.Error("drain: record attempt", "event", rec.EventID, "err", err)
		d.last.unrecorded = true
		d.last = nil
		return
	}
	d.recorded(x, rec, got[0])
	if len(health) > 0 && !health[0].OK {
		if _, err := d.a.store.DisableIfFailing(ctx, d.endpointID, health[0].At, d.a.cfg.DisableAfter); err != nil {
			d.log.Error("note endpoint result for auto-disable", "err", err)
		}
	}
}

// record is the record of attempt x and its answer as the endpoint's
// failure streak counts it (none for a 410, which disables the endpoint
// through the delivery's own workflow).
func (d *drainer) record(x drained) (store.AttemptRecord, []store.EndpointResult) {
	end := x.t.started.Add(x.t.dur)
	ans := x.t.ans
	rec := store.AttemptRecord{AppID: x.ref.AppID, EventID: x.ref.EventID, EndpointID: d.endpointID,
		StartedAt: x.t.started, DurationMS: x.t.dur.Milliseconds(), ResponseStatus: ans.status,
		Error: ans.errText, ResponseBody: ans.body, Status: schemas.DeliveryPending,
		Key: store.DrainKey(x.ref.Seq), Gen: x.gen, Attempt: x.t.n}
	switch {
	case ans.ok() && x.heir:
		rec.Status, rec.Outcome = schemas.DeliveryDelivering, schemas.OutcomeSucceeded
	case ans.ok():
		rec.Status, rec.FinishedAt, rec.Outcome = schemas.DeliverySucceeded, &end, schemas.OutcomeSucceeded
	}
	var health []store.EndpointResult
	if ans.status != http.StatusGone {
		health = []store.EndpointResult{{EndpointID: d.endpointID, OK: ans.ok(), At: end}}
	}
	return rec, health
}

// recorded notes that the record rec of attempt x was made (got) and wakes
// the delivery's waiting workflow, which may end now.
func (d *drainer) recorded(x drained, rec store.AttemptRecord, got store.Recorded) {
	d.last = nil
	d.made++
	if got.Gone {
		return
	}
	ans := answer{status: rec.ResponseStatus, errText: rec.Error, body: rec.ResponseBody}
	if d.bodies += len(ans.body); d.bodies > drainedBodies {
		ans.body = ""
	}
	d.out = append(d.out, schemas.DrainedAttempt{EventID: rec.EventID, Attempt: ans.attempt(got.Attempt, rec.StartedAt, rec.DurationMS)})
	if got.Applied && rec.Status == schemas.DeliverySucceeded {
		if d.a.metrics != nil {
			d.a.metrics.DeliveryFinished(schemas.OutcomeSucceeded)
		}
		d.a.wake(lanewake.Wake{AppID: rec.AppID, EventID: rec.EventID, EndpointID: d.endpointID, Seq: x.ref.Seq})
	}
}

// roomForAttempt reports whether an attempt started now, its whole
// delivery timeout and the records after it, ends before deadline.
func (a *Activities) roomForAttempt(deadline time.Time) bool {
	return time.Until(deadline) > a.cfg.DeliveryTimeout+recordSlack
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
// A success was a drain's heir's (heirFrom): it drains on behind it.
func (a *Activities) adopt(ctx context.Context, req schemas.DeliverRequest, job store.DeliveryJob, prior store.RecordedAttempt) (schemas.DeliverResult, error) {
	res := schemas.DeliverResult{EndpointID: req.EndpointID}
	at := prior.Attempt
	ans := answer{status: at.ResponseStatus, body: at.ResponseBody, errText: at.Error}
	rec := store.AttemptRecord{AppID: req.AppID, EventID: req.EventID, EndpointID: req.EndpointID}
	end := at.StartedAt.Add(time.Duration(at.DurationMS) * time.Millisecond)
	a.classify(req, ans, end, &res, &rec)
	drain := res.Outcome == schemas.OutcomeSucceeded && job.Endpoint.RateLimitPerSecond == 0 && a.queuedBehind(ctx, job)
	if drain {
		rec.Status, rec.FinishedAt = schemas.DeliveryDelivering, nil
	}
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
	if drain {
		if err := a.drainThenFinish(ctx, req, job, end, &res, log); err != nil {
			return res, err
		}
	}
	a.afterAttempt(ctx, req, ans, end, &res, log, nil)
	return res, nil
}
