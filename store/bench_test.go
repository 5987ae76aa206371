package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// BenchmarkHotPath measures the store's share of one ordered delivery:
// accept, load, mark delivering, record the attempt. Run with
// -bench HotPath; the Postgres one needs HERALD_TEST_DATABASE_URL's server.
func BenchmarkHotPath(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchHotPath(b, openStore(b, "sqlite:"+filepath.Join(b.TempDir(), "bench.db")))
	})
	b.Run("postgres", func(b *testing.B) {
		benchHotPath(b, openStore(b, pgtest.DSN(b)))
	})
}

func benchHotPath(b *testing.B, s *store.Store) {
	ctx := context.Background()
	must2(b, s.CreateApp(ctx, schemas.App{ID: "app_1", Name: "a", CreatedAt: t0}))
	for i := range 4 {
		must2(b, s.CreateEndpoint(ctx, schemas.Endpoint{ID: fmt.Sprintf("ep_%d", i), AppID: "app_1", URL: "https://x",
			Ordered: true, CreatedAt: t0}, schemas.EndpointSecrets{Key: "k"}))
	}
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			id := fmt.Sprintf("evt_%d", i)
			_, _, targets, err := s.AcceptEvent(ctx, store.NewEvent{AppID: "app_1", ID: id, EventType: "a",
				Payload: []byte(`{"hello":"world"}`), CreatedAt: at(int(i))})
			if err != nil {
				b.Error(err)
				return
			}
			ep := targets[i%4].EndpointID
			if _, err := s.LoadDelivery(ctx, "app_1", id, ep); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.MarkDelivering(ctx, "app_1", id, ep, 0); err != nil {
				b.Error(err)
				return
			}
			if _, _, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: id, EndpointID: ep,
				StartedAt: at(int(i)), ResponseStatus: 200, Status: schemas.DeliverySucceeded}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func must2(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
