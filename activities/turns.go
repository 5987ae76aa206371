package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/herald-hq/herald/schemas"
)

// AcquireTurn says whether an ordered delivery may go: it must not be final
// already (cancelled meanwhile) nor queued again under another seq, and
// every delivery to the endpoint with a lower seq must be final.
func (a *Activities) AcquireTurn(ctx context.Context, req schemas.TurnRequest) (schemas.TurnResult, error) {
	st, seq, err := a.store.DeliveryState(ctx, req.AppID, req.EventID, req.EndpointID)
	if err != nil {
		return schemas.TurnResult{}, err
	}
	if schemas.DeliveryFinal(st) {
		return schemas.TurnResult{Go: false, DeliveryStatus: st}, nil
	}
	if seq != req.Seq {
		// A replay or recover queued the delivery again after this request's
		// target was made: the newer target's coroutine delivers it.
		return schemas.TurnResult{Go: false, DeliveryStatus: st, Superseded: true}, nil
	}
	ok, err := a.store.TurnAvailable(ctx, req.EndpointID, req.Seq)
	if err != nil || ok {
		return schemas.TurnResult{Go: ok, DeliveryStatus: st}, err
	}
	head, _, err := a.store.HeadDelivery(ctx, req.EndpointID)
	if err != nil {
		return schemas.TurnResult{}, err
	}
	return schemas.TurnResult{Go: false, DeliveryStatus: st, HeadSeq: head.Seq}, nil
}

// PassTurn wakes the event workflow of the endpoint's head delivery (the
// non-final ordered delivery with the lowest seq), if there is one.
func (a *Activities) PassTurn(ctx context.Context, req schemas.PassTurnRequest) error {
	head, ok, err := a.store.HeadDelivery(ctx, req.EndpointID)
	if err != nil || !ok {
		return err
	}
	if a.waker == nil {
		return errors.New("pass turn: the activities have no Waker")
	}
	if err := a.waker.Turn(ctx, head); err != nil {
		return fmt.Errorf("pass turn of endpoint %s to event %s: %w", req.EndpointID, head.EventID, err)
	}
	return nil
}

// CancelDeliveries makes the event's non-final deliveries (to the given
// endpoints, or all) cancelled and returns the event's status.
func (a *Activities) CancelDeliveries(ctx context.Context, req schemas.CancelRequest) (schemas.CancelResult, error) {
	var ids []string
	if len(req.EndpointIDs) > 0 {
		ids = req.EndpointIDs
	}
	st, err := a.store.SetDeliveryStatus(ctx, req.AppID, req.EventID, ids, schemas.DeliveryCancelled, a.now())
	if err != nil {
		return schemas.CancelResult{}, err
	}
	return schemas.CancelResult{EventStatus: st}, nil
}

// PrepareReplay makes the event's deliveries (or the one to EndpointID)
// pending again, for an operator's replay signal, and returns them as
// targets.
func (a *Activities) PrepareReplay(ctx context.Context, req schemas.PrepareReplayRequest) ([]schemas.Target, error) {
	return a.store.PrepareReplay(ctx, req.AppID, req.EventID, req.EndpointID, a.now())
}
