package prodtest

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/longtest"

	"go.temporal.io/sdk/client"

	"github.com/herald-hq/herald/internal/searchattr"
)

// The Temporal half of the shape: schemas set up by the SQL tool on fresh
// databases, the server as a process on them with membership ports below
// 32768, the namespace and Herald's search attributes added; a kill -9 and
// a restart come back; at the end the databases are gone.
func TestTemporalOnPostgres(t *testing.T) {
	longtest.Require(t, "Temporal on Postgres")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin, err := Build(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	admin := os.Getenv("HERALD_TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	pg, err := newPostgres(admin)
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := startTemporal(ctx, bin, pg, t.TempDir(), "herald-test", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			tmp.close(context.Background())
		}
	})
	cfg, _ := os.ReadFile(tmp.configPath)
	for _, line := range strings.Split(string(cfg), "\n") {
		if i := strings.Index(line, "membershipPort: "); i >= 0 {

			port, err := strconv.Atoi(strings.TrimRight(strings.Fields(line[i+len("membershipPort: "):])[0], ","))
			if err != nil || port <= 0 || port >= 32768 {
				t.Errorf("membership port in %q not below 32768", line)
			}
		}
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: tmp.Addr, Namespace: "herald-test", Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if missing, err := searchattr.Missing(ctx, c.OperatorService(), "herald-test"); err != nil || len(missing) > 0 {
		t.Fatalf("search attributes missing %v, %v", missing, err)
	}

	tmp.Kill()
	if err := tmp.Start(); err != nil {
		t.Fatal(err)
	}
	if err := tmp.WaitReady(ctx); err != nil {
		t.Fatalf("after kill -9 and restart: %v", err)
	}

	if err := tmp.close(ctx); err != nil {
		t.Fatal(err)
	}
	closed = true
	db, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range tmp.databases {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 0 {
			t.Errorf("database %s left behind (%d, %v)", name, n, err)
		}
	}
}
