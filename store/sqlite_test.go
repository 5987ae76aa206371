package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/schemas"
)

func TestSQLiteOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	for _, dsn := range []string{
		"sqlite:" + filepath.Join(dir, "a.db"),
		filepath.Join(dir, "b.db"),
		"sqlite://" + filepath.Join(dir, "c.db"),
	} {
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatalf("open %s: %v", dsn, err)
		}
		if s.Dialect() != DialectSQLite {
			t.Fatalf("%s: dialect %s", dsn, s.Dialect())
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrate %s: %v", dsn, err)
		}
		for pragma, want := range map[string]string{
			"journal_mode": "wal", "synchronous": "1", "foreign_keys": "1", "busy_timeout": "5000",
		} {
			var got string
			if err := s.db.GetContext(ctx, &got, "PRAGMA "+pragma); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s: pragma %s = %s, want %s", dsn, pragma, got, want)
			}
		}
		s.Close()
	}
	for _, name := range []string{"a.db", "b.db", "c.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("database file: %v", err)
		}
	}
}

func TestSQLiteDSN(t *testing.T) {
	t.Parallel()
	got := sqliteDSN("sqlite:/data/h.db?cache=shared")
	want := "file:/data/h.db?_pragma=journal_mode%28WAL%29&_pragma=synchronous%28NORMAL%29&_pragma=busy_timeout%285000%29&_pragma=foreign_keys%281%29&_txlock=immediate&cache=shared"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestCursor(t *testing.T) {
	t.Parallel()
	c, err := decodeCursor(encodeCursor(timeAt(), "evt_a|b"))
	if err != nil || !c.at.Equal(timeAt()) || c.key != "evt_a|b" {
		t.Fatalf("round trip: %+v %v", c, err)
	}
}

func timeAt() (t0 time.Time) {
	return time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC)
}

// TestStmtCache checks that the helpers prepare each query once and that a
// statement prepared on the DB serves inside transactions, on both dialects.
func TestStmtCache(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testStmtCache(t, openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "h.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testStmtCache(t, openPostgresSchema(t))
	})
}

