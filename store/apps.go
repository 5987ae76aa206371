package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/schemas"
)

type appRow struct {
	ID        string `db:"id"`
	Name      string `db:"name"`
	CreatedAt dbTime `db:"created_at"`
	UpdatedAt dbTime `db:"updated_at"`
}

func (r appRow) app() schemas.App {
	return schemas.App{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt.T(), UpdatedAt: r.UpdatedAt.T()}
}

func appNotFound(id string) error {
	return schemas.Errorf(schemas.KindNotFound, "app_not_found", "app %q does not exist", id)
}

// CreateApp stores a new app; app_exists (conflict) when the id is taken.
func (s *Store) CreateApp(ctx context.Context, a schemas.App) error {
	updated := a.UpdatedAt
	if updated.IsZero() {
		updated = a.CreatedAt
	}
	n, err := s.exec(ctx, s.db, `INSERT INTO apps (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, a.ID, a.Name, ts(a.CreatedAt), ts(updated))
	if err != nil {
		return fmt.Errorf("create app %s: %w", a.ID, err)
	}
	if n == 0 {
		return schemas.Errorf(schemas.KindConflict, "app_exists", "app %q already exists", a.ID)
	}
	return nil
}

// GetApp loads an app; app_not_found when there is none.
func (s *Store) GetApp(ctx context.Context, id string) (schemas.App, error) {
	var r appRow
	err := s.get(ctx, s.rdb, &r, `SELECT id, name, created_at, updated_at FROM apps WHERE id = ?`, id)
	if isNoRows(err) {
		return schemas.App{}, appNotFound(id)
	}
	if err != nil {
		return schemas.App{}, fmt.Errorf("load app %s: %w", id, err)
	}
	return r.app(), nil
}

// ListApps lists apps, newest first.
func (s *Store) ListApps(ctx context.Context, p Page) ([]schemas.App, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	where, args := c.after("created_at", "id", nil, nil)
	var rows []appRow
	err = s.sel(ctx, s.rdb, &rows, `SELECT id, name, created_at, updated_at FROM apps`+whereClause(where)+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, p.limit()+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list apps: %w", err)
	}
	rows, next := pageOf(rows, p.limit(), func(r appRow) (time.Time, string) { return r.CreatedAt.T(), r.ID })
	apps := make([]schemas.App, len(rows))
	for i, r := range rows {
		apps[i] = r.app()
	}
	return apps, next, nil
}

// UpdateApp renames an app.
func (s *Store) UpdateApp(ctx context.Context, id, name string, now time.Time) (schemas.App, error) {
	var r appRow
	err := s.get(ctx, s.db, &r, `UPDATE apps SET name = ?, updated_at = ? WHERE id = ?
		RETURNING id, name, created_at, updated_at`, name, ts(now), id)
	if isNoRows(err) {
		return schemas.App{}, appNotFound(id)
	}
	if err != nil {
		return schemas.App{}, fmt.Errorf("update app %s: %w", id, err)
	}
	return r.app(), nil
}

// keepApp keeps the app from deletion until tx ends (see forKeyShare):
// whatever tx then adds that references it goes in before a deletion, which
// takes it away too, or app_not_found when a deletion came first. Checking
// it without the lock let a deletion commit in between, failing the insert
// on its foreign key (a 500).
func (s *Store) keepApp(ctx context.Context, tx *sqlx.Tx, appID string) error {
	return s.lockApp(ctx, tx, appID, s.forKeyShare())
}

// lockApp locks the app's row with the given clause until tx ends;
// app_not_found when there is none.
func (s *Store) lockApp(ctx context.Context, tx *sqlx.Tx, appID, clause string) error {
	var one int
	err := s.get(ctx, tx, &one, `SELECT 1 FROM apps WHERE id = ?`+clause, appID)
	if isNoRows(err) {
		return appNotFound(appID)
	}
	if err != nil {
		return fmt.Errorf("lock app %s: %w", appID, err)
	}
	return nil
}

// DeleteApp deletes an app with its endpoints and with its events, their
// deliveries and attempts, in one transaction. Workflows still running for
// those events then find their deliveries gone (KindNotFound).
func (s *Store) DeleteApp(ctx context.Context, id string, now time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockApp(ctx, tx, id, s.forUpdate()); err != nil {
			return err
		}
		// In the store's one lock order (docs/architecture.md): the
		// endpoints, then the events, each in id order, before the deletes
		// lock them in whatever order they find them. Deleting the events
		// first deadlocked beside an endpoint's disable, which holds its
		// endpoint and then locks events (the production-shape chaos run).
		if s.dialect == DialectPostgres {
			for _, q := range []string{
				`SELECT id FROM endpoints WHERE app_id = ? ORDER BY id FOR UPDATE`,
				`SELECT id FROM events WHERE app_id = ? ORDER BY id FOR UPDATE`,
			} {
				var ids []string
				if err := s.sel(ctx, tx, &ids, q, id); err != nil {
					return fmt.Errorf("delete app %s: lock: %w", id, err)
				}
			}
		}
		for _, q := range []string{
			`DELETE FROM events WHERE app_id = ?`,    // cascades to deliveries and attempts
			`DELETE FROM endpoints WHERE app_id = ?`, // cascades to rate buckets
			`DELETE FROM apps WHERE id = ?`,
		} {
			if _, err := s.exec(ctx, tx, q, id); err != nil {
				return fmt.Errorf("delete app %s: %w", id, err)
			}
		}
		return nil
	})
}
