package schemas

import (
	"strconv"
	"time"
)

// Target is one endpoint an event is delivered to, fixed at acceptance (or
// at replay). Seq is the endpoint's acceptance sequence number for ordered
// endpoints (deliveries in one lane go in Seq order); 0 for unordered
// endpoints. Lane is the event's ordering key at an ordered endpoint.
type Target struct {
	EndpointID string `json:"endpoint_id"`
	Ordered    bool   `json:"ordered"`
	Seq        int64  `json:"seq,omitempty"`
	Lane       string `json:"lane,omitempty"`
	// Gen is the delivery's generation, bumped by every re-queue: an attempt
	// of another generation cannot end it. 0 (histories from before
	// generations) checks nothing.
	Gen int64 `json:"gen,omitempty"`
	// Ahead is how many ordered deliveries to the endpoint were queued
	// before this one when it was accepted (0 when it could go at once).
	Ahead int64 `json:"ahead,omitempty"`
}

// EventWorkflowInput starts an event workflow. Payloads are not in it: the
// delivery activity reads them from the store, which keeps histories small.
type EventWorkflowInput struct {
	AppID         string          `json:"app_id"`
	EventID       string          `json:"event_id"`
	EventType     string          `json:"event_type"`
	CreatedAt     time.Time       `json:"created_at"`
	Targets       []Target        `json:"targets"`
	RetrySchedule []time.Duration `json:"retry_schedule"` // delays before attempts 2, 3, ...
	// DeliveryTimeout bounds one attempt; the activity timeout is derived from it.
	DeliveryTimeout time.Duration `json:"delivery_timeout"`
	// TurnsInDeliver: an ordered delivery's first check of its turn and
	// its passing of the turn at the end are made inside its Deliver calls
	// (DeliverRequest.AwaitTurn, PassTurn) rather than as local activities
	// of their own. Runs started before it (false) keep the separate calls,
	// so their histories replay unchanged.
	TurnsInDeliver bool `json:"turns_in_deliver,omitempty"`
	// FirstTogether: the first attempts of the run's unordered targets are
	// made in one local activity (workflows' startFirst). Runs started
	// before it (false) ask workflow.GetVersion, as they did when it came
	// in: a version marker costs every fanned-out event's run two history
	// events, the marker and an upsert of the TemporalChangeVersion search
	// attribute (a visibility write, unless the run closes in that task).
	FirstTogether bool `json:"first_together,omitempty"`
}

// ReplaySignal is the argument of the replay signal. EndpointID empty means
// every endpoint the event was for. Targets is filled by the API, which has
// already re-queued the deliveries; an operator's signal leaves it empty and
// the workflow prepares the replay itself.
type ReplaySignal struct {
	EndpointID string   `json:"endpoint_id,omitempty"`
	Targets    []Target `json:"targets,omitempty"`
}

// CancelSignal tells an event workflow that its event was cancelled. UpTo
// bounds it: a cancel stops only what was queued when it was accepted, not
// a replay or recover that re-queued a delivery after it. The API fills it
// with every delivery's generation in the transaction that cancelled them;
// an operator's signal carries nothing, and the run bounds it by the
// generations it knows when it handles the signal.
type CancelSignal struct {
	UpTo Generations `json:"up_to,omitempty"`
}

// Generations maps an endpoint id to a generation of the event's delivery
// to it: the newest one a cancel covers.
type Generations map[string]int64

// Covers reports whether a cancel bounded by g reaches target t: when t's
// generation is at most g's for its endpoint, and always when g is nil,
// names no generation for t's endpoint (absent or 0), or t has none (a
// target from before generations).
func (g Generations) Covers(t Target) bool {
	up := g[t.EndpointID]
	return up == 0 || t.Gen == 0 || t.Gen <= up
}

// TurnSignal tells an event workflow waiting on an ordered endpoint to check
// whether its turn has come.
type TurnSignal struct {
	EndpointID string `json:"endpoint_id"`
}

