package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/herald-hq/herald/api"
)

// fuzzHarness is one API over SQLite for a whole fuzz run, with an app
// "a", an event type "t" with a schema, and an endpoint.
func fuzzHarness(f *testing.F) (*harness, string) {
	h := newHarness(f, func(d *api.Deps) { d.Config.MaxPayloadBytes = 64 << 10 })
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "a", "name": "A"})
	h.ok(201, "POST", "/v1/event-types", `{"name":"t","schema":{"type":"object","properties":{"n":{"type":"integer"},"s":{"type":"string","maxLength":5}}}}`)
	ep := h.ok(201, "POST", "/v1/apps/a/endpoints", map[string]any{"url": "https://example.com/hook"})["id"].(string)
	return h, ep
}

// send makes a request with the token and checks the answer is one the
// contract allows: a wanted status, and errors in the contract's shape.
func send(t *testing.T, h *harness, method, path, body string, want ...int) {
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		return // not a request a client could send
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if !slices.Contains(want, res.StatusCode) {
		t.Fatalf("%s %s %.300q: status %d: %s", method, path, body, res.StatusCode, raw)
	}
	if res.StatusCode >= 400 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("%s %s: error not in the contract's shape: %s", method, path, raw)
		}
	}
}

// FuzzEventBody: any body posted as an event is accepted or refused with a
// 4xx in the contract's shape, never a 500.
func FuzzEventBody(f *testing.F) {
	h, _ := fuzzHarness(f)
	for _, s := range []string{`{"event_type":"t","payload":{"n":1}}`, `{"event_type":"t","payload":{"n":1e999999}}`,
		`{"id":"..","event_type":"t","payload":{}}`, `{"event_type":"t\u0000","payload":1}`, `{"event_type":"t","payload":{"s":"\u0000"}}`,
		`{"event_type":"t","payload":[[[[[]]]]],"ordering_key":"k"}`, `[]`, `{`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		send(t, h, "POST", "/v1/apps/a/events", body, 200, 202, 400, 404, 413, 422)
	})
}

// FuzzEndpointBody: any endpoint body is created or refused with a 4xx in
// the contract's shape, never a 500.
func FuzzEndpointBody(f *testing.F) {
	h, ep := fuzzHarness(f)
	for _, s := range []string{`{"url":"https://example.com/x"}`, `{"url":"http://[::1%25lo]:80/"}`, `{"url":"http://example.com:99999/"}`,
		`{"url":"https://example.com","rate_limit_per_second":2147483648}`, `{"url":"https://example.com","headers":{"X-A":"\u0000"}}`,
		`{"url":"https://example.com","event_types":["t","t"],"secret":"whsec_AAAA"}`, `{"url":"amqp://guest:guest@127.0.0.1:5672/?exchange=x"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		send(t, h, "POST", "/v1/apps/a/endpoints", body, 201, 400, 413, 422)
		send(t, h, "PATCH", "/v1/apps/a/endpoints/"+ep, body, 200, 400, 413, 422)
	})
}

// FuzzQuery: any cursor, time and filter in a list's query is answered 200
// or 400, never a 500.
func FuzzQuery(f *testing.F) {
	h, ep := fuzzHarness(f)
	f.Add("0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "LTkyMjMzNzIwMzY4NTQ3NzU4MDh8eA", "t")
	f.Add("2026-01-01T00:00:00+23:59", "", "", "\x00")
	f.Add("not a time", "-0001-01-01T00:00:00Z", "!!", "\xff")
	f.Fuzz(func(t *testing.T, since, until, cursor, typ string) {
		q := url.Values{"since": {since}, "until": {until}, "cursor": {cursor}, "event_type": {typ}}.Encode()
		send(t, h, "GET", "/v1/apps/a/events?"+q, "", 200, 400)
		send(t, h, "GET", "/v1/apps?"+url.Values{"cursor": {cursor}}.Encode(), "", 200, 400)
		send(t, h, "GET", "/v1/apps/a/endpoints/"+ep+"/stats?"+url.Values{"since": {since}, "until": {until}}.Encode(), "", 200, 400)
	})
}
