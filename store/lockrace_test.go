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

// lockRace runs two stores on one Postgres schema: op runs on the first,
// and when it is about to run a statement starting with at, rival starts on
// the second. op goes on once rival has either committed or is seen
// waiting for a lock. The rival's error comes back on the channel.
type lockRace struct {
	op, rival *store.Store
	db        *sql.DB
	name      string // the rival's application_name, to find it waiting
}

func newLockRace(t *testing.T) *lockRace {
	t.Helper()
	dsn := pgtest.DSN(t)
	name := "rival_" + randomHex(t)
	db, err := sql.Open("postgres", dsn)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return &lockRace{op: openStore(t, dsn), rival: openStore(t, dsn+"&application_name="+name), db: db, name: name}
}

func (r *lockRace) at(t *testing.T, prefix string, rival func(ctx context.Context, s *store.Store) error) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	var once sync.Once
	r.op.OnStatement(func(q string) {
		if !strings.HasPrefix(strings.TrimSpace(q), prefix) {
			return
		}
		once.Do(func() {
			go func() { done <- rival(context.Background(), r.rival) }()
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if len(done) > 0 {
					return // committed (or failed) first: op must cope
				}
				var waiting int
				if err := r.db.QueryRow(`SELECT count(*) FROM pg_stat_activity
					WHERE wait_event_type = 'Lock' AND application_name = $1`, r.name).Scan(&waiting); err != nil {
					t.Error(err)
					return
				}
				if waiting > 0 {
					return // it waits for op
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Error("the rival neither ended nor waited for a lock within 30 s")
		})
	})
	return done
}

// okOrNotFound fails t unless err is nil or a not-found: what the contract
// answers when a deletion wins a race, never an internal error.
func okOrNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && !schemas.IsNotFound(err) {
		t.Fatalf("%s: %v, want success or not found", what, err)
	}
}

// An event accepted while another transaction deletes its app or one of
// its endpoints gets the contract's answer, never an internal error. On
// Postgres the deletion used to commit between the accept's read of the
// endpoints and its writes: a deleted ordered endpoint had no seq to take,
// a deleted app no row for the event to reference (the chaos test's 500
// on POST .../events).
func TestAcceptBesideDeletionPostgres(t *testing.T) {
	t.Parallel()
	for name, del := range map[string]func(ctx context.Context, s *store.Store) error{
		"endpoint": func(ctx context.Context, s *store.Store) error {
			return s.DeleteEndpoint(ctx, "app_1", "ep_o", time.Now())
		},
		"app": func(ctx context.Context, s *store.Store) error { return s.DeleteApp(ctx, "app_1", time.Now()) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newLockRace(t)
			mkApp(t, r.op, "app_1")
			mkEndpoint(t, r.op, "app_1", "ep_o", true)
			mkEndpoint(t, r.op, "app_1", "ep_u", false)
			deleted := r.at(t, "INSERT INTO events", del)
			created, ev, _, err := r.op.AcceptEvent(context.Background(), store.NewEvent{AppID: "app_1", ID: "evt_1",
				EventType: "a", Payload: []byte(`{}`), CreatedAt: time.Now()})
			okOrNotFound(t, "accept beside a deletion of the "+name, err)
			if err == nil && !created {
				t.Fatalf("accept: not created: %+v", ev)
			}
			must(t, <-deleted)
		})
	}
}

