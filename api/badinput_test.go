package api_test

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/herald-hq/herald/internal/pgtest"
)

// badInput is a request that must get the contract's answer, the same on
// both databases, and change nothing.
type badInput struct {
	name         string
	method, path string
	body         any
	status       int
	code         string // "" when status is a success
	hdr          []string
}

func cursor(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }

func badInputs(ep string) []badInput {
	epPath := "/v1/apps/a/endpoints/" + ep
	return []badInput{
		{"cursor at the minimum int64", "GET", "/v1/apps?cursor=" + cursor("-9223372036854775808|x"), nil, 400, "invalid_cursor", nil},
		{"cursor at the maximum int64", "GET", "/v1/apps?cursor=" + cursor("9223372036854775807|x"), nil, 400, "invalid_cursor", nil},
		{"cursor in year 10000", "GET", "/v1/apps/a/events?cursor=" + cursor("253402300800000000|x"), nil, 400, "invalid_cursor", nil},
		{"cursor in year 0", "GET", "/v1/event-types?cursor=" + cursor("-62135596800000001|x"), nil, 400, "invalid_cursor", nil},
		{"cursor not a number", "GET", epPath[:len("/v1/apps/a/endpoints")] + "?cursor=" + cursor("1e9|x"), nil, 400, "invalid_cursor", nil},
		{"since in year 0", "GET", "/v1/apps/a/events?since=0000-01-01T00:00:00Z", nil, 200, "", nil},
		{"until at the end of 9999", "GET", "/v1/apps/a/events?until=9999-12-31T23:59:59.999999999Z", nil, 200, "", nil},
		{"since in year 0 by its offset", "GET", "/v1/apps/a/events?since=" + url.QueryEscape("0001-01-01T00:00:00+23:59"), nil, 200, "", nil},
		{"stats in year 0", "GET", epPath + "/stats?since=0000-01-01T00:00:00Z&until=0000-01-02T00:00:00Z", nil, 200, "", nil},
		{"recover since year 0", "POST", epPath + "/recover", `{"since":"0000-01-01T00:00:00Z"}`, 202, "", nil},
		{"NUL in an app name", "POST", "/v1/apps", `{"name":"a\u0000b"}`, 422, "invalid_text", nil},
		{"NUL in a new app name", "PATCH", "/v1/apps/a", `{"name":"\u0000"}`, 422, "invalid_text", nil},
		{"NUL in a description", "POST", "/v1/event-types", `{"name":"x","description":"\u0000"}`, 422, "invalid_text", nil},
		{"NUL in a new description", "PATCH", "/v1/event-types/t", `{"description":"x\u0000"}`, 422, "invalid_text", nil},
		{"NUL in an endpoint description", "POST", "/v1/apps/a/endpoints", `{"url":"https://example.com","description":"\u0000"}`, 422, "invalid_text", nil},
		{"NUL in an event type list", "PATCH", epPath, `{"event_types":["t\u0000"]}`, 422, "invalid_text", nil},
		{"NUL in a header value", "PATCH", epPath, `{"headers":{"X-A":"\u0000"}}`, 422, "", nil},
		{"NUL in an event type", "POST", "/v1/apps/a/events", `{"event_type":"t\u0000","payload":{}}`, 422, "invalid_text", nil},
		{"rate limit 2^31", "PATCH", epPath, `{"rate_limit_per_second":2147483648}`, 422, "invalid_rate_limit", nil},
		{"rate limit 1e20", "PATCH", epPath, `{"rate_limit_per_second":1e20}`, 400, "invalid_field_type", nil},
		{"app id .", "POST", "/v1/apps", `{"id":".","name":"x"}`, 422, "invalid_id", nil},
		{"app id ..", "POST", "/v1/apps", `{"id":"..","name":"x"}`, 422, "invalid_id", nil},
		{"event type ..", "POST", "/v1/event-types", `{"name":".."}`, 422, "invalid_name", nil},
		{"event id .", "POST", "/v1/apps/a/events", `{"id":".","event_type":"t","payload":{}}`, 422, "invalid_id", nil},
		{"Idempotency-Key ..", "POST", "/v1/apps/a/events", `{"event_type":"t","payload":{}}`, 422, "invalid_id", []string{"Idempotency-Key", ".."}},
		{"NUL in a query", "GET", "/v1/apps/a/events?event_type=%00", nil, 400, "invalid_parameter", nil},
		{"invalid UTF-8 in a query", "GET", "/v1/apps/a/events?endpoint_id=%FF", nil, 400, "invalid_parameter", nil},
		{"port 99999", "PATCH", epPath, `{"url":"http://example.com:99999/"}`, 422, "invalid_url", nil},
		{"URL of 3000 bytes", "PATCH", epPath, `{"url":"https://example.com/` + strings.Repeat("a", 3000) + `"}`, 422, "invalid_url", nil},
		{"zoned loopback URL", "PATCH", epPath, `{"url":"http://[::1%25lo]:8080/"}`, 422, "invalid_url", nil},
		{"NAT64 of a private address", "PATCH", epPath, `{"url":"http://[64:ff9b::a00:1]/"}`, 422, "invalid_url", nil},
		{"documentation address", "PATCH", epPath, `{"url":"http://192.0.2.2/"}`, 422, "invalid_url", nil},
	}
}

// Every bad input gets the contract's code on SQLite and on Postgres alike
// (Postgres answered 500 to 26 of 308 such inputs), and changes nothing.
func TestBadInputsOnBothDatabases(t *testing.T) {
	dbs := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + t.TempDir() + "/h.db" },
		"postgres": func(t *testing.T) string { return pgtest.DSN(t) },
	}
	for name, dsn := range dbs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarnessOn(t, dsn(t))
			h.ok(201, "POST", "/v1/apps", map[string]any{"id": "a", "name": "A"})
			h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "t"})
			ep := h.ok(201, "POST", "/v1/apps/a/endpoints", map[string]any{"url": "https://example.com/hook"})["id"].(string)
			watched := []string{"/v1/apps", "/v1/event-types", "/v1/apps/a/endpoints", "/v1/apps/a/events", "/v1/apps/a/endpoints/" + ep}
			before := map[string]string{}
			for _, p := range watched {
				before[p] = h.snapshot(p)
			}
			for _, c := range badInputs(ep) {
				r := h.req(c.method, c.path, c.body, c.hdr...)
				if r.status != c.status {
					t.Errorf("%s: %s %.80s: status %d, want %d: %s", c.name, c.method, c.path, r.status, c.status, r.body)
					continue
				}
				if c.status >= 400 {
					e := r.json(t)["error"].(map[string]any)
					if c.code != "" && e["code"] != c.code {
						t.Errorf("%s: code %v, want %s", c.name, e["code"], c.code)
					}
				}
			}
			for _, p := range watched {
				if after := h.snapshot(p); after != before[p] {
					t.Errorf("%s changed:\nbefore %s\nafter  %s", p, before[p], after)
				}
			}
			if n := len(h.disp.starts); n != 0 {
				t.Errorf("%d events started by bad input", n)
			}
			_ = fmt.Sprint()
		})
	}
}
