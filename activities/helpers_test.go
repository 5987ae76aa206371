package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/metrics"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/signing"
	"github.com/herald-hq/herald/store"
)

// Every test runs against a real store: a SQLite file, and Postgres when it
// answers (HERALD_TEST_DATABASE_URL, default the local one;
// HERALD_TEST_SKIP_POSTGRES=1 skips it when it does not).

type opener func(t testing.TB) *store.Store

func openSQLite(t testing.TB) *store.Store {
	return openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "herald.db"))
}

func openPostgres(t testing.TB) *store.Store {
	return openStore(t, pgtest.DSN(t))
}

func openStore(t testing.TB, dsn string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// eachStore runs fn as a parallel subtest per database.
func eachStore(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Helper()
	t.Parallel()
	for _, db := range []struct {
		name string
		open opener
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			fn(t, db.open)
		})
	}
}

// env is one store with one app, and the activities over it.
type env struct {
	t     *testing.T
	ctx   context.Context
	store *store.Store
	acts  *activities.Activities
	m     *metrics.Metrics
	app   string
	n     int
}

type option func(*activities.Deps)

func withConfig(f func(*activities.Config)) option {
	return func(d *activities.Deps) { f(&d.Config) }
}

func withClock(now func() time.Time) option {
	return func(d *activities.Deps) { d.Now = now }
}

func newEnv(t *testing.T, open opener, opts ...option) *env {
	t.Helper()
	st := open(t)
	e := &env{t: t, ctx: context.Background(), store: st, app: "app_test"}
	if err := st.CreateApp(e.ctx, schemas.App{ID: e.app, Name: "test", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.m = metrics.New(nil, slog.Default())
	d := activities.Deps{
		Store:   st,
		Metrics: e.m,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Config: activities.Config{DeliveryTimeout: 5 * time.Second, AllowPrivateNetworks: true,
			DisableAfter: 24 * time.Hour, UserAgent: "Herald/test"},
	}
	for _, o := range opts {
		o(&d)
	}
	e.acts = activities.New(d)
	return e
}

// metric reports whether the activities' metrics have the line want.
func (e *env) metric(want string) bool {
	rec := httptest.NewRecorder()
	e.m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return strings.Contains(rec.Body.String(), want+"\n")
}

// endpoint creates an endpoint of the app with a fresh HMAC secret; mod may
// change it before it is stored.
func (e *env) endpoint(rawURL string, mod func(*schemas.Endpoint, *schemas.EndpointSecrets)) (schemas.Endpoint, schemas.EndpointSecrets) {
	e.t.Helper()
	e.n++
	key, err := signing.NewSecret()
	if err != nil {
		e.t.Fatal(err)
	}
	ep := schemas.Endpoint{ID: "ep_" + string(rune('a'+e.n)), AppID: e.app, URL: rawURL,
		SignatureType: schemas.SignatureHMAC, CreatedAt: time.Now()}
	sec := schemas.EndpointSecrets{Key: key}
	if mod != nil {
		mod(&ep, &sec)
	}
	if err := e.store.CreateEndpoint(e.ctx, ep, sec); err != nil {
		e.t.Fatal(err)
	}
	return ep, sec
}

// event accepts an event with the payload for every endpoint of the app.
func (e *env) event(id, eventType, payload string, createdAt time.Time) []schemas.Target {
	e.t.Helper()
	created, _, targets, err := e.store.AcceptEvent(e.ctx, store.NewEvent{AppID: e.app, ID: id,
		EventType: eventType, Payload: json.RawMessage(payload), CreatedAt: createdAt})
	if err != nil || !created {
		e.t.Fatalf("accept event %s: created=%v err=%v", id, created, err)
	}
	return targets
}

func (e *env) deliver(eventID, endpointID string, nextDelay time.Duration) schemas.DeliverResult {
	e.t.Helper()
	res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: eventID,
		EndpointID: endpointID, NextDelay: nextDelay})
	if err != nil {
		e.t.Fatalf("deliver %s to %s: %v", eventID, endpointID, err)
	}
	return res
}

// succeed makes the first attempt of an ordered target, which must succeed.
func (e *env) succeed(eventID, endpointID string, target schemas.Target) schemas.DeliverResult {
	e.t.Helper()
	res, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: eventID, EndpointID: endpointID,
		Seq: target.Seq, Gen: target.Gen, Key: "run/" + eventID + "/0", NextDelay: time.Minute})
	if err != nil || res.Outcome != schemas.OutcomeSucceeded {
		e.t.Fatalf("deliver %s: %+v %v", eventID, res, err)
	}
	return res
}

// delivery is the stored state of one delivery.
func (e *env) delivery(eventID, endpointID string) (schemas.Event, schemas.Delivery) {
	e.t.Helper()
	ev, err := e.store.GetEvent(e.ctx, e.app, eventID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, d := range ev.Deliveries {
		if d.EndpointID == endpointID {
			return ev, d
		}
	}
	e.t.Fatalf("event %s has no delivery to %s", eventID, endpointID)
	return ev, schemas.Delivery{}
}

// receiver is a real HTTP server on 127.0.0.1 that records what it gets.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

type received struct {
	header http.Header
	body   []byte
}

// newReceiver starts a receiver answering with handle (nil: 200 "ok").
func newReceiver(t testing.TB, handle http.HandlerFunc) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, received{header: req.Header.Clone(), body: body})
		r.mu.Unlock()
		if handle != nil {
			handle(w, req)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}
