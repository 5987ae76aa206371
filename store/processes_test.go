package store_test

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/netcut"
	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/store"
)

func TestProcessLivenessSQLite(t *testing.T) {
	t.Parallel()
	testProcessLiveness(t, "sqlite:"+filepath.Join(t.TempDir(), "herald.db"))
}

func TestProcessLivenessPostgres(t *testing.T) {
	t.Parallel()
	testProcessLiveness(t, pgtest.DSN(t))
}

// An attempt in flight names the process that noted it, and a reader in
// another process learns whether that process lives: alive while it
// beats, gone once it has not for store.ProcessLapse or when it stopped
// (Forget); a note from `herald dev`, which names no process, is unknown.
func testProcessLiveness(t *testing.T, dsn string) {
	ctx := context.Background()
	open := func(opts ...store.Option) *store.Store {
		s, err := store.Open(ctx, dsn, opts...)
		must(t, err)
		t.Cleanup(func() { s.Close() })
		must(t, s.Migrate(ctx))
		return s
	}
	dying, stopping, reader := open(store.WithProcess("dying")), open(store.WithProcess("stopping")), open(store.WithProcess("reader"))
	dev := open()
	for _, s := range []*store.Store{dying, stopping, reader} {
		_, err := s.Beat(ctx)
		must(t, err)
	}
	mkApp(t, reader, "app_1")
	mkEndpoint(t, reader, "app_1", "ep_1", false)
	for i, s := range []*store.Store{dying, stopping, dev} {
		id := []string{"evt_dying", "evt_stopping", "evt_dev"}[i]
		accept(t, reader, "app_1", id, "a", i)
		if _, moved, err := s.BeginAttempt(ctx, "app_1", id, "ep_1", 0, "run/0/0", at(4)); err != nil || !moved {
			t.Fatalf("begin %s: moved %v, %v", id, moved, err)
		}
	}
	owner := func(id string) store.Owner {
		t.Helper()
		a, found, err := reader.AttemptByKey(ctx, "app_1", id, "ep_1", "run/0/0")
		if err != nil || !found {
			t.Fatalf("the note of %s: found %v, %v", id, found, err)
		}
		return a.Owner
	}
	if o := owner("evt_dying"); o != store.OwnerAlive {
		t.Fatalf("a note of a process that beats: owner %v, want alive", o)
	}
	if o := owner("evt_dev"); o != store.OwnerUnknown {
		t.Fatalf("a note of herald dev: owner %v, want unknown", o)
	}
	must(t, stopping.Forget(ctx))
	if o := owner("evt_stopping"); o != store.OwnerGone {
		t.Fatalf("a note of a process that stopped: owner %v, want gone", o)
	}

	// "dying" beats no more; the reader goes on beating.
	deadline := time.Now().Add(store.ProcessLapse + 10*time.Second)
	for {
		lapsed, err := reader.Beat(ctx)
		must(t, err)
		if slices.Contains(lapsed, "reader") {
			t.Fatalf("the process that beats is among the lapsed: %v", lapsed)
		}
		if slices.Contains(lapsed, "dying") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a process silent for %s is not lapsed (%v)", store.ProcessLapse+10*time.Second, lapsed)
		}
		time.Sleep(store.BeatEvery / 4) // the beats' own pace
	}
	if o := owner("evt_dying"); o != store.OwnerGone {
		t.Fatalf("a note of a process that stopped beating: owner %v, want gone", o)
	}
}

