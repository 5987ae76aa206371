package store_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

func testMigrate(t *testing.T, s *store.Store) {
	ctx := context.Background()
	must(t, s.Migrate(ctx)) // again: nothing to do
	must(t, s.Ping(ctx))
	if d := s.Dialect(); d != store.DialectPostgres && d != store.DialectSQLite {
		t.Fatalf("dialect %q", d)
	}
}

func testApps(t *testing.T, s *store.Store) {
	ctx := context.Background()
	a := schemas.App{ID: "app_1", Name: "one", CreatedAt: t0.In(time.FixedZone("x", 3600)), UpdatedAt: t0}
	must(t, s.CreateApp(ctx, a))
	wantErr(t, s.CreateApp(ctx, a), schemas.KindConflict, "app_exists")

	got, err := s.GetApp(ctx, "app_1")
	must(t, err)
	want := schemas.App{ID: "app_1", Name: "one", CreatedAt: t0, UpdatedAt: t0}
	if got != want || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	_, err = s.GetApp(ctx, "nope")
	wantErr(t, err, schemas.KindNotFound, "app_not_found")

	got, err = s.UpdateApp(ctx, "app_1", "uno", at(10))
	must(t, err)
	if got.Name != "uno" || !got.UpdatedAt.Equal(at(10)) || !got.CreatedAt.Equal(t0) {
		t.Fatalf("updated %+v", got)
	}
	_, err = s.UpdateApp(ctx, "nope", "x", at(10))
	wantErr(t, err, schemas.KindNotFound, "app_not_found")

	must(t, s.DeleteApp(ctx, "app_1", at(11)))
	_, err = s.GetApp(ctx, "app_1")
	wantErr(t, err, schemas.KindNotFound, "app_not_found")
	wantErr(t, s.DeleteApp(ctx, "app_1", at(11)), schemas.KindNotFound, "app_not_found")
}

func testAppsPagination(t *testing.T, s *store.Store) {
	ctx := context.Background()
	// 7 apps; two share a created_at so the id breaks the tie.
	for i, id := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		sec := i
		if id == "e" {
			sec = 3 // same as d
		}
		must(t, s.CreateApp(ctx, schemas.App{ID: id, Name: id, CreatedAt: at(sec), UpdatedAt: at(sec)}))
	}
	var ids []string
	cursor := ""
	pages := 0
	for {
		apps, next, err := s.ListApps(ctx, store.Page{Limit: 3, Cursor: cursor})
		must(t, err)
		pages++
		for _, a := range apps {
			ids = append(ids, a.ID)
		}
		if next == "" {
			break
		}
		cursor = next
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if want := []string{"g", "f", "e", "d", "c", "b", "a"}; !reflect.DeepEqual(ids, want) || pages != 3 {
		t.Fatalf("pages %d ids %v, want 3 pages %v", pages, ids, want)
	}
	// Exactly a full last page: no next cursor.
	apps, next, err := s.ListApps(ctx, store.Page{Limit: 7})
	must(t, err)
	if len(apps) != 7 || next != "" {
		t.Fatalf("limit 7: %d apps, next %q", len(apps), next)
	}
	for _, bad := range []string{"!!!", "eHl6", "MTIzNA"} { // not base64; "xyz"; "1234" (no key)
		_, _, err = s.ListApps(ctx, store.Page{Limit: 3, Cursor: bad})
		wantErr(t, err, schemas.KindBadRequest, "invalid_cursor")
	}
}

