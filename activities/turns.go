package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

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
// non-final ordered delivery with the lowest seq), if there is one.
func (a *Activities) PassTurn(ctx context.Context, req schemas.PassTurnRequest) error {
	head, ok, err := a.store.HeadDelivery(ctx, req.EndpointID, req.Lane)
	if err != nil || !ok {
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

// CancelDeliveries makes the event's non-final deliveries (to the given
// endpoints, or all) cancelled and returns the event's status; a deleted
// event is cancelled for good.
func (a *Activities) CancelDeliveries(ctx context.Context, req schemas.CancelRequest) (schemas.CancelResult, error) {
	var ids []string
	if len(req.EndpointIDs) > 0 {
		ids = req.EndpointIDs
	}
	st, err := a.store.SetDeliveryStatus(ctx, req.AppID, req.EventID, ids, schemas.DeliveryCancelled, a.now())
	if schemas.IsNotFound(err) {
		return schemas.CancelResult{EventStatus: schemas.EventCancelled}, nil
	}
	if err != nil {
		return schemas.CancelResult{}, err
	}
	return schemas.CancelResult{EventStatus: st}, nil
}

// PrepareReplay makes the event's deliveries (or the one to EndpointID)
// pending again, for an operator's replay signal, and returns them as
// targets; none when the event or delivery no longer exists. The workflow
// asking is the one the re-queue is for, so the outbox note is cleared.
func (a *Activities) PrepareReplay(ctx context.Context, req schemas.PrepareReplayRequest) ([]schemas.Target, error) {
	targets, err := a.store.PrepareReplay(ctx, req.AppID, req.EventID, req.EndpointID, a.now())
	if schemas.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := a.store.ClearDispatch(ctx, req.AppID, req.EventID, store.DispatchReplay); err != nil {
		a.log.Warn("prepare replay: clear the outbox note (the sweep signals once more)", "event", req.EventID, "err", err)
	}
	return targets, nil
}
