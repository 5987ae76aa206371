package schemas

import (
	"database/sql/driver"
	"fmt"
	"slices"
)

// The states of Herald's record are types: an event's status, a delivery's
// status and the outcome of one delivery call share words ("failed",
// "cancelled") but not meanings, and passing one for another takes a
// conversion that says what it means. Their values are the contract's (the
// API's JSON, the database, the HeraldStatus search attribute, workflow
// histories) and never change. Each scans from and writes to the database
// only as one of its values: anything else is an error, not a new state.

// EventStatus is an event's status, derived from its deliveries' (see
// EventStatusOf).
type EventStatus string

// Event statuses.
const (
	EventPending   EventStatus = "pending"   // some delivery is not final
	EventDelivered EventStatus = "delivered" // every delivery succeeded, or there are none
	EventFailed    EventStatus = "failed"    // some delivery failed and none is pending
	EventCancelled EventStatus = "cancelled" // some delivery was cancelled, none failed or pending
)

// EventStatuses are every event status, in the contract's order.
func EventStatuses() []EventStatus {
	return []EventStatus{EventPending, EventDelivered, EventFailed, EventCancelled}
}

// Valid reports whether s is one of the event statuses.
func (s EventStatus) Valid() bool { return slices.Contains(EventStatuses(), s) }

// Value writes s to the database; an unknown status is an error.
func (s EventStatus) Value() (driver.Value, error) { return stateValue(s, s.Valid(), "event status") }

// Scan reads s from the database; an unknown status is an error.
func (s *EventStatus) Scan(src any) error {
	return scanState(s, src, EventStatus.Valid, "event status")
}

// DeliveryStatus is the status of one event's delivery to one endpoint.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending    DeliveryStatus = "pending"    // waiting for its turn, its first attempt or a retry
	DeliveryDelivering DeliveryStatus = "delivering" // an attempt is under way
	DeliverySucceeded  DeliveryStatus = "succeeded"  // final: an attempt got a 2xx
	DeliveryFailed     DeliveryStatus = "failed"     // final: the last attempt failed, or a 410
	DeliveryCancelled  DeliveryStatus = "cancelled"  // final: cancelled, or its endpoint disabled or deleted
)

// DeliveryStatuses are every delivery status, in the contract's order.
func DeliveryStatuses() []DeliveryStatus {
	return []DeliveryStatus{DeliveryPending, DeliveryDelivering, DeliverySucceeded, DeliveryFailed, DeliveryCancelled}
}

// Valid reports whether s is one of the delivery statuses.
func (s DeliveryStatus) Valid() bool { return slices.Contains(DeliveryStatuses(), s) }

// Final reports whether s is final: only a replay or recover moves it again.
func (s DeliveryStatus) Final() bool {
	return s == DeliverySucceeded || s == DeliveryFailed || s == DeliveryCancelled
}

// Value writes s to the database; an unknown status is an error.
func (s DeliveryStatus) Value() (driver.Value, error) {
	return stateValue(s, s.Valid(), "delivery status")
}

// Scan reads s from the database; an unknown status is an error.
func (s *DeliveryStatus) Scan(src any) error {
	return scanState(s, src, DeliveryStatus.Valid, "delivery status")
}

// EventStatusOf derives an event's status from its deliveries' statuses, as
// the contract defines it: pending while any is not final; delivered when
// all succeeded (or there are none); cancelled when any was cancelled and
// none failed; failed otherwise.
func EventStatusOf(deliveries []DeliveryStatus) EventStatus {
	var failed, cancelled bool
	for _, s := range deliveries {
		switch s {
		case DeliverySucceeded:
		case DeliveryFailed:
			failed = true
		case DeliveryCancelled:
			cancelled = true
		default:
			return EventPending
		}
	}
	switch {
	case failed:
		return EventFailed
	case cancelled:
		return EventCancelled
	default:
		return EventDelivered
	}
}

// Outcome is what one call of the delivery activity did, in its result and,
// for a call that made an attempt, beside that attempt in the store (to
// answer the call's re-run).
type Outcome string

