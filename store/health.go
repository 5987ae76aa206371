package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/schemas"
)

// DisabledReasonFailing is the disabled_reason of an endpoint that
// NoteEndpointResult disabled.
const DisabledReasonFailing = "failing"

// NoteEndpointResult keeps the failure streak behind auto-disable: a success
// clears failing_since, a failure sets it if unset, and once at -
// failing_since >= disableAfter (disableAfter > 0) the endpoint is disabled
// with reason "failing" and its non-final deliveries cancelled. disabled is
// true when this call disabled it. An unknown endpoint is a no-op.
//
// The common cases are one conditional UPDATE that takes no lock when
// nothing changes, so this does not contend with AcceptEvent on the
// endpoint row.
func (s *Store) NoteEndpointResult(ctx context.Context, endpointID string, ok bool, at time.Time, disableAfter time.Duration) (disabled bool, err error) {
	if err := s.noteStreak(ctx, s.db, endpointID, ok, at); err != nil {
		return false, err
	}
	if ok {
		return false, nil
	}
	return s.DisableIfFailing(ctx, endpointID, at, disableAfter)
}

// noteStreak is NoteEndpointResult's change of the failure streak: a
// success clears failing_since, a failure sets it if unset.
func (s *Store) noteStreak(ctx context.Context, db querier, endpointID string, ok bool, at time.Time) error {
	if ok {
		if _, err := s.exec(ctx, db, `UPDATE endpoints SET failing_since = NULL
			WHERE id = ? AND failing_since IS NOT NULL`, endpointID); err != nil {
			return fmt.Errorf("note success of endpoint %s: %w", endpointID, err)
		}
		return nil
	}
	if _, err := s.exec(ctx, db, `UPDATE endpoints SET failing_since = ?
		WHERE id = ? AND failing_since IS NULL AND disabled = ?`, ts(at), endpointID, false); err != nil {
		return fmt.Errorf("note failure of endpoint %s: %w", endpointID, err)
	}
	return nil
}

// noteStreaks is noteStreak for several results, in lock order. A success
// changes only an endpoint that is failing, rarely any: with several, one
// read finds those first, where each took a statement of its own (ten for
// an event fanned out to ten endpoints).
func (s *Store) noteStreaks(ctx context.Context, tx *sqlx.Tx, results []EndpointResult) error {
	var ok []string
	for _, r := range results {
		if r.OK {
			ok = append(ok, r.EndpointID)
		}
	}
	failing := map[string]bool{}
	if len(ok) > 1 {
		query, args, err := sqlx.In(`SELECT id FROM endpoints WHERE id IN (?) AND failing_since IS NOT NULL`, ok)
		if err != nil {
			return fmt.Errorf("find failing endpoints: %w", err)
		}
		var ids []string
		if err := s.sel(ctx, tx, &ids, query, args...); err != nil {
			return fmt.Errorf("find failing endpoints: %w", err)
		}
		for _, id := range ids {
			failing[id] = true
		}
	}
	for _, i := range inLockOrder(results, func(r EndpointResult) [3]string { return [3]string{r.EndpointID} }) {
		r := results[i]
		if r.OK && len(ok) > 1 && !failing[r.EndpointID] {
			continue
		}
		if err := s.noteStreak(ctx, tx, r.EndpointID, r.OK, r.At); err != nil {
			return err
		}
	}
	return nil
}

// DisableIfFailing disables an endpoint, with reason "failing", and cancels
// its non-final deliveries when its failure streak (see NoteEndpointResult)
// has lasted disableAfter (> 0) at at. disabled is true when this call
// disabled it. It only reads unless the endpoint is due.
func (s *Store) DisableIfFailing(ctx context.Context, endpointID string, at time.Time, disableAfter time.Duration) (disabled bool, err error) {
	if disableAfter <= 0 {
		return false, nil
	}
	var row struct {
		AppID        string  `db:"app_id"`
		Disabled     bool    `db:"disabled"`
		FailingSince *dbTime `db:"failing_since"`
	}
	check := func(db querier, lock string) (bool, error) {
		err := s.get(ctx, db, &row, `SELECT app_id, disabled, failing_since FROM endpoints WHERE id = ?`+lock, endpointID)
		if isNoRows(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("note failure of endpoint %s: %w", endpointID, err)
		}
		return !row.Disabled && row.FailingSince != nil && at.Sub(row.FailingSince.T()) >= disableAfter, nil
	}
	due, err := check(s.rdb, "")
	if err != nil || !due {
		return false, err
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		// Check again under the lock: another worker may have disabled it,
		// or a success may have ended the streak.
		if disabled, err = check(tx, s.forUpdate()); err != nil || !disabled {
			return err
		}
		return s.disable(ctx, tx, row.AppID, endpointID, DisabledReasonFailing, at)
	})
	if err != nil {
		return false, err
	}
	return disabled, nil
}

// TakeRateToken takes one token from the endpoint's bucket (capacity
// perSecond, refilled at perSecond per second), kept in the database so the
// limit holds across processes. It returns 0 when a token was taken, or how
// long until one is available (taking nothing). perSecond <= 0 means no
// limit.
func (s *Store) TakeRateToken(ctx context.Context, endpointID string, perSecond int, now time.Time) (wait time.Duration, err error) {
	if perSecond <= 0 {
		return 0, nil
	}
	capacity := float64(perSecond)
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var b struct {
			Tokens      float64 `db:"tokens"`
			RefreshedAt dbTime  `db:"refreshed_at"`
		}
		err := s.get(ctx, tx, &b, `SELECT tokens, refreshed_at FROM rate_buckets WHERE endpoint_id = ?`+s.forUpdate(), endpointID)
		if isNoRows(err) {
			var one int
			err = s.get(ctx, tx, &one, `SELECT 1 FROM endpoints WHERE id = ?`, endpointID)
			if isNoRows(err) {
				return schemas.Errorf(schemas.KindNotFound, "endpoint_not_found", "endpoint %q does not exist", endpointID)
			}
			if err != nil {
				return err
			}
			n, err := s.exec(ctx, tx, `INSERT INTO rate_buckets (endpoint_id, tokens, refreshed_at) VALUES (?, ?, ?)
				ON CONFLICT (endpoint_id) DO NOTHING`, endpointID, capacity-1, ts(now))
			if err != nil || n == 1 {
				return err
			}
			// Another process made the bucket first: use it.
			err = s.get(ctx, tx, &b, `SELECT tokens, refreshed_at FROM rate_buckets WHERE endpoint_id = ?`+s.forUpdate(), endpointID)
		}
		if err != nil {
			return err
		}
		tokens, refreshed := b.Tokens, b.RefreshedAt.T()
		if elapsed := now.Sub(refreshed); elapsed > 0 {
			tokens = math.Min(capacity, tokens+elapsed.Seconds()*capacity)
			refreshed = now
		}
		tokens = math.Min(tokens, capacity) // the limit may have been lowered
		if tokens >= 1 {
			tokens--
		} else {
			wait = time.Duration(math.Ceil((1 - tokens) / capacity * float64(time.Second)))
			if wait < time.Millisecond {
				wait = time.Millisecond
			}
		}
		_, err = s.exec(ctx, tx, `UPDATE rate_buckets SET tokens = ?, refreshed_at = ? WHERE endpoint_id = ?`,
			tokens, ts(refreshed), endpointID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("take rate token of endpoint %s: %w", endpointID, err)
	}
	return wait, nil
}
