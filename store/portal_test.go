package store_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// The portal and stats tests run against both databases, like the conformance suite.

func TestPortalAndStatsSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "herald.db")
	token := runPortalTokens(t, dsn)
	// Only a hash is stored: the token is nowhere in the database's files.
	files, _ := filepath.Glob(filepath.Join(dir, "herald.db*"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		must(t, err)
		if bytes.Contains(raw, []byte(token)) || bytes.Contains(raw, []byte(token[4:20])) {
			t.Fatalf("%s holds the token in clear", filepath.Base(f))
		}
	}
	testStats(t, openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "stats.db")))
}

func TestPortalAndStatsPostgres(t *testing.T) {
	t.Parallel()
	runPortalTokens(t, pgtest.DSN(t))
	testStats(t, openStore(t, pgtest.DSN(t)))
}

// runPortalTokens checks portal tokens against the database at dsn and
// returns one that was stored.
func runPortalTokens(t *testing.T, dsn string) string {
	ctx := context.Background()
	s := openStore(t, dsn)
	mkApp(t, s, "app_p")
	tok := "hpt_" + randomHex(t) + randomHex(t)
	exp := at(3600)
	wantErr(t, s.CreatePortalToken(ctx, tok, store.PortalToken{AppID: "nope", ExpiresAt: exp}, at(0)),
		schemas.KindNotFound, "app_not_found")
	must(t, s.CreatePortalToken(ctx, tok, store.PortalToken{AppID: "app_p", ReadOnly: true, ExpiresAt: exp}, at(0)))
	old := "hpt_old" + randomHex(t)
	must(t, s.CreatePortalToken(ctx, old, store.PortalToken{AppID: "app_p", ExpiresAt: at(10)}, at(0)))
	_, err := s.GetPortalToken(ctx, "hpt_unknown")
	wantErr(t, err, schemas.KindNotFound, "portal_token_not_found")

	// A restart (another Store on the same database) still knows the token.
	s2 := openStore(t, dsn)
	got, err := s2.GetPortalToken(ctx, tok)
	must(t, err)
	if got.AppID != "app_p" || !got.ReadOnly || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("token %+v", got)
	}
	// Making a link drops the links that have expired.
	must(t, s2.CreatePortalToken(ctx, "hpt_"+randomHex(t), store.PortalToken{AppID: "app_p", ExpiresAt: at(7200)}, at(11)))
	_, err = s2.GetPortalToken(ctx, old)
	wantErr(t, err, schemas.KindNotFound, "portal_token_not_found")

	// Deleting the app revokes its tokens, also for an app made again with its id.
	must(t, s.DeleteApp(ctx, "app_p", at(20)))
	mkApp(t, s, "app_p")
	_, err = s.GetPortalToken(ctx, tok)
	wantErr(t, err, schemas.KindNotFound, "portal_token_not_found")
	return tok
}

func testStats(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_s")
	mkEndpoint(t, s, "app_s", "ep_s", false)
	mkEndpoint(t, s, "app_s", "ep_other", false)
	_, err := s.Stats(ctx, "app_s", "ep_nope", at(0), at(3600))
	wantErr(t, err, schemas.KindNotFound, "endpoint_not_found")

	attempt := func(ev string, sec int, code int, ms int64, st schemas.DeliveryStatus) {
		t.Helper()
		var fin *time.Time
		if st.Final() {
			f := at(sec)
			fin = &f
		}
		_, _, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_s", EventID: ev, EndpointID: "ep_s",
			StartedAt: at(sec), DurationMS: ms, ResponseStatus: code, Status: st, FinishedAt: fin})
		must(t, err)
	}
	// Hour 0: e1 fails once (503) then succeeds; e2 gets a 404 and fails.
	accept(t, s, "app_s", "e1", "a", 10)
	attempt("e1", 20, 503, 100, schemas.DeliveryPending)
	attempt("e1", 30, 200, 10, schemas.DeliverySucceeded)
	accept(t, s, "app_s", "e2", "a", 40)
	attempt("e2", 50, 404, 20, schemas.DeliveryFailed)
	// Hour 1: e3 gets no answer and stays pending; e4 is cancelled.
	accept(t, s, "app_s", "e3", "a", 3700)
	attempt("e3", 3710, 0, 15000, schemas.DeliveryPending)
	accept(t, s, "app_s", "e4", "a", 3720)
	_, err = s.SetDeliveryStatus(ctx, "app_s", "e4", nil, schemas.DeliveryCancelled, at(3730))
	must(t, err)
	// Outside the window: ignored.
	accept(t, s, "app_s", "e5", "a", 9000)
	attempt("e5", 9000, 200, 1, schemas.DeliverySucceeded)

	st, err := s.Stats(ctx, "app_s", "ep_s", at(0), at(7200))
	must(t, err)
	want := store.DeliveryCounts{Succeeded: 1, Failed: 1, Cancelled: 1, Pending: 1}
	if st.Counts != want {
		t.Fatalf("counts %+v, want %+v", st.Counts, want)
	}
	if (st.Attempts != store.AttemptCounts{OK: 1, ClientError: 1, ServerError: 1, Error: 1}) {
		t.Fatalf("attempts %+v", st.Attempts)
	}
	if (st.Latency != store.Latency{P50: 20, P95: 15000, P99: 15000}) {
		t.Fatalf("latency %+v", st.Latency)
	}
	if len(st.Buckets) != 2 || !st.Buckets[0].Start.Equal(at(0)) || !st.Buckets[1].Start.Equal(at(3600)) {
		t.Fatalf("buckets %+v", st.Buckets)
	}
	b0, b1 := st.Buckets[0], st.Buckets[1]
	if b0.Succeeded != 1 || b0.Failed != 1 || b0.Attempts != 3 || b0.P50 != 20 || b1.Succeeded != 0 || b1.Attempts != 1 {
		t.Fatalf("buckets %+v", st.Buckets)
	}
	// Another endpoint sees only its own deliveries (e4 was cancelled for both).
	other, err := s.Stats(ctx, "app_s", "ep_other", at(0), at(7200))
	must(t, err)
	if (other.Counts != store.DeliveryCounts{Cancelled: 1, Pending: 3}) || other.Attempts.OK != 0 {
		t.Fatalf("other endpoint %+v", other)
	}
}
