package api_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/api"
)

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func TestPortalLinks(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now().UTC()}
	h := newHarness(t, func(d *api.Deps) {
		d.Now = clk.now
		d.Config.PublicURL = "https://hooks.example.com/"
	})
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "a", "name": "A"})
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "b", "name": "B"})
	h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "order.created"})
	h.ok(201, "POST", "/v1/apps/b/endpoints", map[string]any{"url": "https://example.com/b"})

	link := h.ok(201, "POST", "/v1/apps/a/portal-links", nil)
	tok, _ := link["token"].(string)
	if !strings.HasPrefix(tok, "hpt_") || len(tok) < 40 {
		t.Fatalf("token %q", tok)
	}
	if link["url"] != "https://hooks.example.com/portal/apps/a#token="+tok {
		t.Fatalf("url %v", link["url"])
	}
	checkTime(t, link["expires_at"])
	exp, _ := time.Parse(time.RFC3339, link["expires_at"].(string))
	if d := exp.Sub(clk.now()); d < 3599*time.Second || d > 3600*time.Second {
		t.Fatalf("default lifetime %v", d)
	}
	as := bearer(tok)

	// Its own app's routes work, and reading the catalog.
	h.ok(200, "GET", "/v1/apps/a", nil, as...)
	ep := h.ok(201, "POST", "/v1/apps/a/endpoints", map[string]any{"url": "https://example.com/a"}, as...)
	h.ok(200, "GET", "/v1/apps/a/endpoints/"+ep["id"].(string)+"/secret", nil, as...)
	h.ok(200, "GET", "/v1/apps/a/events", nil, as...)
	h.ok(200, "GET", "/v1/event-types", nil, as...)
	h.ok(200, "GET", "/v1/event-types/order.created", nil, as...)
	self := h.ok(200, "GET", "/v1/apps/a/portal-links/self", nil, as...)
	if self["app_id"] != "a" || self["read_only"] != false {
		t.Fatalf("self %v", self)
	}
	// An unknown resource of its own app is still a 404.
	h.fails(404, "endpoint_not_found", "GET", "/v1/apps/a/endpoints/ep_nope", nil, as...)

	// Everything else is 403 and changes nothing.
	apps := h.snapshot("/v1/apps")
	types := h.snapshot("/v1/event-types")
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/apps/b"},
		{"GET", "/v1/apps/b/endpoints"},
		{"POST", "/v1/apps/b/endpoints"},
		{"GET", "/v1/apps/nope/endpoints"},
		{"GET", "/v1/apps"},
		{"POST", "/v1/apps"},
		{"DELETE", "/v1/apps/a"},
		{"DELETE", "/v1/apps/b"},
		{"POST", "/v1/event-types"},
		{"PATCH", "/v1/event-types/order.created"},
		{"DELETE", "/v1/event-types/order.created"},
		{"POST", "/v1/apps/a/portal-links"},
		{"GET", "/v1/apps//a/endpoints"},
	} {
		h.fails(403, "forbidden", r.method, r.path, map[string]any{"url": "https://example.com/x", "name": "x", "id": "x"}, as...)
	}
	h.unchanged("/v1/apps", apps)
	h.unchanged("/v1/event-types", types)
	h.ok(200, "GET", "/v1/apps/a", nil)

	// The operator's own token is unaffected; a portal route needs a portal token.
	h.fails(400, "not_a_portal_token", "GET", "/v1/apps/a/portal-links/self", nil)
	// A made-up token of the portal's form is 401.
	h.fails(401, "unauthorized", "GET", "/v1/apps/a", nil, bearer("hpt_"+strings.Repeat("x", 43))...)

	// Past expires_at: 401.
	clk.add(3601 * time.Second)
	h.fails(401, "token_expired", "GET", "/v1/apps/a", nil, as...)
	h.fails(401, "token_expired", "GET", "/v1/apps/b", nil, as...)
}

func TestPortalLinkReadOnlyAndLifetime(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now().UTC()}
	h := newHarness(t, func(d *api.Deps) { d.Now = clk.now })
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "a", "name": "A"})

	link := h.ok(201, "POST", "/v1/apps/a/portal-links", map[string]any{"read_only": true, "expires_in": 60})
	if !strings.HasPrefix(link["url"].(string), h.url+"/portal/apps/a#token=") {
		t.Fatalf("url without HERALD_PUBLIC_URL: %v", link["url"])
	}
	ro := bearer(link["token"].(string))
	h.ok(200, "GET", "/v1/apps/a/endpoints", nil, ro...)
	h.fails(403, "forbidden", "POST", "/v1/apps/a/endpoints", map[string]any{"url": "https://example.com/a"}, ro...)
	h.fails(403, "forbidden", "PATCH", "/v1/apps/a", map[string]any{"name": "x"}, ro...)
	if d := data(t, h.ok(200, "GET", "/v1/apps/a/endpoints", nil)); len(d) != 0 {
		t.Fatalf("a read-only token made an endpoint: %v", d)
	}
	clk.add(59 * time.Second)
	h.ok(200, "GET", "/v1/apps/a", nil, ro...)
	clk.add(time.Second)
	h.fails(401, "token_expired", "GET", "/v1/apps/a", nil, ro...)

	long := h.ok(201, "POST", "/v1/apps/a/portal-links", map[string]any{"expires_in": 604800})
	exp, _ := time.Parse(time.RFC3339, long["expires_at"].(string))
	if d := exp.Sub(clk.now()); d < 604799*time.Second || d > 604800*time.Second {
		t.Fatalf("lifetime %v", d)
	}
	// A one-second link lasts its second, however far into the current
	// second it is made.
	now := clk.now()
	clk.add(now.Truncate(time.Second).Add(time.Second + 999*time.Millisecond).Sub(now)) // to .999 of a second
	short := bearer(h.ok(201, "POST", "/v1/apps/a/portal-links", map[string]any{"expires_in": 1})["token"].(string))
	clk.add(990 * time.Millisecond)
	h.ok(200, "GET", "/v1/apps/a", nil, short...)
	clk.add(10 * time.Millisecond)
	h.fails(401, "token_expired", "GET", "/v1/apps/a", nil, short...)
	h.fails(422, "invalid_expires_in", "POST", "/v1/apps/a/portal-links", map[string]any{"expires_in": 604801})
	h.fails(422, "invalid_expires_in", "POST", "/v1/apps/a/portal-links", map[string]any{"expires_in": 0})
	h.fails(400, "invalid_field_type", "POST", "/v1/apps/a/portal-links", map[string]any{"expires_in": "1h"})
	h.fails(400, "unknown_field", "POST", "/v1/apps/a/portal-links", map[string]any{"app": "b"})
	h.fails(404, "app_not_found", "POST", "/v1/apps/nope/portal-links", nil)
	h.fails(401, "unauthorized", "POST", "/v1/apps/a/portal-links", nil, "Authorization", "")
}

func TestPortalLinkRevokedWithApp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "a", "name": "A"})
	as := bearer(h.ok(201, "POST", "/v1/apps/a/portal-links", nil)["token"].(string))
	h.ok(200, "GET", "/v1/apps/a", nil, as...)
	h.ok(0+http.StatusNoContent, "DELETE", "/v1/apps/a", nil)
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "a", "name": "A again"})
	h.fails(401, "unauthorized", "GET", "/v1/apps/a", nil, as...)
}
