package activities_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/signing"
	"github.com/herald-hq/herald/store"
)

// BenchmarkDeliver is the hot path of one delivery: load, sign, POST to a
// receiver on 127.0.0.1 (keep-alive), record the attempt, in a SQLite store.
func BenchmarkDeliver(b *testing.B) {
	ctx := context.Background()
	st := openSQLite(b)
	if err := st.CreateApp(ctx, schemas.App{ID: "app_b", Name: "b", CreatedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	rcv := newReceiver(b, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	key, _ := signing.NewSecret()
	if err := st.CreateEndpoint(ctx, schemas.Endpoint{ID: "ep_b", AppID: "app_b", URL: rcv.URL,
		SignatureType: schemas.SignatureHMAC, CreatedAt: time.Now()}, schemas.EndpointSecrets{Key: key}); err != nil {
		b.Fatal(err)
	}
	payload := json.RawMessage(`{"order":{"id":"ord_123","amount":4200,"currency":"EUR","items":[{"sku":"a","qty":1},{"sku":"b","qty":2}]}}`)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = "evt_" + strconv.Itoa(i)
		if _, _, _, err := st.AcceptEvent(ctx, store.NewEvent{AppID: "app_b", ID: ids[i], EventType: "order.created",
			Payload: payload, CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	acts := activities.New(activities.Deps{Store: st, Config: activities.Config{AllowPrivateNetworks: true}})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := acts.Deliver(ctx, schemas.DeliverRequest{AppID: "app_b", EventID: ids[i], EndpointID: "ep_b", NextDelay: time.Second})
		if err != nil || res.Outcome != schemas.OutcomeSucceeded {
			b.Fatalf("%+v %v", res, err)
		}
	}
}