func testEventTypes(t *testing.T, s *store.Store) {
	ctx := context.Background()
	plain := schemas.EventType{Name: "order.created", Description: "an order", CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateEventType(ctx, plain))
	wantErr(t, s.CreateEventType(ctx, plain), schemas.KindConflict, "event_type_exists")
	schema := json.RawMessage(`{"type":"object","required":["id"]}`)
	must(t, s.CreateEventType(ctx, schemas.EventType{Name: "order.paid", Schema: schema, CreatedAt: at(1), UpdatedAt: at(1)}))

	got, err := s.GetEventType(ctx, "order.created")
	must(t, err)
	if got.Schema != nil || got.Description != "an order" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("got %+v", got)
	}
	got, err = s.GetEventType(ctx, "order.paid")
	must(t, err)
	if string(got.Schema) != string(schema) {
		t.Fatalf("schema %s", got.Schema)
	}
	_, err = s.GetEventType(ctx, "nope")
	wantErr(t, err, schemas.KindNotFound, "event_type_not_found")

	got, err = s.UpdateEventType(ctx, schemas.EventType{Name: "order.paid", Description: "paid", UpdatedAt: at(5)})
	must(t, err)
	if got.Schema != nil || got.Description != "paid" || !got.UpdatedAt.Equal(at(5)) || !got.CreatedAt.Equal(at(1)) {
		t.Fatalf("updated %+v", got)
	}
	_, err = s.UpdateEventType(ctx, schemas.EventType{Name: "nope", UpdatedAt: at(5)})
	wantErr(t, err, schemas.KindNotFound, "event_type_not_found")

	for i := 2; i < 6; i++ {
		must(t, s.CreateEventType(ctx, schemas.EventType{Name: "t" + string(rune('0'+i)), CreatedAt: at(i), UpdatedAt: at(i)}))
	}
	types, next, err := s.ListEventTypes(ctx, store.Page{Limit: 4})
	must(t, err)
	if names(types) != "t5 t4 t3 t2" || next == "" {
		t.Fatalf("page 1: %s next %q", names(types), next)
	}
	types, next, err = s.ListEventTypes(ctx, store.Page{Limit: 4, Cursor: next})
	must(t, err)
	if names(types) != "order.paid order.created" || next != "" {
		t.Fatalf("page 2: %s next %q", names(types), next)
	}

	must(t, s.DeleteEventType(ctx, "order.paid"))
	wantErr(t, s.DeleteEventType(ctx, "order.paid"), schemas.KindNotFound, "event_type_not_found")
}

func names(ts []schemas.EventType) string {
	out := ""
	for i, t := range ts {
		if i > 0 {
			out += " "
		}
		out += t.Name
	}
	return out
}

