// Package pgtest gives each test a Postgres schema of its own, so tests that
// use the real database stay independent and can run in parallel.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/lib/pq" // the driver the schemas are made with
)

// DefaultURL is the database the tests use unless HERALD_TEST_DATABASE_URL
// names another: local, trust auth, database test.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// DSN makes a schema test_<random> on the test database and returns a DSN
// whose search_path is that schema; the schema is dropped when tb ends. An
// unreachable database fails tb, or skips it when
// HERALD_TEST_SKIP_POSTGRES=1.
func DSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("HERALD_TEST_DATABASE_URL")
	if base == "" {
		base = DefaultURL
	}
	admin, err := sql.Open("postgres", base)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("HERALD_TEST_SKIP_POSTGRES") == "1" {
			tb.Skipf("postgres unreachable at %s: %v", base, err)
		}
		tb.Fatalf("postgres unreachable at %s (set HERALD_TEST_SKIP_POSTGRES=1 to skip): %v", base, err)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	schema := "test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
