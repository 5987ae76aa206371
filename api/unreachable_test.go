package api_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/netcut"
	"github.com/herald-hq/herald/internal/pgtest"
)

// TestDatabaseDownIs503 serves the API over Postgres through a proxy and
// takes the database away under it: refusing connections (restarting),
// then letting them hang (unreachable). Every route answers the contract's
// 503 for a dependency down, in its error shape, within the connection
// timeout, accepts nothing, and works again once the database is back.
func TestDatabaseDownIs503(t *testing.T) {
	dsn, err := url.Parse(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := netcut.Start(t, dsn.Host)
	dsn.Host = proxy.Addr()
	q := dsn.Query()
	q.Set("connect_timeout", "1")
	dsn.RawQuery = q.Encode()
	h := newHarnessOn(t, dsn.String())

	h.ok(201, "POST", "/v1/apps", `{"id":"a","name":"A"}`)
	h.ok(201, "POST", "/v1/event-types", `{"name":"t"}`)

	requests := []struct{ method, path, body string }{
		{"GET", "/v1/apps", ""},
		{"GET", "/v1/apps/a", ""},
		{"POST", "/v1/apps", `{"id":"b","name":"B"}`},
		{"GET", "/v1/apps/a/events", ""},
		{"POST", "/v1/apps/a/events", `{"id":"evt_down","event_type":"t","payload":{}}`},
		{"POST", "/v1/apps/a/endpoints", `{"url":"https://example.com/hook"}`},
		{"POST", "/v1/apps/a/portal-links", `{}`},
		{"GET", "/v1/event-types", ""},
	}
	for _, mode := range []struct {
		name string
		m    netcut.Mode
	}{{"refused", netcut.Refuse}, {"hanging", netcut.Hold}} {
		t.Run(mode.name, func(t *testing.T) {
			proxy.Set(mode.m)
			for _, r := range requests {
				var body any
				if r.body != "" {
					body = r.body
				}
				start := time.Now()
				res := h.req(r.method, r.path, body)
				took := time.Since(start)
				if res.status != 503 {
					t.Fatalf("%s %s with the database %s: %d %s, want 503", r.method, r.path, mode.name, res.status, res.body)
				}
				checkError(t, res, "database_unavailable")
				// connect_timeout=1, and database/sql tries a broken
				// connection again twice.
				if took > 5*time.Second {
					t.Errorf("%s %s took %s to answer", r.method, r.path, took.Round(time.Millisecond))
				}
			}
			proxy.Set(netcut.Pass)
			h.ok(200, "GET", "/v1/apps/a", nil)
			h.fails(404, "event_not_found", "GET", "/v1/apps/a/events/evt_down", nil)
			h.fails(404, "app_not_found", "GET", "/v1/apps/b", nil)
		})
	}
	h.ok(202, "POST", "/v1/apps/a/events", `{"id":"evt_up","event_type":"t","payload":{}}`)
}