// EventStatusView answers the status query.
type EventStatusView struct {
	Status     EventStatus               `json:"status"`
	Deliveries map[string]DeliveryStatus `json:"deliveries"` // endpoint id -> delivery status
}

// DeliverRequest asks the delivery activity for one attempt.
type DeliverRequest struct {
	AppID      string `json:"app_id"`
	EventID    string `json:"event_id"`
	EndpointID string `json:"endpoint_id"`
	// Seq is the target's sequence number at an ordered endpoint; when the
	// delivery now has another, this request is superseded.
	Seq  int64  `json:"seq,omitempty"`
	Lane string `json:"lane,omitempty"`
	// Gen is the target's generation (see Target); 0 checks nothing.
	Gen int64 `json:"gen,omitempty"`
	// Key names this attempt within its workflow run (run, coroutine,
	// attempt index). A local activity runs again when its workflow task
	// fails; the key lets that re-run return the recorded attempt instead
	// of POSTing again. It is not unique alone: the task that runs again
	// may take in other signals than the failed one did, so the coroutine
	// at the same place may deliver another generation (AttemptKey).
	Key string `json:"key,omitempty"`
	// NextDelay is the scheduled delay before the next attempt; 0 means this
	// is the last attempt, so a failure makes the delivery failed.
	NextDelay time.Duration `json:"next_delay"`
	// AwaitTurn, for an ordered delivery that has not yet had its turn:
	// first ask for the turn as AcquireTurn does, waiting up to this long
	// while the lane moves, and attempt only if it may go. DeliverResult.Turn
	// then says why it did not.
	AwaitTurn time.Duration `json:"await_turn,omitempty"`
	// PassTurn, for an ordered delivery: when this call ends the delivery
	// (or finds it superseded), pass the lane's turn as PassTurn does, and
	// say so in DeliverResult.TurnPassed.
	PassTurn bool `json:"pass_turn,omitempty"`
}

// AttemptKey is the key the attempt is stored under: Key and the
// generation it is for, so that a call for a newer generation at the same
// place of the run finds nothing and attempts anew. A replay taken in by
// the re-run of a failed task had its delivery marked succeeded by the
// older generation's attempt, with no POST after the replay. A first
// queueing's (Gen 0 or 1) is Key alone, the form attempts made before
// generations were keyed have, so that an upgrade still finds them.
func (r DeliverRequest) AttemptKey() string {
	if r.Key == "" || r.Gen <= 1 {
		return r.Key
	}
	return r.Key + "/g" + strconv.FormatInt(r.Gen, 10)
}

// DeliverResult is what one call of the delivery activity did. It is recorded
// in the workflow history, so it carries what an operator needs to see.
type DeliverResult struct {
	Outcome     Outcome       `json:"outcome"`
	EndpointID  string        `json:"endpoint_id"`
	Attempt     *Attempt      `json:"attempt,omitempty"` // nil when no attempt was made
	RetryIn     time.Duration `json:"retry_in,omitempty"`
	Reason      string        `json:"reason,omitempty"`
	EventStatus EventStatus   `json:"event_status,omitempty"`
	// Drained are the attempts this call made for deliveries queued behind
	// this one at its ordered endpoint (see activities' drain): each is in
	// the store under its own event, and here in this event's history.
	Drained []DrainedAttempt `json:"drained,omitempty"`
	// Turn is set when the request's AwaitTurn found that the delivery may
	// not go: no attempt was made, and it says why.
	Turn *TurnResult `json:"turn,omitempty"`
	// TurnPassed: the request's PassTurn was done.
	TurnPassed bool `json:"turn_passed,omitempty"`
}

// DeliverFirstRequest asks for the first attempts of several of one event's
// unordered deliveries in one local activity: each is a DeliverRequest of
// its own, made and recorded as the delivery activity would.
type DeliverFirstRequest struct {
	Requests []DeliverRequest `json:"requests"`
}

// DeliverFirstResult has one item per request, in the request's order.
type DeliverFirstResult struct {
	Results []DeliverFirstItem `json:"results"`
}

