package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/schemas"
)

type sourceRow struct {
	ID        string `db:"id"`
	AppID     string `db:"app_id"`
	URL       string `db:"url"`
	EventType string `db:"event_type"`
	Status    string `db:"status"`
	LastError string `db:"last_error"`
	CreatedAt dbTime `db:"created_at"`
}

const sourceCols = `id, app_id, url, event_type, status, last_error, created_at`

func (r sourceRow) source() schemas.Source {
	return schemas.Source{ID: r.ID, AppID: r.AppID, URL: r.URL, EventType: r.EventType,
		Status: r.Status, LastError: r.LastError, CreatedAt: r.CreatedAt.T()}
}

func sourceNotFound(appID, id string) error {
	return schemas.Errorf(schemas.KindNotFound, "source_not_found", "source %q of app %q does not exist", id, appID)
}

// CreateSource stores a new source; app_not_found when its app does not exist.
func (s *Store) CreateSource(ctx context.Context, src schemas.Source) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.keepApp(ctx, tx, src.AppID); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO sources (id, app_id, url, event_type, status, last_error, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			src.ID, src.AppID, src.URL, src.EventType, src.Status, src.LastError, ts(src.CreatedAt), ts(src.CreatedAt)); err != nil {
			return fmt.Errorf("create source %s: %w", src.ID, err)
		}
		return nil
	})
}

// GetSource loads a source; source_not_found when there is none.
func (s *Store) GetSource(ctx context.Context, appID, id string) (schemas.Source, error) {
	var r sourceRow
	err := s.get(ctx, s.rdb, &r, `SELECT `+sourceCols+` FROM sources WHERE app_id = ? AND id = ?`, appID, id)
	if isNoRows(err) {
		return schemas.Source{}, sourceNotFound(appID, id)
	}
	if err != nil {
		return schemas.Source{}, fmt.Errorf("load source %s: %w", id, err)
	}
	return r.source(), nil
}

// ListSources lists an app's sources, newest first.
func (s *Store) ListSources(ctx context.Context, appID string, p Page) ([]schemas.Source, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	where, args := c.after("created_at", "id", []string{"app_id = ?"}, []any{appID})
	var rows []sourceRow
	err = s.sel(ctx, s.rdb, &rows, `SELECT `+sourceCols+` FROM sources`+whereClause(where)+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, p.limit()+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list sources of app %s: %w", appID, err)
	}
	rows, next := pageOf(rows, p.limit(), func(r sourceRow) (time.Time, string) { return r.CreatedAt.T(), r.ID })
	out := make([]schemas.Source, len(rows))
	for i, r := range rows {
		out[i] = r.source()
	}
	return out, next, nil
}

// DeleteSource deletes a source; source_not_found when there is none.
func (s *Store) DeleteSource(ctx context.Context, appID, id string) error {
	n, err := s.exec(ctx, s.db, `DELETE FROM sources WHERE app_id = ? AND id = ?`, appID, id)
	if err != nil {
		return fmt.Errorf("delete source %s: %w", id, err)
	}
	if n == 0 {
		return sourceNotFound(appID, id)
	}
	return nil
}

// SetSourceStatus records how a source's consumption goes; unchanged
// values write nothing. source_not_found when the source was deleted.
func (s *Store) SetSourceStatus(ctx context.Context, appID, id, status, lastError string, now time.Time) error {
	n, err := s.exec(ctx, s.db, `UPDATE sources SET status = ?, last_error = ?, updated_at = ?
		WHERE app_id = ? AND id = ? AND (status <> ? OR last_error <> ?)`,
		status, lastError, ts(now), appID, id, status, lastError)
	if err != nil {
		return fmt.Errorf("set status of source %s: %w", id, err)
	}
	if n > 0 {
		return nil
	}
	_, err = s.GetSource(ctx, appID, id)
	return err
}