// A process lapsed for an hour is removed by the next beat, which still
// names it once; one lapsed for less stays, named by every beat, so that
// each process sees it lapse.
func TestBeatForgetsLongLapsedPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	openStore(t, dsn) // migrated
	for _, id := range []string{"old", "recent"} {
		s, err := store.Open(ctx, dsn, store.WithProcess(id))
		must(t, err)
		_, err = s.Beat(ctx)
		must(t, err)
		s.Close()
	}
	db, err := sql.Open("postgres", dsn)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	for id, ago := range map[string]string{"old": "61 minutes", "recent": "10 seconds"} {
		_, err := db.ExecContext(ctx, `UPDATE processes SET seen_at = now() - $1::interval WHERE id = $2`, ago, id)
		must(t, err)
	}
	s, err := store.Open(ctx, dsn, store.WithProcess("beater"))
	must(t, err)
	t.Cleanup(func() { s.Close() })
	for i, want := range [][]string{{"old", "recent"}, {"recent"}} {
		lapsed, err := s.Beat(ctx)
		must(t, err)
		if !slices.Equal(lapsed, want) {
			t.Fatalf("beat %d: lapsed %v, want %v", i+1, lapsed, want)
		}
	}
	var ids []string
	rows, err := db.QueryContext(ctx, `SELECT id FROM processes ORDER BY id`)
	must(t, err)
	for rows.Next() {
		var id string
		must(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	must(t, rows.Err())
	if want := []string{"beater", "recent"}; !slices.Equal(ids, want) {
		t.Fatalf("processes left %v, want %v", ids, want)
	}
}

// A silence all processes shared (the database unreachable for longer than
// store.ProcessLapse) is no sign of death: the first process to beat again
// takes none of the others for gone, and their attempts under way stay
// theirs, until they have had a lapse to beat again; one that does not is
// gone then.
func TestSharedSilenceIsNoDeathPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	must(t, err)
	link := netcut.Start(t, u.Host)
	u.Host = link.Addr()
	openStore(t, dsn) // migrated
	open := func(dsn, id string) *store.Store {
		s, err := store.Open(ctx, dsn, store.WithProcess(id))
		must(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}
	judge, other := open(u.String(), "judge"), open(dsn, "other")
	for _, s := range []*store.Store{judge, other} {
		_, err := s.Beat(ctx)
		must(t, err)
	}
	mkApp(t, judge, "app_1")
	mkEndpoint(t, judge, "app_1", "ep_1", false)
	accept(t, judge, "app_1", "evt_1", "a", 0)
	if _, moved, err := other.BeginAttempt(ctx, "app_1", "evt_1", "ep_1", 0, "run/0/0", at(4)); err != nil || !moved {
		t.Fatalf("begin: moved %v, %v", moved, err)
	}
	owner := func() store.Owner {
		t.Helper()
		a, found, err := judge.AttemptByKey(ctx, "app_1", "evt_1", "ep_1", "run/0/0")
		if err != nil || !found {
			t.Fatalf("the note: found %v, %v", found, err)
		}
		return a.Owner
	}

	// The database away from the judge, and ten seconds without a beat
	// from anyone.
	link.Set(netcut.Refuse)
	if _, err := judge.Beat(ctx); err == nil {
		t.Fatal("a beat through a cut link succeeded")
	}
	db, err := sql.Open("postgres", dsn)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.ExecContext(ctx, `UPDATE processes SET seen_at = now() - interval '10 seconds'`)
	must(t, err)
	link.Set(netcut.Pass)

	lapsed, err := judge.Beat(ctx)
	must(t, err)
	if len(lapsed) > 0 {
		t.Fatalf("the first beat after a shared silence takes %v for gone", lapsed)
	}
	if o := owner(); o != store.OwnerAlive {
		t.Fatalf("after a shared silence, the other's attempt under way: owner %v, want alive", o)
	}

	// A lapse later, the other has still not beaten: gone.
	judge.EndBeatGrace()
	lapsed, err = judge.Beat(ctx)
	must(t, err)
	if !slices.Equal(lapsed, []string{"other"}) {
		t.Fatalf("lapsed %v, want [other]", lapsed)
	}
	if o := owner(); o != store.OwnerGone {
		t.Fatalf("a process silent a lapse past the shared silence: owner %v, want gone", o)
	}
}