// DeliverFirstItem is what the delivery activity did for one request, or
// the error it returned (the store's): the workflow then calls the delivery
// activity for that request alone, under the same key, so an attempt made
// before the error is answered from the record, not made twice.
type DeliverFirstItem struct {
	Result DeliverResult `json:"result"`
	Error  string        `json:"error,omitempty"`
}

// DrainedAttempt is an attempt made for another event's delivery while
// draining an ordered endpoint's backlog. Past the first 64 KiB of them,
// the answer's body is left out (the store keeps it, and the API shows it).
type DrainedAttempt struct {
	EventID string  `json:"event_id"`
	Attempt Attempt `json:"attempt"`
}

// Activity names: workflows call activities by these names, so the workflow
// package needs nothing of the activities package.
const (
	ActivityDeliver          = "Deliver"
	ActivityDeliverFirst     = "DeliverFirst"
	ActivityAcquireTurn      = "AcquireTurn"
	ActivityPassTurn         = "PassTurn"
	ActivityCancelDeliveries = "CancelDeliveries"
	ActivityPrepareReplay    = "PrepareReplay"
)

// TurnRequest asks whether an ordered delivery may go: every delivery to the
// endpoint with a lower Seq is final.
type TurnRequest struct {
	AppID      string `json:"app_id"`
	EventID    string `json:"event_id"`
	EndpointID string `json:"endpoint_id"`
	Lane       string `json:"lane,omitempty"`
	Seq        int64  `json:"seq"`
	// Wait: when the lane is moving, wait up to this long for the turn (or
	// for a drain to deliver this delivery) before answering.
	Wait time.Duration `json:"wait,omitempty"`
}

// TurnResult answers a TurnRequest. DeliveryStatus is the delivery's own
// status: when it is already final (cancelled meanwhile), it must not go.
type TurnResult struct {
	Go             bool           `json:"go"`
	DeliveryStatus DeliveryStatus `json:"delivery_status"`
	// Superseded: the delivery was queued again under another Seq; the
	// request's coroutine must stop without delivering.
	Superseded bool `json:"superseded,omitempty"`
	// HeadSeq is the Seq of the lane's head (first non-final delivery)
	// when this one may not go.
	HeadSeq int64 `json:"head_seq,omitempty"`
	// Nudge: this delivery is next behind the head and the head looks
	// abandoned (its retry overdue, or no attempt long after its turn), so
	// the waiter wakes it. Only then: a head that is alive, however long it
	// fails, gets no signal from the deliveries behind it.
	Nudge bool `json:"nudge,omitempty"`
	// Next: this delivery is next behind the head; it re-checks often,
	// the deliveries further back rarely (they are woken by turn signals).
	Next bool `json:"next,omitempty"`
}

// PassTurnRequest wakes the event workflow whose delivery is now first in
// line at the endpoint.
type PassTurnRequest struct {
	EndpointID string `json:"endpoint_id"`
	Lane       string `json:"lane,omitempty"`
	// Ended is the seq of the delivery whose end passes the turn (0: none,
	// as for a nudge). A head ahead of it was the head before, and is
	// signalled only when it looks abandoned.
	Ended int64 `json:"ended,omitempty"`
}

// CancelRequest makes the event's non-final deliveries cancelled; no
// EndpointIDs means all of them that UpTo covers (see Generations.Covers).
type CancelRequest struct {
	AppID       string      `json:"app_id"`
	EventID     string      `json:"event_id"`
	EndpointIDs []string    `json:"endpoint_ids,omitempty"`
	UpTo        Generations `json:"up_to,omitempty"`
}

// CancelResult is the event's status after a cancel.
type CancelResult struct {
	EventStatus EventStatus `json:"event_status"`
}

// PrepareReplayRequest re-queues an event's deliveries (or one of them) for
// an operator's replay signal; the API does the same before signalling.
type PrepareReplayRequest struct {
	AppID      string `json:"app_id"`
	EventID    string `json:"event_id"`
	EndpointID string `json:"endpoint_id,omitempty"`
}
