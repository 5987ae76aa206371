package store

import (
	"context"
	"fmt"
	"time"

	"github.com/herald-hq/herald/schemas"
)

// PurgeBefore removes up to limit events created before cutoff whose
// deliveries are all final, and with them their deliveries and attempts
// (the foreign keys cascade). A pending event is kept whatever its age: its
// workflow still records into it. It returns how many events it removed.
func (s *Store) PurgeBefore(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	// On Postgres the purge skips the events another transaction holds (a
	// replay, an app's deletion): it never waits for them, so it takes no
	// part in a deadlock, and takes them at a later purge.
	skipLocked := ""
	if s.dialect == DialectPostgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	n, err := s.exec(ctx, s.db, `DELETE FROM events WHERE (app_id, id) IN (
		SELECT app_id, id FROM events WHERE created_at < ? AND status <> ? ORDER BY created_at LIMIT ?`+skipLocked+`)`,
		ts(cutoff), schemas.EventPending, limit)
	if err != nil {
		return 0, fmt.Errorf("remove events before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	return int(n), nil
}
