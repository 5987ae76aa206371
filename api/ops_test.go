package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/api"
	"github.com/herald-hq/herald/metrics"
	"github.com/herald-hq/herald/schemas"
)

func TestAuth(t *testing.T) {
	h := newHarness(t)
	for _, hdr := range []string{"", "Bearer", "Bearer wrong", "Basic " + token, token, "Bearer " + token + "x"} {
		for _, route := range [][2]string{{"GET", "/v1/apps"}, {"POST", "/v1/apps"}, {"GET", "/v1/apps/x/events/y"}, {"GET", "/v1/nothing"}} {
			r := h.req(route[0], route[1], `{"name": "n"}`, "Authorization", hdr)
			if r.status != 401 {
				t.Fatalf("%s %s with %q: %d %s", route[0], route[1], hdr, r.status, r.body)
			}
			checkError(t, r, "unauthorized")
		}
	}
	if n := len(data(t, h.ok(200, "GET", "/v1/apps", nil))); n != 0 {
		t.Fatalf("an unauthorized POST created %d apps", n)
	}
	h.ok(200, "GET", "/v1/apps", nil, "Authorization", "bearer "+token)
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"} {
		if r := h.req("GET", path, nil, "Authorization", ""); r.status != 200 {
			t.Fatalf("GET %s without token: %d %s", path, r.status, r.body)
		}
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	h := newHarness(t)
	h.fails(404, "route_not_found", "GET", "/v1/nothing", nil)
	h.fails(404, "route_not_found", "GET", "/nothing", nil)
	h.fails(405, "method_not_allowed", "PUT", "/v1/apps", `{}`)
	h.fails(405, "method_not_allowed", "DELETE", "/healthz", nil)
}

func TestReadyz(t *testing.T) {
	h := newHarness(t)
	h.ok(200, "GET", "/healthz", nil)
	h.ok(200, "GET", "/readyz", nil)
	h.setReady(errDown)
	e := h.fails(503, "not_ready", "GET", "/readyz", nil)
	if d, _ := e["details"].(map[string]any); d["temporal"] == nil || d["database"] != nil || !strings.Contains(e["message"].(string), "temporal") {
		t.Fatalf("not ready: %v", e)
	}
	h.setReady(nil)
	_ = h.store.Close()
	e = h.fails(503, "not_ready", "GET", "/readyz", nil)
	if d, _ := e["details"].(map[string]any); d["database"] == nil {
		t.Fatalf("database down: %v", e)
	}
}

func TestDocsAndMetrics(t *testing.T) {
	h := newHarness(t)
	r := h.req("GET", "/docs", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "/openapi.json") {
		t.Fatalf("docs: %d %.300s", r.status, r.body)
	}
	for _, asset := range regexp.MustCompile(`(?:src|href)="/docs/([^"/]+)"`).FindAllStringSubmatch(string(r.body), -1) {
		if a := h.req("GET", "/docs/"+asset[1], nil); a.status != 200 {
			t.Errorf("docs asset %s: %d", asset[1], a.status)
		}
	}
	r = h.req("GET", "/metrics", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "go_goroutines") {
		t.Fatalf("metrics: %d %.300s", r.status, r.body)
	}
}

// TestOpenAPICoversEveryRoute fails when a route of the app has no entry
// in the OpenAPI document.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	h := newHarness(t)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r := h.req("GET", "/openapi.json", nil, "Authorization", "")
	if err := json.Unmarshal(r.body, &doc); err != nil || r.status != 200 {
		t.Fatalf("openapi.json: %d %v", r.status, err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	app := api.New(api.Deps{Store: h.store, Dispatcher: h.disp, Metrics: metrics.New(nil, slog.Default())})
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	seen := 0
	for _, rt := range app.GetRoutes(true) {
		if rt.Method == "HEAD" || rt.Method == "USE" {
			continue // Fiber adds HEAD beside every GET
		}
		path := param.ReplaceAllString(rt.Path, "{$1}")
		if _, ok := doc.Paths[path][strings.ToLower(rt.Method)]; !ok {
			t.Errorf("route %s %s (%s) is not in the OpenAPI document", rt.Method, path, rt.Path)
		}
		seen++
	}
	if seen < 29 {
		t.Fatalf("only %d routes seen", seen)
	}
	// And the document names no route the app lacks.
	routes := map[string]bool{}
	for _, rt := range app.GetRoutes(true) {
		routes[rt.Method+" "+param.ReplaceAllString(rt.Path, "{$1}")] = true
	}
	for path, methods := range doc.Paths {
		for m := range methods {
			if !routes[strings.ToUpper(m)+" "+path] {
				t.Errorf("document has %s %s, the app does not", m, path)
			}
		}
	}
}

// TestBodyOverFiberLimit sends headers announcing a body far over the
// limit: the answer is ours, before any body is read.
func TestBodyOverFiberLimit(t *testing.T) {
	h := newHarness(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /v1/apps/a/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{", token)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 413 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	checkError(t, resp{status: res.StatusCode, header: res.Header, body: body}, "payload_too_large")
}

// panicky panics in GetApp, to show that a panic answers a 500 in our shape.
type panicky struct{ api.Store }

func (panicky) GetApp(context.Context, string) (schemas.App, error) { panic("boom") }

func TestPanicAndInternalErrors(t *testing.T) {
	var logs strings.Builder
	h := newHarness(t, func(d *api.Deps) {
		d.Store = panicky{d.Store}
		d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	r := h.req("GET", "/v1/apps/x", nil)
	if r.status != 500 {
		t.Fatalf("panic: %d %s", r.status, r.body)
	}
	checkError(t, r, "internal_error")
	if strings.Contains(string(r.body), "boom") || strings.Contains(string(r.body), "goroutine") {
		t.Fatalf("panic leaked: %s", r.body)
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Fatalf("panic not logged: %s", logs.String())
	}
	// The server keeps serving.
	h.ok(200, "GET", "/healthz", nil)
}