// Outcomes of one call of the delivery activity.
const (
	OutcomeSucceeded Outcome = "succeeded" // 2xx: the delivery is done
	OutcomeRetry     Outcome = "retry"     // failed attempt, another is scheduled after RetryIn
	OutcomeFailed    Outcome = "failed"    // failed attempt and no more: the delivery is failed
	OutcomeCancelled Outcome = "cancelled" // no attempt made: the endpoint is disabled or gone
	OutcomeThrottled Outcome = "throttled" // no attempt made: the rate limit, or an attempt that may still be under way, says wait RetryIn
	// OutcomeSuperseded: no attempt made, the delivery was queued again (a
	// replay or recover gave it a new Seq) and belongs to a newer coroutine.
	OutcomeSuperseded Outcome = "superseded"
	// OutcomeNone is a stored attempt's when no call decided one: a drained
	// attempt that failed, whose delivery's own workflow adopts it.
	OutcomeNone Outcome = ""
	// OutcomeInFlight and OutcomeInterrupted are stored attempts' only,
	// never a call's. An attempt is noted in flight before its POST and
	// hidden from readers until its answer is recorded; one whose process
	// died (or was stopped) before that is interrupted: it shows, with an
	// error saying so, and the delivery is attempted again.
	OutcomeInFlight    Outcome = "in_flight"
	OutcomeInterrupted Outcome = "interrupted"
)

// InterruptedError is the error of an interrupted attempt (see
// OutcomeInterrupted). The contract's attempt has no outcome field, so an
// interrupted attempt is one with this error and no response status.
const InterruptedError = "interrupted: Herald stopped before this attempt's answer was recorded; " +
	"the endpoint may have received it (the next attempt has the same webhook-id)"

// Outcomes are every outcome.
func Outcomes() []Outcome {
	return []Outcome{OutcomeSucceeded, OutcomeRetry, OutcomeFailed, OutcomeCancelled, OutcomeThrottled,
		OutcomeSuperseded, OutcomeNone, OutcomeInFlight, OutcomeInterrupted}
}

// Valid reports whether o is one of the outcomes.
func (o Outcome) Valid() bool { return slices.Contains(Outcomes(), o) }

// Ends returns the final delivery status that o leaves the delivery in, if
// it leaves one: succeeded, failed or cancelled.
func (o Outcome) Ends() (DeliveryStatus, bool) {
	switch o {
	case OutcomeSucceeded:
		return DeliverySucceeded, true
	case OutcomeFailed:
		return DeliveryFailed, true
	case OutcomeCancelled:
		return DeliveryCancelled, true
	}
	return "", false
}

// OutcomeOfFinal is the outcome of a call that found its delivery already
// final with status s (no attempt made): the outcome that ends it so;
// OutcomeNone when s is not final.
func OutcomeOfFinal(s DeliveryStatus) Outcome {
	switch s {
	case DeliverySucceeded:
		return OutcomeSucceeded
	case DeliveryFailed:
		return OutcomeFailed
	case DeliveryCancelled:
		return OutcomeCancelled
	}
	return OutcomeNone
}

// Value writes o to the database; an unknown outcome is an error.
func (o Outcome) Value() (driver.Value, error) { return stateValue(o, o.Valid(), "outcome") }

// Scan reads o from the database; an unknown outcome is an error.
func (o *Outcome) Scan(src any) error { return scanState(o, src, Outcome.Valid, "outcome") }

func stateValue[T ~string](v T, valid bool, kind string) (driver.Value, error) {
	if !valid {
		return nil, fmt.Errorf("unknown %s %q", kind, string(v))
	}
	return string(v), nil
}

func scanState[T ~string](dst *T, src any, valid func(T) bool, kind string) error {
	var v T
	switch x := src.(type) {
	case string:
		v = T(x)
	case []byte:
		v = T(x)
	default:
		return fmt.Errorf("%s: cannot scan %T", kind, src)
	}
	if !valid(v) {
		return fmt.Errorf("unknown %s %q", kind, string(v))
	}
	*dst = v
	return nil
}