// What else is made for an app (a portal link's token, a source) is made
// or refused as app_not_found beside the app's deletion: the app was
// checked, then the insert failed on its foreign key once a deletion
// committed in between.
func TestCreateBesideAppDeletionPostgres(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, insert string
		create       func(ctx context.Context, s *store.Store) error
	}{
		{"portal token", "INSERT INTO portal_tokens", func(ctx context.Context, s *store.Store) error {
			return s.CreatePortalToken(ctx, "tok", store.PortalToken{AppID: "app_1", ExpiresAt: time.Now().Add(time.Hour)}, time.Now())
		}},
		{"source", "INSERT INTO sources", func(ctx context.Context, s *store.Store) error {
			return s.CreateSource(ctx, schemas.Source{ID: "src_1", AppID: "app_1", URL: "amqp://127.0.0.1/q", EventType: "a",
				Status: "active", CreatedAt: time.Now()})
		}},
		{"endpoint", "INSERT INTO endpoints", func(ctx context.Context, s *store.Store) error {
			return s.CreateEndpoint(ctx, schemas.Endpoint{ID: "ep_1", AppID: "app_1", URL: "https://example.com/",
				CreatedAt: time.Now()}, schemas.EndpointSecrets{Key: "whsec_ep_1"})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newLockRace(t)
			mkApp(t, r.op, "app_1")
			deleted := r.at(t, c.insert, func(ctx context.Context, s *store.Store) error { return s.DeleteApp(ctx, "app_1", time.Now()) })
			okOrNotFound(t, "create a "+c.name+" beside the app's deletion", c.create(context.Background(), r.op))
			must(t, <-deleted)
		})
	}
}

// A replay takes its locks in the store's one order (app, endpoints,
// events), so that what locks an endpoint before an event neither
// deadlocks with it nor leaves it without a seq: it used to lock the event
// first and take the ordered endpoint's seq after.
func TestReplayBesideEndpointChangesPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, s *store.Store)
		rival func(ctx context.Context, s *store.Store) error
		// after checks the delivery once both have ended.
		after func(t *testing.T, s *store.Store)
	}{
		{"endpoint deleted", func(t *testing.T, s *store.Store) {
			record(t, s, "app_1", "evt_1", "ep_o", schemas.DeliverySucceeded, 2)
		}, func(ctx context.Context, s *store.Store) error {
			return s.DeleteEndpoint(ctx, "app_1", "ep_o", time.Now())
		}, func(t *testing.T, s *store.Store) {
			// Replayed, then cancelled by the deletion; or never replayed.
			if st := status(t, s, "app_1", "evt_1", "ep_o"); st == schemas.DeliveryPending {
				t.Fatalf("a delivery to the deleted endpoint is %s", st)
			}
		}},
		{"app deleted", func(t *testing.T, s *store.Store) {
			record(t, s, "app_1", "evt_1", "ep_o", schemas.DeliverySucceeded, 2)
		}, func(ctx context.Context, s *store.Store) error {
			return s.DeleteApp(ctx, "app_1", time.Now())
		}, func(t *testing.T, s *store.Store) {
			if _, err := s.GetEvent(ctx, "app_1", "evt_1"); !schemas.IsNotFound(err) {
				t.Fatalf("event of the deleted app: %v", err)
			}
		}},
		{"failure noted", func(t *testing.T, s *store.Store) {
			markDelivering(t, s, "app_1", "evt_1", "ep_o")
		}, func(ctx context.Context, s *store.Store) error {
			// The attempt under way at the replay fails: its streak update
			// locks the endpoint, then the event.
			now := time.Now()
			_, err := s.RecordAttempts(ctx, []store.AttemptRecord{{AppID: "app_1", EventID: "evt_1", EndpointID: "ep_o",
				StartedAt: now, ResponseStatus: 500, Status: schemas.DeliveryPending, NextAttemptAt: &now, Gen: 1}},
				[]store.EndpointResult{{EndpointID: "ep_o", At: now}})
			return err
		}, func(t *testing.T, s *store.Store) {
			if st := status(t, s, "app_1", "evt_1", "ep_o"); st != schemas.DeliveryPending {
				t.Fatalf("the replayed delivery is %s", st)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newLockRace(t)
			mkApp(t, r.op, "app_1")
			mkEndpoint(t, r.op, "app_1", "ep_o", true)
			accept(t, r.op, "app_1", "evt_1", "a", 1)
			c.setup(t, r.op)
			done := r.at(t, "UPDATE endpoints SET next_seq", c.rival)
			_, err := r.op.PrepareReplay(ctx, "app_1", "evt_1", "ep_o", time.Now())
			okOrNotFound(t, "replay beside "+c.name, err)
			must(t, <-done)
			c.after(t, r.op)
		})
	}
}

