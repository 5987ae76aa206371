package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/schemas"
)

// DrainKey is the attempt key of an attempt made by a drain (an ordered
// endpoint's turn holder delivering the deliveries queued behind it). The
// delivery's own workflow adopts such an attempt when it fails.
func DrainKey(seq int64) string { return fmt.Sprintf("drain/%d", seq) }

// NextFresh is the delivery queued right behind seq at an ordered endpoint
// in its lane (the non-final one with the lowest seq above it), when no attempt was made
// for it yet; ok is false when there is none or it was already tried.
func (s *Store) NextFresh(ctx context.Context, endpointID, lane string, seq int64) (DeliveryRef, bool, error) {
	var d deliveryRow
	err := s.get(ctx, s.db, &d, `SELECT `+deliveryCols+` FROM deliveries
		WHERE endpoint_id = ? AND lane = ? AND seq > ? AND `+openOrdered+` ORDER BY seq LIMIT 1`, endpointID, lane, seq)
	if isNoRows(err) {
		return DeliveryRef{}, false, nil
	}
	if err != nil {
		return DeliveryRef{}, false, fmt.Errorf("next delivery of endpoint %s after seq %d: %w", endpointID, seq, err)
	}
	ref := d.ref()
	if d.Status != schemas.DeliveryPending {
		return ref, false, nil
	}
	var tried int
	err = s.get(ctx, s.db, &tried, `SELECT COUNT(*) FROM (SELECT 1 FROM attempts
		WHERE app_id = ? AND event_id = ? AND endpoint_id = ? LIMIT 1) AS x`, d.AppID, d.EventID, d.EndpointID)
	if err != nil {
		return ref, false, fmt.Errorf("next delivery of endpoint %s after seq %d: %w", endpointID, seq, err)
	}
	return ref, tried == 0, nil
}

// AdoptAttempt gives the attempt recorded under fromKey to r.Key, with the
// outcome its delivery's workflow decided (r.Outcome, r.RetryIn), and sets
// the delivery's status as RecordAttempt would. found is false when no
// attempt has fromKey (already adopted, or never made).
func (s *Store) AdoptAttempt(ctx context.Context, r AttemptRecord, fromKey string) (a schemas.Attempt, eventStatus schemas.EventStatus, found bool, err error) {
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var row attemptRow
		err := s.get(ctx, tx, &row, `SELECT event_id, endpoint_id, attempt, started_at, duration_ms, response_status, error, response_body
			FROM attempts WHERE app_id = ? AND event_id = ? AND endpoint_id = ? AND attempt_key = ?`,
			r.AppID, r.EventID, r.EndpointID, fromKey)
		if isNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		found, a = true, row.attempt()
		cur, err := s.lockDelivery(ctx, tx, r.AppID, r.EventID, r.EndpointID)
		if err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `UPDATE attempts SET attempt_key = ?, outcome = ?, retry_in_ms = ?
			WHERE app_id = ? AND event_id = ? AND endpoint_id = ? AND attempt = ?`,
			r.Key, r.Outcome, r.RetryIn.Milliseconds(), r.AppID, r.EventID, r.EndpointID, row.Attempt); err != nil {
			return err
		}
		eventStatus, _, err = s.afterAttempt(ctx, tx, r, cur)
		return err
	})
	if err != nil {
		return a, "", false, fmt.Errorf("adopt attempt %s of event %s to %s: %w", fromKey, r.EventID, r.EndpointID, err)
	}
	return a, eventStatus, found, nil
}
