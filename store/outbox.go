package store

import (
	"context"
	"fmt"
	"time"
)

// The outbox closes the gap between the store and Temporal: the transaction
// that accepts an event (or re-queues its deliveries) also notes what its
// workflow must be told, the caller clears the note once Temporal took it,
// and the workers' sweep tells Temporal whatever a dead process left noted.
const (
	// DispatchStart: the event's workflow must be started.
	DispatchStart = "start"
	// DispatchReplay: re-queued deliveries must reach the event's workflow
	// (a replay signal, starting a new run when the last one closed).
	DispatchReplay = "replay"
)

// Undispatched is an event whose workflow still has to be told something.
type Undispatched struct {
	AppID    string `db:"app_id"`
	EventID  string `db:"id"`
	Dispatch string `db:"dispatch"`
}

// noteDispatch notes in tx that the event's workflow must be told kind.
func (s *Store) noteDispatch(ctx context.Context, tx querier, appID, eventID, kind string, now time.Time) error {
	if _, err := s.exec(ctx, tx, `UPDATE events SET dispatch = ?, dispatch_at = ? WHERE app_id = ? AND id = ?`,
		kind, ts(now), appID, eventID); err != nil {
		return fmt.Errorf("note dispatch of event %s: %w", eventID, err)
	}
	return nil
}

// ClearDispatch clears an event's outbox note when it is still kind: a
// later note (a replay after the start) stays for its own sender.
func (s *Store) ClearDispatch(ctx context.Context, appID, eventID, kind string) error {
	if _, err := s.exec(ctx, s.db, `UPDATE events SET dispatch = '' WHERE app_id = ? AND id = ? AND dispatch = ?`,
		appID, eventID, kind); err != nil {
		return fmt.Errorf("clear dispatch of event %s: %w", eventID, err)
	}
	return nil
}

// ListUndispatched lists up to limit events noted before the given time,
// oldest first.
func (s *Store) ListUndispatched(ctx context.Context, before time.Time, limit int) ([]Undispatched, error) {
	var out []Undispatched
	err := s.sel(ctx, s.rdb, &out, `SELECT app_id, id, dispatch FROM events
		WHERE dispatch <> '' AND dispatch_at < ? ORDER BY dispatch_at LIMIT ?`, ts(before), limit)
	if err != nil {
		return nil, fmt.Errorf("list undispatched events: %w", err)
	}
	return out, nil
}
