package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// The conformance suite runs against both databases.

func TestSQLite(t *testing.T) {
	t.Parallel()
	runConformance(t, func(t *testing.T) *store.Store {
		return openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "herald.db"))
	})
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	runConformance(t, func(t *testing.T) *store.Store { return openStore(t, pgtest.DSN(t)) })
}

func openStore(tb testing.TB, dsn string) *store.Store {
	tb.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return s
}

func randomHex(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// runConformance runs every store test against stores made by open, each
// test on its own fresh database.
func runConformance(t *testing.T, open func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store)
	}{
		{"Migrate", testMigrate},
		{"Apps", testApps},
		{"AppsPagination", testAppsPagination},
		{"EventTypes", testEventTypes},
		{"Endpoints", testEndpoints},
		{"EndpointSecrets", testEndpointSecrets},
		{"AcceptEvent", testAcceptEvent},
		{"AcceptSubscriptions", testAcceptSubscriptions},
		{"AcceptConcurrent", testAcceptConcurrent},
		{"ListEvents", testListEvents},
		{"RecordAttempt", testRecordAttempt},
		{"AttemptByKey", testAttemptByKey},
		{"BeginRecordAttempts", testBeginRecordAttempts},
		{"FanOutStatements", testFanOutStatements},
		{"BeginForHolder", testBeginForHolder},
		{"Drain", testDrain},
		{"SetDeliveryStatus", testSetDeliveryStatus},
		{"Ordering", testOrdering},
		{"PrepareReplay", testPrepareReplay},
		{"RecoverFailed", testRecoverFailed},
		{"LoadDelivery", testLoadDelivery},
		{"RateToken", testRateToken},
		{"RateTokenConcurrent", testRateTokenConcurrent},
		{"AutoDisable", testAutoDisable},
		{"Cascades", testCascades},
		{"DeleteApp", testDeleteApp},
		{"ConcurrentRecorders", testConcurrentRecorders},
		{"DisableRacesRecorders", testDisableRacesRecorders},
		{"BadInput", testBadInput},
		{"Lanes", testLanes},
		{"QueuedBehind", testQueuedBehind},
		{"Generations", testGenerations},
		{"CancelUpTo", testCancelUpTo},
		{"RecoverAfterCrash", testRecoverAfterCrash},
		{"Outbox", testOutbox},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// Helpers shared by the tests.

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err is a *schemas.Error of the kind and code.
func wantErr(t *testing.T, err error, kind schemas.Kind, code string) {
	t.Helper()
	var e *schemas.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v, want %s/%s", err, kind, code)
	}
	if e.Kind != kind || e.Code != code {
		t.Fatalf("got %s/%s (%v), want %s/%s", e.Kind, e.Code, err, kind, code)
	}
}

func mkApp(t *testing.T, s *store.Store, id string) {
	t.Helper()
	must(t, s.CreateApp(context.Background(), schemas.App{ID: id, Name: "app " + id, CreatedAt: t0, UpdatedAt: t0}))
}

// mkEndpoint makes an enabled endpoint; opts may change it before it is stored.
func mkEndpoint(t *testing.T, s *store.Store, appID, id string, ordered bool, opts ...func(*schemas.Endpoint)) schemas.Endpoint {
	t.Helper()
	e := schemas.Endpoint{ID: id, AppID: appID, URL: "https://example.com/" + id, Ordered: ordered,
		SignatureType: schemas.SignatureHMAC, CreatedAt: t0, UpdatedAt: t0}
	for _, o := range opts {
		o(&e)
	}
	must(t, s.CreateEndpoint(context.Background(), e, schemas.EndpointSecrets{Key: "whsec_" + id}))
	return e
}

func accept(t *testing.T, s *store.Store, appID, id, typ string, sec int) (schemas.Event, []schemas.Target) {
	t.Helper()
	created, ev, targets, err := s.AcceptEvent(context.Background(), store.NewEvent{AppID: appID, ID: id,
		EventType: typ, Payload: []byte(`{"n":1}`), CreatedAt: at(sec)})
	must(t, err)
	if !created {
		t.Fatalf("event %s not created", id)
	}
	return ev, targets
}

func getEvent(t *testing.T, s *store.Store, appID, id string) schemas.Event {
	t.Helper()
	ev, err := s.GetEvent(context.Background(), appID, id)
	must(t, err)
	checkStatus(t, ev)
	return ev
}

// checkStatus checks the stored event status against schemas.EventStatus.
func checkStatus(t *testing.T, ev schemas.Event) {
	t.Helper()
	var st []schemas.DeliveryStatus
	for _, d := range ev.Deliveries {
		st = append(st, d.Status)
	}
	if want := schemas.EventStatusOf(st); ev.Status != want {
		t.Fatalf("event %s: stored status %s, deliveries %v say %s", ev.ID, ev.Status, st, want)
	}
}

func deliveryStatuses(ev schemas.Event) map[string]schemas.DeliveryStatus {
	m := map[string]schemas.DeliveryStatus{}
	for _, d := range ev.Deliveries {
		m[d.EndpointID] = d.Status
	}
	return m
}

func status(t *testing.T, s *store.Store, appID, eventID, endpointID string) schemas.DeliveryStatus {
	t.Helper()
	st, err := s.DeliveryStatus(context.Background(), appID, eventID, endpointID)
	must(t, err)
	return st
}

func record(t *testing.T, s *store.Store, appID, eventID, endpointID string, st schemas.DeliveryStatus, sec int) (int, schemas.EventStatus) {
	t.Helper()
	var fin *time.Time
	if st.Final() {
		f := at(sec)
		fin = &f
	}
	n, evStatus, err := s.RecordAttempt(context.Background(), store.AttemptRecord{AppID: appID, EventID: eventID,
		EndpointID: endpointID, StartedAt: at(sec), DurationMS: 12, ResponseStatus: 500, Status: st, FinishedAt: fin})
	must(t, err)
	return n, evStatus
}

// markDelivering marks a delivery delivering, whatever its generation.
func markDelivering(t *testing.T, s *store.Store, appID, eventID, endpointID string) {
	t.Helper()
	moved, err := s.MarkDelivering(context.Background(), appID, eventID, endpointID, 0)
	must(t, err)
	if !moved {
		t.Fatalf("delivery of %s to %s not marked delivering", eventID, endpointID)
	}
}
