package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestEveryErrorAnswerIsJSON: every error of the whole server takes the
// contract's shape, whichever handler answers: the API's router, the
// portal's and the docs' (net/http answered those in plain text), and
// paths that only begin like one of them (the portal's mount took every
// path beginning with "/portal").
func TestEveryErrorAnswerIsJSON(t *testing.T) {
	c := apiFor(t, sharedDev(t))
	for _, r := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/nope", 404, "route_not_found"},
		{"GET", "/v1/nope", 404, "route_not_found"},
		{"GET", "/portalx", 404, "route_not_found"},
		{"GET", "/portal-links", 404, "route_not_found"},
		{"GET", "/portal/nope", 404, "route_not_found"},
		{"DELETE", "/portal/apps/a", 405, "method_not_allowed"},
		{"GET", "/docs/nope", 404, "route_not_found"},
		{"GET", "/docsx", 404, "route_not_found"},
		{"DELETE", "/healthz", 405, "method_not_allowed"},
	} {
		res := c.do(r.method, r.path, nil)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if res.Status != r.status || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") ||
			json.Unmarshal(res.Body, &e) != nil || e.Error.Code != r.code || e.Error.Message == "" {
			t.Errorf("%s %s: %d %s %q, want %d with code %s in the contract's error shape",
				r.method, r.path, res.Status, res.Header.Get("Content-Type"), res.Body, r.status, r.code)
		}
	}
	// The portal's own pages, its page for a link without an app too, pass.
	for path, status := range map[string]int{"/portal/apps/a": 200, "/portal": 404, "/portal/": 404} {
		if res := c.do("GET", path, nil); res.Status != status || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s, want %d with the portal's page", path, res.Status, res.Header.Get("Content-Type"), status)
		}
	}
}
