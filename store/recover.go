package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/schemas"
)

// Lane names one ordered queue: an endpoint and an ordering key.
type Lane struct {
	EndpointID string `db:"endpoint_id"`
	Key        string `db:"lane"`
}

// RecoverAfterCrash puts on record what a process killed during attempts
// left unfinished, for a caller that knows no attempt can be under way
// anywhere: `herald dev`, holding its data dir's lock, before its worker
// starts. Every attempt noted in flight becomes interrupted, its key freed
// (as ReleaseInterrupted does), and a lane's holder killed during its drain
// (delivering, its own attempt a recorded success; see notDraining) is
// made succeeded. It returns the lanes that had a delivery delivering: the
// workflows that would move them on are those whose workflow task the dead
// process held, which Temporal hands out again only when the task times
// out (10 s), so the caller wakes each lane's head now.
//
// Without it the same repairs happen, later: a re-run attempt finds its own
// note in flight, a holder's re-run finishes it, and a drained delivery's
// workflow takes a drain's note for a dead one once it is old enough.
func (s *Store) RecoverAfterCrash(ctx context.Context, now time.Time) ([]Lane, error) {
	var lanes []Lane
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.sel(ctx, tx, &lanes, `SELECT DISTINCT endpoint_id, lane FROM deliveries
			WHERE seq > 0 AND status = ? ORDER BY endpoint_id, lane`, schemas.DeliveryDelivering); err != nil {
			return fmt.Errorf("lanes in delivery: %w", err)
		}
		if _, err := s.exec(ctx, tx, `UPDATE attempts SET outcome = ?, attempt_key = NULL WHERE outcome = ?`,
			schemas.OutcomeInterrupted, schemas.OutcomeInFlight); err != nil {
			return fmt.Errorf("attempts in flight: %w", err)
		}
		var holders []struct {
			AppID      string `db:"app_id"`
			EventID    string `db:"event_id"`
			EndpointID string `db:"endpoint_id"`
		}
		if err := s.sel(ctx, tx, &holders, `SELECT app_id, event_id, endpoint_id FROM deliveries
			WHERE status = ? AND NOT `+notDraining+` ORDER BY app_id, event_id`, schemas.DeliveryDelivering); err != nil {
			return fmt.Errorf("holders killed during their drain: %w", err)
		}
		for _, h := range holders {
			if err := s.lockEvent(ctx, tx, h.AppID, h.EventID); err != nil {
				return err
			}
			if _, err := s.exec(ctx, tx, `UPDATE deliveries SET status = ?, finished_at = ?, next_attempt_at = NULL, updated_at = ?
				WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`, schemas.DeliverySucceeded, ts(now), ts(now),
				h.AppID, h.EventID, h.EndpointID); err != nil {
				return fmt.Errorf("finish the holder of event %s to %s: %w", h.EventID, h.EndpointID, err)
			}
			if _, err := s.recomputeEvent(ctx, tx, h.AppID, h.EventID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recover after a crash: %w", err)
	}
	return lanes, nil
}
