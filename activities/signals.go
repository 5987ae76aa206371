package activities

import (
	"context"

	"github.com/herald-hq/herald/lanewake"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// CancelDeliveries makes the event's non-final deliveries (to the given
// endpoints, or all that req.UpTo covers) cancelled and returns the event's
// status; a deleted event is cancelled for good. The bound is what keeps
// a workflow's cancel step, which may run well after its cancel was
// accepted, from cancelling a delivery a replay or recover re-queued since.
func (a *Activities) CancelDeliveries(ctx context.Context, req schemas.CancelRequest) (schemas.CancelResult, error) {
	var st schemas.EventStatus
	var err error
	if len(req.EndpointIDs) > 0 {
		st, err = a.store.SetDeliveryStatus(ctx, req.AppID, req.EventID, req.EndpointIDs, schemas.DeliveryCancelled, a.now())
	} else {
		st, _, err = a.store.CancelDeliveries(ctx, req.AppID, req.EventID, req.UpTo, a.now())
	}
	if schemas.IsNotFound(err) {
		return schemas.CancelResult{EventStatus: schemas.EventCancelled}, nil
	}
	if err != nil {
		return schemas.CancelResult{}, err
	}
	// The workflow asking, on an operator's signal straight to Temporal,
	// took the signal at its task's heartbeat while one of its deliveries
	// may wait for its turn in that task, so in this process: woken, it
	// asks the store, ends, and the workflow goes on at once, where it
	// waited until the turn came. (The API wakes for its own changes.)
	a.WakeTurn(lanewake.Wake{AppID: req.AppID, EventID: req.EventID})
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
	a.WakeTurn(lanewake.Wake{AppID: req.AppID, EventID: req.EventID, EndpointID: req.EndpointID}) // as CancelDeliveries does
	return targets, nil
}
