package store

import (
	"cmp"
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

// requeue makes deliveries pending again, in the given order, under a new
// generation: an ordered endpoint's delivery takes a fresh seq from its
// counter (so it goes after everything accepted before in its lane);
// deliveries to deleted endpoints are skipped.
// It recomputes the events' statuses and returns the requeued deliveries.
func (s *Store) requeue(ctx context.Context, tx *sqlx.Tx, ds []deliveryRow, now time.Time) ([]deliveryRow, error) {
	out := make([]deliveryRow, 0, len(ds))
	ordered := map[string]*bool{}
	events := map[[2]string]bool{}
	keys := make([][2]string, 0, len(ds))
	for _, d := range ds {
		keys = append(keys, [2]string{d.AppID, d.EventID})
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	for _, k := range slices.Compact(keys) {
		if err := s.lockEvent(ctx, tx, k[0], k[1]); err != nil {
			return nil, err
		}
	}
	for _, d := range ds {
		o, ok := ordered[d.EndpointID]
		if !ok {
			var v bool
			err := s.get(ctx, tx, &v, `SELECT ordered FROM endpoints WHERE id = ? AND app_id = ?`, d.EndpointID, d.AppID)
			if err != nil && !isNoRows(err) {
				return nil, fmt.Errorf("requeue: endpoint %s: %w", d.EndpointID, err)
			}
			if err == nil {
				o = &v
			}
			ordered[d.EndpointID] = o
		}
		if o == nil {
			continue // the endpoint was deleted
		}
		d.Seq = 0
		if *o {
			seq, err := s.nextSeq(ctx, tx, d.EndpointID)
			if err != nil {
				return nil, err
			}
			d.Seq = seq
		}
		d.Status = schemas.DeliveryPending
		d.Gen++
		if _, err := s.exec(ctx, tx, `UPDATE deliveries SET status = ?, seq = ?, gen = ?, next_attempt_at = NULL, finished_at = NULL,
			updated_at = ? WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`,
			d.Status, d.Seq, d.Gen, ts(now), d.AppID, d.EventID, d.EndpointID); err != nil {
			return nil, fmt.Errorf("requeue delivery of event %s to %s: %w", d.EventID, d.EndpointID, err)
		}
		events[[2]string{d.AppID, d.EventID}] = true
		out = append(out, d)
	}
	for _, d := range out {
		k := [2]string{d.AppID, d.EventID}
		if events[k] {
			if _, err := s.recomputeEvent(ctx, tx, d.AppID, d.EventID); err != nil {
				return nil, err
			}
			if err := s.noteDispatch(ctx, tx, d.AppID, d.EventID, DispatchReplay, now); err != nil {
				return nil, err
			}
			events[k] = false
		}
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
		err := s.get(ctx, tx, &one, `SELECT 1 FROM events WHERE app_id = ? AND id = ?`+s.forUpdate(), appID, eventID)
		if isNoRows(err) {
			return eventNotFound(appID, eventID)
		}
		if err != nil {
			return err
		}
		q := `SELECT ` + deliveryCols + ` FROM deliveries WHERE app_id = ? AND event_id = ?`
		args := []any{appID, eventID}
		if endpointID != "" {
			q, args = q+` AND endpoint_id = ?`, append(args, endpointID)
		}
		var ds []deliveryRow
		if err := s.sel(ctx, tx, &ds, q+` ORDER BY endpoint_id`, args...); err != nil {
			return err
		}
		if endpointID != "" && len(ds) == 0 {
			return deliveryNotFound(appID, eventID, endpointID)
		}
		ds, err = s.requeue(ctx, tx, ds, now)
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
// original order (old seq, then event created_at).
func (s *Store) RecoverFailed(ctx context.Context, appID, endpointID string, since, until time.Time, now time.Time) ([]ReplayedDelivery, error) {
	var out []ReplayedDelivery
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := s.endpointRow(ctx, tx, appID, endpointID, false); err != nil {
			return err
		}
		var ds []deliveryRow
		err := s.sel(ctx, tx, &ds, `SELECT d.app_id, d.event_id, d.endpoint_id, d.lane, d.status, d.seq, d.gen FROM deliveries d
			JOIN events e ON e.app_id = d.app_id AND e.id = d.event_id
			WHERE d.endpoint_id = ? AND d.app_id = ? AND d.status = ? AND d.finished_at >= ? AND d.finished_at < ?
			ORDER BY d.seq, e.created_at, e.id`, endpointID, appID, schemas.DeliveryFailed, ts(since), ts(until))
		if err != nil {
			return err
		}
		ds, err = s.requeue(ctx, tx, ds, now)
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