func testEndpoints(t *testing.T, s *store.Store) {
	ctx := context.Background()
	e := schemas.Endpoint{ID: "ep_1", AppID: "app_1", URL: "https://example.com/hook", Description: "d",
		EventTypes: []string{"a", "b"}, Ordered: true, RateLimitPerSecond: 5,
		Headers: map[string]string{"X-Team": "blue"}, SignatureType: schemas.SignatureEd25519,
		CreatedAt: t0, UpdatedAt: t0}
	wantErr(t, s.CreateEndpoint(ctx, e, schemas.EndpointSecrets{Key: "k"}), schemas.KindNotFound, "app_not_found")
	mkApp(t, s, "app_1")
	mkApp(t, s, "app_2")
	must(t, s.CreateEndpoint(ctx, e, schemas.EndpointSecrets{Key: "k"}))
	wantErr(t, s.CreateEndpoint(ctx, e, schemas.EndpointSecrets{Key: "k"}), schemas.KindConflict, "endpoint_exists")

	got, err := s.GetEndpoint(ctx, "app_1", "ep_1")
	must(t, err)
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("got %+v\nwant %+v", got, e)
	}
	_, err = s.GetEndpoint(ctx, "app_2", "ep_1") // another app's endpoint
	wantErr(t, err, schemas.KindNotFound, "endpoint_not_found")

	// Defaults: nil lists come back empty, not null.
	bare := mkEndpoint(t, s, "app_1", "ep_2", false, func(e *schemas.Endpoint) { e.CreatedAt = at(1) })
	got, err = s.GetEndpoint(ctx, "app_1", "ep_2")
	must(t, err)
	if got.EventTypes == nil || len(got.EventTypes) != 0 || got.Headers == nil || got.Ordered || got.DisabledAt != nil {
		t.Fatalf("bare endpoint %+v (made %+v)", got, bare)
	}

	// Update replaces every mutable field.
	dis := at(20)
	upd := e
	upd.URL, upd.Description, upd.EventTypes, upd.Ordered = "http://other.example/x", "", nil, false
	upd.RateLimitPerSecond, upd.Headers, upd.Disabled, upd.DisabledReason, upd.DisabledAt = 0, nil, true, "manual", &dis
	upd.UpdatedAt = at(20)
	got, err = s.UpdateEndpoint(ctx, upd)
	must(t, err)
	want := upd
	want.EventTypes, want.Headers = []string{}, map[string]string{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("updated %+v\nwant %+v", got, want)
	}
	upd.AppID = "app_2"
	_, err = s.UpdateEndpoint(ctx, upd)
	wantErr(t, err, schemas.KindNotFound, "endpoint_not_found")

	for i := 3; i <= 5; i++ {
		mkEndpoint(t, s, "app_1", "ep_"+string(rune('0'+i)), true, func(e *schemas.Endpoint) { e.CreatedAt = at(i) })
	}
	mkEndpoint(t, s, "app_2", "ep_9", true)
	var ids []string
	cursor := ""
	for {
		eps, next, err := s.ListEndpoints(ctx, "app_1", store.Page{Limit: 2, Cursor: cursor})
		must(t, err)
		for _, e := range eps {
			ids = append(ids, e.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if want := []string{"ep_5", "ep_4", "ep_3", "ep_2", "ep_1"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("list %v, want %v", ids, want)
	}

	must(t, s.DeleteEndpoint(ctx, "app_1", "ep_1", at(30)))
	_, err = s.GetEndpoint(ctx, "app_1", "ep_1")
	wantErr(t, err, schemas.KindNotFound, "endpoint_not_found")
	wantErr(t, s.DeleteEndpoint(ctx, "app_1", "ep_1", at(30)), schemas.KindNotFound, "endpoint_not_found")
	wantErr(t, s.DeleteEndpoint(ctx, "app_1", "ep_9", at(30)), schemas.KindNotFound, "endpoint_not_found")
	wantErr(t, s.DisableEndpoint(ctx, "app_1", "ep_9", "x", at(30)), schemas.KindNotFound, "endpoint_not_found")
}

func testEndpointSecrets(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	sec, err := s.GetEndpointSecrets(ctx, "app_1", "ep_1")
	must(t, err)
	if sec != (schemas.EndpointSecrets{Key: "whsec_ep_1"}) {
		t.Fatalf("secrets %+v", sec)
	}
	_, err = s.GetEndpointSecrets(ctx, "app_2", "ep_1")
	wantErr(t, err, schemas.KindNotFound, "endpoint_not_found")

	until := at(3600)
	must(t, s.RotateEndpointSecret(ctx, "app_1", "ep_1", "whsec_new", until))
	sec, err = s.GetEndpointSecrets(ctx, "app_1", "ep_1")
	must(t, err)
	if sec.Key != "whsec_new" || sec.PreviousKey != "whsec_ep_1" || sec.PreviousExpiresAt == nil || !sec.PreviousExpiresAt.Equal(until) {
		t.Fatalf("rotated %+v", sec)
	}
	must(t, s.RotateEndpointSecret(ctx, "app_1", "ep_1", "whsec_newer", at(7200)))
	sec, err = s.GetEndpointSecrets(ctx, "app_1", "ep_1")
	must(t, err)
	if sec.Key != "whsec_newer" || sec.PreviousKey != "whsec_new" {
		t.Fatalf("rotated twice %+v", sec)
	}
	wantErr(t, s.RotateEndpointSecret(ctx, "app_1", "nope", "k", until), schemas.KindNotFound, "endpoint_not_found")
}
