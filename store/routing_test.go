package store_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

func TestRoutingSQLite(t *testing.T) {
	t.Parallel()
	testRouting(t, openStore(t, "sqlite:"+filepath.Join(t.TempDir(), "herald.db")))
}

func TestRoutingPostgres(t *testing.T) {
	t.Parallel()
	testRouting(t, openStore(t, pgtest.DSN(t)))
}

// testRouting: filter and transform are kept with the endpoint, and the
// filter decides at acceptance which endpoints get a delivery.
func testRouting(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_plain", false)
	mkEndpoint(t, s, "app_1", "ep_typed", true, func(e *schemas.Endpoint) {
		e.EventTypes, e.Filter, e.Transform = []string{"a"}, `payload.n > 1`, `{"body": payload}`
	})
	mkEndpoint(t, s, "app_1", "ep_any", false, func(e *schemas.Endpoint) { e.Filter = `false` })

	got, err := s.GetEndpoint(ctx, "app_1", "ep_typed")
	must(t, err)
	if got.Filter != `payload.n > 1` || got.Transform != `{"body": payload}` {
		t.Fatalf("stored filter %q, transform %q", got.Filter, got.Transform)
	}
	got.Filter, got.Transform = "", `{"headers": {"X-A": "b"}}`
	got, err = s.UpdateEndpoint(ctx, got)
	must(t, err)
	if got.Filter != "" || got.Transform != `{"headers": {"X-A": "b"}}` {
		t.Fatalf("updated filter %q, transform %q", got.Filter, got.Transform)
	}
	job := func(eventID, endpointID string) store.DeliveryJob {
		j, err := s.LoadDelivery(ctx, "app_1", eventID, endpointID)
		must(t, err)
		return j
	}
	_, targets := accept(t, s, "app_1", "evt_1", "a", 1)
	if j := job("evt_1", "ep_typed"); j.Endpoint.Transform != `{"headers": {"X-A": "b"}}` {
		t.Fatalf("LoadDelivery's endpoint transform %q", j.Endpoint.Transform)
	}
	// Without a FilterFunc, an endpoint with a filter gets nothing.
	if ids := targetIDs(targets); !slices.Equal(ids, []string{"ep_plain", "ep_typed"}) {
		t.Fatalf("targets %v without a FilterFunc, want ep_plain and ep_typed (no filter any more)", ids)
	}

	mkEndpoint(t, s, "app_1", "ep_typed2", true, func(e *schemas.Endpoint) {
		e.EventTypes, e.Filter = []string{"a", "b"}, `typed`
	})
	var asked []string
	filter := func(endpointID, expr string, typed bool) bool {
		asked = append(asked, endpointID)
		switch expr {
		case "typed":
			return typed
		case "false":
			return !typed // proves ep_any is untyped
		}
		t.Errorf("asked about %s (%q)", endpointID, expr)
		return false
	}
	created, ev, targets, err := s.AcceptEvent(ctx, store.NewEvent{AppID: "app_1", ID: "evt_2", EventType: "a",
		Payload: []byte(`{}`), CreatedAt: at(2), Filter: filter})
	must(t, err)
	if !created || !slices.Equal(targetIDs(targets), []string{"ep_any", "ep_plain", "ep_typed", "ep_typed2"}) {
		t.Fatalf("created %v, targets %v", created, targetIDs(targets))
	}
	if !slices.Equal(asked, []string{"ep_any", "ep_typed2"}) {
		t.Fatalf("the filter was asked about %v, want only the endpoints with one", asked)
	}
	if len(ev.Deliveries) != 4 {
		t.Fatalf("%d deliveries", len(ev.Deliveries))
	}

	// Filtered out everywhere: the event is delivered with no deliveries.
	_, ev, targets, err = s.AcceptEvent(ctx, store.NewEvent{AppID: "app_1", ID: "evt_3", EventType: "c",
		Payload: []byte(`{}`), CreatedAt: at(3), Filter: func(string, string, bool) bool { return false }})
	must(t, err)
	if !slices.Equal(targetIDs(targets), []string{"ep_plain"}) {
		t.Fatalf("targets %v, want ep_plain alone", targetIDs(targets))
	}
	if stored := getEvent(t, s, "app_1", "evt_3"); len(stored.Deliveries) != 1 || stored.Status != ev.Status {
		t.Fatalf("stored %+v", stored)
	}
}

func targetIDs(ts []schemas.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.EndpointID
	}
	return out
}
