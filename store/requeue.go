package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/schemas"
)

// ReplayedDelivery is one delivery that RecoverFailed queued again.
type ReplayedDelivery struct {
	EventID string
	Target  schemas.Target
}

// deliveryKey names one delivery of an app: its event and its endpoint.
type deliveryKey struct {
	EventID    string `db:"event_id"`
	EndpointID string `db:"endpoint_id"`
}

// requeue makes the app's deliveries named by keys pending again, in that
// order, under a new generation: an ordered endpoint's delivery takes a
// fresh seq from its counter (so it goes after everything accepted before
// in its lane). Deliveries to deleted endpoints, of deleted events, and
// those keep refuses once read under lock are skipped. It recomputes the
// events' statuses and returns the requeued deliveries.
//
// It takes its locks in the store's one order: the app (kept from
// deletion), the endpoints (as the seq counter's update does, which an
// attempt's streak update and a deletion take before the events), then the
// events and their deliveries. Reading the endpoints after locking an event
// deadlocked with those, and a deletion committed in between left no seq
// to take (a 500 on replay).
func (s *Store) requeue(ctx context.Context, tx *sqlx.Tx, appID string, keys []deliveryKey, keep func(deliveryRow) bool, now time.Time) ([]deliveryRow, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if err := s.keepApp(ctx, tx, appID); err != nil {
		return nil, err
	}
	endpointIDs := make([]string, 0, len(keys))
	eventIDs := make([]string, 0, len(keys))
	for _, k := range keys {
		endpointIDs = append(endpointIDs, k.EndpointID)
		eventIDs = append(eventIDs, k.EventID)
	}
	slices.Sort(endpointIDs)
	slices.Sort(eventIDs)
	q, args, err := sqlx.In(`SELECT id, ordered FROM endpoints WHERE app_id = ? AND id IN (?) ORDER BY id`+s.forNoKeyUpdate(),
		appID, slices.Compact(endpointIDs))
	if err != nil {
		return nil, fmt.Errorf("requeue: %w", err)
	}
	var eps []struct {
		ID      string `db:"id"`
		Ordered bool   `db:"ordered"`
	}
	if err := s.sel(ctx, tx, &eps, q, args...); err != nil {
		return nil, fmt.Errorf("requeue: lock endpoints: %w", err)
	}
	ordered := make(map[string]bool, len(eps)) // absent: the endpoint was deleted
	for _, e := range eps {
		ordered[e.ID] = e.Ordered
	}
	events := map[string]bool{} // present: locked; true: to recompute
	for _, id := range slices.Compact(eventIDs) {
		err := s.lockEvent(ctx, tx, appID, id)
		if schemas.IsNotFound(err) {
			continue // deleted (retention) since its deliveries were read
		}
		if err != nil {
			return nil, err
		}
		events[id] = false
	}
	out := make([]deliveryRow, 0, len(keys))
	for _, k := range keys {
		o, live := ordered[k.EndpointID]
		if _, ok := events[k.EventID]; !ok || !live {
			continue
		}
		d, err := s.deliveryForUpdate(ctx, tx, appID, k.EventID, k.EndpointID)
		if schemas.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if keep != nil && !keep(d) {
			continue
		}
		d.Seq = 0
		if o {
			if d.Seq, err = s.nextSeq(ctx, tx, d.EndpointID); err != nil {
				return nil, err
			}
		}
		d.Status = schemas.DeliveryPending
		d.Gen++
		if _, err := s.exec(ctx, tx, `UPDATE deliveries SET status = ?, seq = ?, gen = ?, next_attempt_at = NULL, finished_at = NULL,
			updated_at = ? WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`,
			d.Status, d.Seq, d.Gen, ts(now), d.AppID, d.EventID, d.EndpointID); err != nil {
			return nil, fmt.Errorf("requeue delivery of event %s to %s: %w", d.EventID, d.EndpointID, err)
		}
		events[d.EventID] = true
		out = append(out, d)
	}
	for _, d := range out {
		if !events[d.EventID] {
			continue
		}
		if _, err := s.recomputeEvent(ctx, tx, appID, d.EventID); err != nil {
			return nil, err
		}
		if err := s.noteDispatch(ctx, tx, appID, d.EventID, DispatchReplay, now); err != nil {
			return nil, err
		}
		events[d.EventID] = false
	}
	return out, nil
}

