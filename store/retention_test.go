package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

func TestPurgeBeforeSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	testPurgeBefore(t, openStore(t, "sqlite:"+path), "sqlite", path)
}

func TestPurgeBeforePostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	testPurgeBefore(t, openStore(t, dsn), "postgres", dsn)
}

// Old final events go with their deliveries and attempts; recent events and
// old pending ones stay.
func testPurgeBefore(t *testing.T, s *store.Store, driver, dsn string) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", false)
	for i, id := range []string{"evt_old_1", "evt_old_2", "evt_old_3", "evt_old_pending"} {
		accept(t, s, "app_1", id, "a", i)
	}
	accept(t, s, "app_1", "evt_recent", "a", 100_000)
	for _, id := range []string{"evt_old_1", "evt_old_2", "evt_old_3", "evt_recent"} {
		_, _, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: id, EndpointID: "ep_1",
			StartedAt: at(10), ResponseStatus: 500, Status: schemas.DeliveryFailed, Outcome: schemas.OutcomeFailed})
		must(t, err)
	}

	n, err := s.PurgeBefore(ctx, at(50_000), 2)
	must(t, err)
	if n != 2 {
		t.Fatalf("first batch removed %d, want 2 (the limit)", n)
	}
	n, err = s.PurgeBefore(ctx, at(50_000), 2)
	must(t, err)
	if n != 1 {
		t.Fatalf("second batch removed %d, want the 1 left", n)
	}
	for _, id := range []string{"evt_old_1", "evt_old_2", "evt_old_3"} {
		_, err := s.GetEvent(ctx, "app_1", id)
		wantErr(t, err, schemas.KindNotFound, "event_not_found")
	}
	if ev := getEvent(t, s, "app_1", "evt_old_pending"); ev.Status != schemas.EventPending {
		t.Fatalf("old pending event: %+v", ev)
	}
	if ev := getEvent(t, s, "app_1", "evt_recent"); len(ev.Deliveries) != 1 || len(ev.Deliveries[0].Attempts) != 1 {
		t.Fatalf("recent event lost its record: %+v", ev)
	}

	db, err := sql.Open(driver, dsn)
	must(t, err)
	defer db.Close()
	for table, want := range map[string]int{"events": 2, "deliveries": 2, "attempts": 1} {
		var got int
		must(t, db.QueryRow(`SELECT COUNT(*) FROM `+table).Scan(&got))
		if got != want {
			t.Errorf("%s: %d rows left, want %d", table, got, want)
		}
	}
}
