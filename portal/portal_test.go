package portal_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/herald-hq/herald/api"
	"github.com/herald-hq/herald/portal"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// nopDispatcher starts nothing: these tests are about the portal's pages
// (deliveries are exercised end to end in cmd/herald's browser test).
type nopDispatcher struct{}

func (nopDispatcher) Start(context.Context, store.NewEvent, []schemas.Target) error { return nil }
func (nopDispatcher) Cancel(context.Context, string, string, schemas.CancelSignal) error {
	return nil
}
func (nopDispatcher) Replay(context.Context, string, string, schemas.ReplaySignal) error {
	return nil
}

type env struct {
	t     *testing.T
	base  string
	store *store.Store
}

// serve runs the API with the portal mounted, as cmd/herald does, over a real SQLite store.
func serve(t *testing.T, ancestors ...string) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+t.TempDir()+"/p.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	app := api.New(api.Deps{Store: st, Dispatcher: nopDispatcher{}, Config: api.Config{Token: "op"}})
	app.Use("/portal", adaptor.HTTPHandler(portal.New(portal.Deps{API: adaptor.FiberApp(app), FrameAncestors: ancestors})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown(); _ = st.Close() })
	return &env{t: t, base: "http://" + ln.Addr().String(), store: st}
}

// do sends a request; token "" sends none; form, when not nil, is posted.
func (e *env) do(method, path, token string, htmx bool, form url.Values) (int, http.Header, string) {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, e.base+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(raw)
}

func (e *env) api(method, path string, body any, out any) {
	e.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(string(raw)))
	req.Header.Set("Authorization", "Bearer op")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		b, _ := io.ReadAll(res.Body)
		e.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
}

func (e *env) link(app string, readOnly bool) string {
	var l struct{ Token, URL string }
	e.api("POST", "/v1/apps/"+app+"/portal-links", map[string]any{"read_only": readOnly}, &l)
	return l.Token
}

