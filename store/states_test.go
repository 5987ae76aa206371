package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// Every state value goes into the database and comes back as itself, and
// keeps its contract spelling in JSON; a value the types do not know, read
// from the database, is an error rather than a new state.

func TestStatesSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	s := openStore(t, "sqlite:"+path)
	raw, err := sql.Open("sqlite", path)
	must(t, err)
	t.Cleanup(func() { raw.Close() })
	testStates(t, s, raw)
}

func TestStatesPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := openStore(t, dsn)
	raw, err := sql.Open("postgres", dsn)
	must(t, err)
	t.Cleanup(func() { raw.Close() })
	testStates(t, s, raw)
}

func testStates(t *testing.T, s *store.Store, raw *sql.DB) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", false)

	for i, st := range schemas.DeliveryStatuses() {
		id := "evt_" + string(st)
		accept(t, s, "app_1", id, "a", i)
		key := "run/" + string(st)
		_, evStatus, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: id, EndpointID: "ep_1",
			StartedAt: at(i), Status: st, Key: key, Outcome: schemas.Outcomes()[i]})
		must(t, err)
		ev := getEvent(t, s, "app_1", id)
		if got := ev.Deliveries[0].Status; got != st {
			t.Fatalf("delivery status %q came back %q", st, got)
		}
		if want := schemas.EventStatusOf([]schemas.DeliveryStatus{st}); evStatus != want || ev.Status != want {
			t.Fatalf("delivery %q: event status %q recorded, %q read, want %q", st, evStatus, ev.Status, want)
		}
		got, found, err := s.AttemptByKey(ctx, "app_1", id, "ep_1", key)
		must(t, err)
		if !found || got.Outcome != schemas.Outcomes()[i] {
			t.Fatalf("outcome %q came back %q (found %v)", schemas.Outcomes()[i], got.Outcome, found)
		}
		b, err := json.Marshal(ev)
		must(t, err)
		if !strings.Contains(string(b), `"status":"`+string(st)+`"`) {
			t.Fatalf("delivery status %q in JSON: %s", st, b)
		}
		var back schemas.Event
		must(t, json.Unmarshal(b, &back))
		if back.Status != ev.Status || back.Deliveries[0].Status != st {
			t.Fatalf("JSON round trip: %+v", back)
		}
	}
	for _, o := range schemas.Outcomes()[len(schemas.DeliveryStatuses()):] {
		key := "run/outcome/" + string(o)
		_, _, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_pending", EndpointID: "ep_1",
			StartedAt: at(0), Status: schemas.DeliveryPending, Key: key, Outcome: o})
		must(t, err)
		got, found, err := s.AttemptByKey(ctx, "app_1", "evt_pending", "ep_1", key)
		must(t, err)
		if !found || got.Outcome != o {
			t.Fatalf("outcome %q came back %q (found %v)", o, got.Outcome, found)
		}
	}

	// Writing an unknown state is refused before it reaches the database.
	_, _, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_pending", EndpointID: "ep_1",
		StartedAt: at(0), Status: schemas.DeliveryPending, Outcome: "paused"})
	if err == nil || !strings.Contains(err.Error(), `unknown outcome "paused"`) {
		t.Fatalf("record an unknown outcome: %v", err)
	}

	// Reading one is an error, for each of the three. (The queries hold
	// their values: the two dialects' placeholders differ.)
	exec := func(q string) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`UPDATE attempts SET outcome = 'paused' WHERE attempt_key = 'run/pending'`)
	if _, _, err := s.AttemptByKey(ctx, "app_1", "evt_pending", "ep_1", "run/pending"); err == nil ||
		!strings.Contains(err.Error(), `unknown outcome "paused"`) {
		t.Fatalf("read an unknown outcome: %v", err)
	}
	exec(`UPDATE deliveries SET status = 'paused' WHERE event_id = 'evt_pending'`)
	if _, err := s.DeliveryStatus(ctx, "app_1", "evt_pending", "ep_1"); err == nil ||
		!strings.Contains(err.Error(), `unknown delivery status "paused"`) {
		t.Fatalf("read an unknown delivery status: %v", err)
	}
	exec(`UPDATE events SET status = 'paused' WHERE id = 'evt_failed'`)
	if _, err := s.GetEvent(ctx, "app_1", "evt_failed"); err == nil ||
		!strings.Contains(err.Error(), `unknown event status "paused"`) {
		t.Fatalf("read an unknown event status: %v", err)
	}
}