// PrepareReplay makes an event's deliveries (endpointID "": all of them)
// pending again, ordered ones with fresh seqs, and returns them as targets.
// Deliveries to deleted endpoints are skipped.
func (s *Store) PrepareReplay(ctx context.Context, appID, eventID, endpointID string, now time.Time) ([]schemas.Target, error) {
	var targets []schemas.Target
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var one int
		err := s.get(ctx, tx, &one, `SELECT 1 FROM events WHERE app_id = ? AND id = ?`, appID, eventID)
		if isNoRows(err) {
			return eventNotFound(appID, eventID)
		}
		if err != nil {
			return err
		}
		// An event's deliveries are made with it, so which there are can be
		// read before the locks requeue takes.
		q := `SELECT endpoint_id FROM deliveries WHERE app_id = ? AND event_id = ?`
		args := []any{appID, eventID}
		if endpointID != "" {
			q, args = q+` AND endpoint_id = ?`, append(args, endpointID)
		}
		var endpointIDs []string
		if err := s.sel(ctx, tx, &endpointIDs, q+` ORDER BY endpoint_id`, args...); err != nil {
			return err
		}
		if endpointID != "" && len(endpointIDs) == 0 {
			return deliveryNotFound(appID, eventID, endpointID)
		}
		keys := make([]deliveryKey, len(endpointIDs))
		for i, id := range endpointIDs {
			keys[i] = deliveryKey{eventID, id}
		}
		ds, err := s.requeue(ctx, tx, appID, keys, nil, now)
		if schemas.IsNotFound(err) {
			return eventNotFound(appID, eventID) // its app was deleted
		}
		if err != nil {
			return err
		}
		targets = make([]schemas.Target, len(ds))
		for i, d := range ds {
			targets[i] = d.target()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prepare replay of event %s: %w", eventID, err)
	}
	return targets, nil
}

// RecoverFailed requeues, as PrepareReplay does, every delivery to the
// endpoint that is failed with finished_at in [since, until), in their
// original order (old seq, then event created_at). One that is no longer
// failed once locked (replayed meanwhile, say) is left as it is.
func (s *Store) RecoverFailed(ctx context.Context, appID, endpointID string, since, until time.Time, now time.Time) ([]ReplayedDelivery, error) {
	var out []ReplayedDelivery
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := s.endpointRow(ctx, tx, appID, endpointID, false); err != nil {
			return err
		}
		var keys []deliveryKey
		err := s.sel(ctx, tx, &keys, `SELECT d.event_id, d.endpoint_id FROM deliveries d
			JOIN events e ON e.app_id = d.app_id AND e.id = d.event_id
			WHERE d.endpoint_id = ? AND d.app_id = ? AND d.status = ? AND d.finished_at >= ? AND d.finished_at < ?
			ORDER BY d.seq, e.created_at, e.id`, endpointID, appID, schemas.DeliveryFailed, ts(since), ts(until))
		if err != nil {
			return err
		}
		ds, err := s.requeue(ctx, tx, appID, keys, func(d deliveryRow) bool { return d.Status == schemas.DeliveryFailed }, now)
		if err != nil {
			return err
		}
		out = make([]ReplayedDelivery, len(ds))
		for i, d := range ds {
			out[i] = ReplayedDelivery{EventID: d.EventID, Target: d.target()}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recover failed deliveries to %s: %w", endpointID, err)
	}
	return out, nil
}
