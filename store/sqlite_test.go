package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
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