// A recover and a replay of the same failed delivery never hand out one
// generation twice: the recover read the failed deliveries, then locked
// their events, and requeued what it had read even when a replay had
// requeued it in between.
func TestRecoverBesideReplayPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newLockRace(t)
	mkApp(t, r.op, "app_1")
	mkEndpoint(t, r.op, "app_1", "ep_u", false)
	accept(t, r.op, "app_1", "evt_1", "a", 1)
	record(t, r.op, "app_1", "evt_1", "ep_u", schemas.DeliveryFailed, 2)
	var replayed []schemas.Target
	done := r.at(t, "SELECT 1 FROM events WHERE app_id", func(ctx context.Context, s *store.Store) error {
		var err error
		replayed, err = s.PrepareReplay(ctx, "app_1", "evt_1", "", time.Now())
		return err
	})
	recovered, err := r.op.RecoverFailed(ctx, "app_1", "ep_u", at(0), at(100), time.Now())
	must(t, err)
	must(t, <-done)
	gens := map[int64]string{}
	for _, g := range []struct {
		by string
		ts []schemas.Target
	}{{"replay", replayed}, {"recover", nil}} {
		if g.by == "recover" {
			for _, d := range recovered {
				g.ts = append(g.ts, d.Target)
			}
		}
		for _, tg := range g.ts {
			if other, ok := gens[tg.Gen]; ok {
				t.Fatalf("the %s and the %s both requeued generation %d", other, g.by, tg.Gen)
			}
			gens[tg.Gen] = g.by
		}
	}
	if len(replayed) != 1 {
		t.Fatalf("replayed %+v, want the one delivery", replayed)
	}
}

// An endpoint's disable (which holds its endpoint, then locks the events
// with deliveries to cancel) beside its app's deletion, and beside another
// endpoint's disable: both end, neither with a deadlock. The deletion
// locked the events before the endpoints, and a disable's status update
// locked, in no order, every pending event with any delivery to its
// endpoint, the final ones too (the production-shape chaos run's 500 on
// DELETE /v1/apps/...: deadlock detected).
func TestDisableBesideOtherLocksPostgres(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, at string
		rival    func(ctx context.Context, s *store.Store) error
	}{
		{"app deleted", "SELECT app_id, id FROM events WHERE EXISTS", func(ctx context.Context, s *store.Store) error {
			return s.DeleteApp(ctx, "app_1", time.Now())
		}},
		{"another endpoint disabled", "UPDATE events SET status", func(ctx context.Context, s *store.Store) error {
			return s.DisableEndpoint(ctx, "app_1", "ep_2", "test", time.Now())
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newLockRace(t)
			mkApp(t, r.op, "app_1")
			mkEndpoint(t, r.op, "app_1", "ep_1", false)
			mkEndpoint(t, r.op, "app_1", "ep_2", false)
			// evt_x waits for ep_1 only, evt_y for ep_2 only: each disable
			// cancels one, and finds the other pending for the other's sake.
			accept(t, r.op, "app_1", "evt_x", "a", 0)
			accept(t, r.op, "app_1", "evt_y", "a", 1)
			for ev, ep := range map[string]string{"evt_x": "ep_2", "evt_y": "ep_1"} {
				_, err := r.db.Exec(`UPDATE deliveries SET status = 'succeeded' WHERE event_id = $1 AND endpoint_id = $2`, ev, ep)
				must(t, err)
			}
			done := r.at(t, c.at, c.rival)
			okOrNotFound(t, "disable beside "+c.name, r.op.DisableEndpoint(context.Background(), "app_1", "ep_1", "test", time.Now()))
			okOrNotFound(t, c.name+" beside a disable", <-done)
		})
	}
}
