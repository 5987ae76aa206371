package store_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// An event accepted while another transaction deletes its app or one of
// its endpoints gets the contract's answer, never an internal error. On
// Postgres the deletion used to commit between the accept's read of the
// endpoints and its writes: a deleted ordered endpoint had no seq to take,
// a deleted app no row for the event to reference (the chaos test's 500
// on POST .../events). Here the deletion starts at that moment, and the
// accept goes on once the deletion has either committed or is seen
// waiting for it.
func TestAcceptBesideDeletionPostgres(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		delete func(ctx context.Context, s *store.Store) error
		// waitsOn is the statement the deletion waits in when the accept
		// keeps what it reads.
		waitsOn string
	}{
		{"endpoint", func(ctx context.Context, s *store.Store) error {
			return s.DeleteEndpoint(ctx, "app_1", "ep_o", time.Now())
		}, "FROM endpoints WHERE app_id = $1 AND id = $2 FOR UPDATE"},
		{"app", func(ctx context.Context, s *store.Store) error {
			return s.DeleteApp(ctx, "app_1", time.Now())
		}, "SELECT 1 FROM apps WHERE id = $1 FOR UPDATE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := pgtest.DSN(t)
			acc, del := openStore(t, dsn), openStore(t, dsn)
			db, err := sql.Open("postgres", dsn)
			must(t, err)
			t.Cleanup(func() { db.Close() })
			mkApp(t, acc, "app_1")
			mkEndpoint(t, acc, "app_1", "ep_o", true)
			mkEndpoint(t, acc, "app_1", "ep_u", false)

			deleted := make(chan error, 1)
			var once sync.Once
			acc.OnStatement(func(q string) {
				if !strings.HasPrefix(q, "INSERT INTO events") {
					return
				}
				// The accept has read the app and its endpoints.
				once.Do(func() {
					go func() { deleted <- c.delete(ctx, del) }()
					deadline := time.Now().Add(30 * time.Second)
					for time.Now().Before(deadline) {
						if len(deleted) > 0 {
							return // committed first: the accept must cope
						}
						var waiting int
						must(t, db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
							WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'`, c.waitsOn).Scan(&waiting))
						if waiting > 0 {
							return // it waits for the accept
						}
						time.Sleep(5 * time.Millisecond)
					}
					t.Error("the deletion neither committed nor waited within 30 s")
				})
			})
			created, ev, _, err := acc.AcceptEvent(ctx, store.NewEvent{AppID: "app_1", ID: "evt_1", EventType: "a",
				Payload: []byte(`{}`), CreatedAt: time.Now()})
			if err != nil && !schemas.IsNotFound(err) {
				t.Fatalf("accept beside a deletion of the %s: %v, want the event accepted or the app not found", c.name, err)
			}
			if err == nil && !created {
				t.Fatalf("accept: not created: %+v", ev)
			}
			must(t, <-deleted)
		})
	}
}