func TestPortalPages(t *testing.T) {
	t.Parallel()
	e := serve(t)
	e.api("POST", "/v1/apps", map[string]any{"id": "a", "name": "A"}, nil)
	e.api("POST", "/v1/apps", map[string]any{"id": "b", "name": "B"}, nil)
	e.api("POST", "/v1/event-types", map[string]any{"name": "order.created", "description": "An <b>order</b>",
		"schema": map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "string", "examples": []string{"ord_1"}}}}}, nil)
	tok := e.link("a", false)

	// The shell holds no data and needs no token; it sets a strict CSP.
	code, h, body := e.do("GET", "/portal/apps/a", "", false, nil)
	if code != 200 || !strings.Contains(body, `src="/portal/static/htmx.min.js"`) || strings.Contains(body, "<script>") {
		t.Fatalf("shell %d %s", code, body)
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", h)
	}
	for _, asset := range []string{"htmx.min.js", "uPlot.iife.min.js", "portal.js", "portal.css", "uPlot.min.css"} {
		if code, _, _ := e.do("GET", "/portal/static/"+asset, "", false, nil); code != 200 {
			t.Fatalf("asset %s: %d", asset, code)
		}
	}

	// Fragments need the token in a header; a cross-site form post has none.
	if code, _, body := e.do("GET", "/portal/apps/a/endpoints", "", true, nil); code != 401 || !strings.Contains(body, "Link not valid") {
		t.Fatalf("no token: %d %s", code, body)
	}
	if code, _, _ := e.do("POST", "/portal/apps/a/endpoints", "", false, url.Values{"url": {"https://example.com/x"}}); code != 400 {
		t.Fatalf("plain form post: %d", code)
	}

	// Create an endpoint through the form; what the customer typed comes back escaped.
	code, h, body = e.do("POST", "/portal/apps/a/endpoints", tok, true, url.Values{
		"url": {"https://example.com/hook"}, "description": {`<img src=x onerror=alert(1)>`},
		"event_types": {"order.created"}, "ordered": {"on"}, "headers": {"X-Team: <b>ops</b>"}})
	if code != 200 || !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") || strings.Contains(body, "<img src=x") ||
		!strings.Contains(body, "X-Team: &lt;b&gt;ops&lt;/b&gt;") {
		t.Fatalf("create: %d %s", code, body)
	}
	push := h.Get("HX-Push-Url")
	if !strings.HasPrefix(push, "/portal/apps/a/endpoints/ep_") {
		t.Fatalf("push %q", push)
	}
	epID := strings.TrimPrefix(push, "/portal/apps/a/endpoints/")

	// A rule the API enforces shows by its field, and nothing is created.
	_, _, body = e.do("POST", "/portal/apps/a/endpoints", tok, true, url.Values{"url": {"ftp://example.com"}})
	if !strings.Contains(body, `aria-invalid="true"`) || !strings.Contains(body, "field-error") {
		t.Fatalf("invalid url: %s", body)
	}
	var eps struct{ Data []any }
	e.api("GET", "/v1/apps/a/endpoints", nil, &eps)
	if len(eps.Data) != 1 {
		t.Fatalf("%d endpoints", len(eps.Data))
	}

	// A receiver's answer is shown as text: a <script> in it is escaped.
	var ev struct{ ID string }
	e.api("POST", "/v1/apps/a/events", map[string]any{"event_type": "order.created", "payload": map[string]any{"id": "</pre><script>x()</script>"}}, &ev)
	now := time.Now().UTC()
	if _, _, err := e.store.RecordAttempt(context.Background(), store.AttemptRecord{AppID: "a", EventID: ev.ID, EndpointID: epID,
		StartedAt: now, DurationMS: 5, ResponseStatus: 500, ResponseBody: `<script>alert("pwned")</script>`,
		Error: "<i>boom</i>", Status: schemas.DeliveryFailed, FinishedAt: &now}); err != nil {
		t.Fatal(err)
	}
	_, _, body = e.do("GET", "/portal/apps/a/events/"+ev.ID, tok, true, nil)
	if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;") ||
		!strings.Contains(body, "&lt;i&gt;boom&lt;/i&gt;") || strings.Contains(body, "</pre><script>") {
		t.Fatalf("event page: %s", body)
	}

	// Lists, filters, the catalog with its example, the stats.
	_, _, body = e.do("GET", "/portal/apps/a/events?status=failed&endpoint_id="+epID, tok, true, nil)
	if !strings.Contains(body, ev.ID) {
		t.Fatalf("filtered events: %s", body)
	}
	_, _, body = e.do("GET", "/portal/apps/a/events?status=delivered", tok, true, nil)
	if strings.Contains(body, ev.ID) {
		t.Fatalf("a failed event listed as delivered: %s", body)
	}
	_, _, body = e.do("GET", "/portal/apps/a/event-types", tok, true, nil)
	if !strings.Contains(body, "An &lt;b&gt;order&lt;/b&gt;") || !strings.Contains(body, "&#34;ord_1&#34;") {
		t.Fatalf("catalog: %s", body)
	}
	_, _, body = e.do("GET", "/portal/apps/a/endpoints/"+epID+"/stats", tok, true, nil)
	if !strings.Contains(body, `class="chart"`) || !strings.Contains(body, "data-series=") {
		t.Fatalf("stats: %s", body)
	}

	// Another app's pages: the API's 403.
	code, _, body = e.do("GET", "/portal/apps/b/endpoints", tok, true, nil)
	if code != 403 || !strings.Contains(body, "Not allowed") {
		t.Fatalf("other app: %d %s", code, body)
	}

	// A read-only link reads but cannot change anything, and offers no buttons to.
	ro := e.link("a", true)
	_, _, body = e.do("GET", "/portal/apps/a/endpoints/"+epID, ro, true, nil)
	if strings.Contains(body, "Rotate secret") || strings.Contains(body, "Send test event") || !strings.Contains(body, "Reveal secret") {
		t.Fatalf("read-only page: %s", body)
	}
	if code, _, _ := e.do("POST", "/portal/apps/a/endpoints/"+epID+"/delete", ro, true, url.Values{}); code != 403 {
		t.Fatalf("read-only delete: %d", code)
	}
	e.api("GET", "/v1/apps/a/endpoints/"+epID, nil, nil)
}

func TestPortalFrameAncestors(t *testing.T) {
	t.Parallel()
	e := serve(t, "https://app.example.com", "'self'")
	_, h, _ := e.do("GET", "/portal/apps/a", "", false, nil)
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors https://app.example.com 'self'") || h.Get("X-Frame-Options") != "" {
		t.Fatalf("framing headers: %v", h)
	}
}

func TestPortalEndpointFilter(t *testing.T) {
	t.Parallel()
	e := serve(t)
	e.api("POST", "/v1/apps", map[string]any{"id": "a", "name": "A"}, nil)
	e.api("POST", "/v1/event-types", map[string]any{"name": "t"}, nil)
	tok := e.link("a", false)
	form := url.Values{"url": {"https://example.com/f"}, "event_types": {"t"}, "filter": {"payload.amount >"}}
	_, _, body := e.do("POST", "/portal/apps/a/endpoints", tok, true, form)
	i := strings.Index(body, `name="filter"`)
	j := strings.Index(body, "field-error")
	if i < 0 || j < i || !strings.Contains(body, "payload.amount &gt;") {
		t.Fatalf("a bad filter's error is not shown by its field: %s", body)
	}
	form.Set("filter", `event_type == "t"`)
	code, _, body := e.do("POST", "/portal/apps/a/endpoints", tok, true, form)
	if code != 200 || !strings.Contains(body, "<dt>Filter</dt>") || !strings.Contains(body, "event_type == &#34;t&#34;") {
		t.Fatalf("filter not shown: %d %s", code, body)
	}
}