func testStmtCache(t *testing.T, s *Store) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cached := func(query string) bool { return s.stmts.lookup(s.q(query)) != nil }
	if err := s.CreateApp(ctx, schemas.App{ID: "app_1", Name: "a", CreatedAt: timeAt()}); err != nil {
		t.Fatal(err)
	}

	// Prepared outside a transaction, then used in many, concurrently.
	const one = `SELECT 1 FROM apps WHERE id = ?`
	var n int
	if err := s.get(ctx, s.db, &n, one, "app_1"); err != nil || n != 1 {
		t.Fatalf("get: %d %v", n, err)
	}
	if !cached(one) {
		t.Fatal("query on the DB not cached")
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				err := s.inTx(ctx, func(tx *sqlx.Tx) error {
					var n int
					if err := s.get(ctx, tx, &n, one, "app_1"); err != nil || n != 1 {
						return fmt.Errorf("get in tx: %d %w", n, err)
					}
					if err := s.get(ctx, tx, &n, one, "nope"); !isNoRows(err) {
						return fmt.Errorf("get missing in tx: %v", err)
					}
					_, err := s.exec(ctx, tx, `UPDATE apps SET name = ? WHERE id = ?`, fmt.Sprintf("n%d.%d", g, i), "app_1")
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if s.dialect == DialectPostgres {
		// The statement is prepared on the transaction's connection.
		err := s.inTx(ctx, func(tx *sqlx.Tx) error {
			var n int
			if err := s.get(ctx, tx, &n, one, "app_1"); err != nil {
				return err
			}
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM pg_prepared_statements WHERE statement = $1`, s.q(one))
		})
		if err != nil || n != 1 {
			t.Fatalf("pg_prepared_statements: %d %v", n, err)
		}
	}

	// First used in a transaction: unprepared there, prepared after it.
	const fresh = `SELECT name FROM apps WHERE id = ?`
	var name string
	if err := s.inTx(ctx, func(tx *sqlx.Tx) error { return s.get(ctx, tx, &name, fresh, "app_1") }); err != nil {
		t.Fatal(err)
	}
	if !cached(fresh) || len(s.stmts.pending) != 0 {
		t.Fatalf("query first run in a transaction: cached %v, pending %v", cached(fresh), s.stmts.pending)
	}
	var names []string
	if err := s.sel(ctx, s.db, &names, fresh, "app_1"); err != nil || len(names) != 1 || names[0] != name {
		t.Fatalf("sel: %v %v", names, err)
	}

	// Errors are the same as unprepared ones; bad queries are not cached.
	if err := s.get(ctx, s.db, &n, `SELECT nope FROM apps WHERE id = ?`, "app_1"); err == nil {
		t.Fatal("bad query: no error")
	}
	if cached(`SELECT nope FROM apps WHERE id = ?`) {
		t.Fatal("bad query cached")
	}

	// The cache stops growing at maxStmts; queries past it still work.
	for i := range maxStmts + 10 {
		if err := s.get(ctx, s.db, &n, fmt.Sprintf(`SELECT %d FROM apps WHERE id = ?`, i), "app_1"); err != nil || n != i {
			t.Fatalf("query %d: %d %v", i, n, err)
		}
	}
	if got := len(s.stmts.stmts); got != maxStmts {
		t.Fatalf("cache holds %d statements, want %d", got, maxStmts)
	}

	// Migrate drops the cache; Close closes every statement.
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if len(s.stmts.stmts) != 0 {
		t.Fatalf("cache after Migrate: %d", len(s.stmts.stmts))
	}
	if err := s.get(ctx, s.db, &n, one, "app_1"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.get(ctx, s.db, &n, one, "app_1"); err == nil {
		t.Fatal("get after Close: no error")
	}
}

func openMigrated(t *testing.T, dsn string) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// openPostgresSchema opens a migrated store in a fresh schema of the test
// database.
func openPostgresSchema(t *testing.T) *Store {
	return openMigrated(t, pgtest.DSN(t))
}

// TestSQLiteReadBesideWrite checks that on SQLite a plain read does not
// wait for a write transaction in progress (it would with one connection for
// both), sees only committed data, and sees a write once it is committed.
func TestSQLiteReadBesideWrite(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "h.db"))
	for _, id := range []string{"app_1", "app_2"} {
		if err := s.CreateApp(ctx, schemas.App{ID: id, Name: "before", CreatedAt: timeAt()}); err != nil {
			t.Fatal(err)
		}
	}

	held, release := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.inTx(ctx, func(tx *sqlx.Tx) error {
			if _, err := s.exec(ctx, tx, `UPDATE apps SET name = ? WHERE id = ?`, "after", "app_1"); err != nil {
				return err
			}
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	// Generous for a loaded machine; the read only has to not queue behind
	// the transaction, which is held until after it.
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	other, err1 := s.GetApp(rctx, "app_2")
	same, err2 := s.GetApp(rctx, "app_1")
	rcancel()
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err1 != nil || err2 != nil {
		t.Fatalf("reads during a write transaction: %v, %v", err1, err2)
	}
	if other.Name != "before" || same.Name != "before" {
		t.Fatalf("reads during a write transaction saw %q, %q; want the committed %q", other.Name, same.Name, "before")
	}
	if a, err := s.GetApp(ctx, "app_1"); err != nil || a.Name != "after" {
		t.Fatalf("read after commit: %q %v", a.Name, err)
	}

	// The read pool cannot write.
	if _, err := s.rdb.ExecContext(ctx, `UPDATE apps SET name = 'x' WHERE id = 'app_2'`); err == nil {
		t.Fatal("write on the read pool: no error")
	}
}

// TestSQLiteInMemoryReadsItsOwnWrites: an in-memory database lives in its
// one connection, so its reads cannot go to a read pool of their own.
func TestSQLiteInMemoryReadsItsOwnWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openMigrated(t, "sqlite::memory:")
	if err := s.CreateApp(ctx, schemas.App{ID: "app_1", Name: "mem", CreatedAt: timeAt()}); err != nil {
		t.Fatal(err)
	}
	if app, err := s.GetApp(ctx, "app_1"); err != nil || app.Name != "mem" {
		t.Fatalf("GetApp = %+v, %v; want the app just created", app, err)
	}
}
