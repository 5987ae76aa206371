package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/api"
	"github.com/herald-hq/herald/metrics"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

const token = "test-token"

// recorder is a Dispatcher that records its calls (Temporal is exercised
// end to end elsewhere).
type recorder struct {
	mu      sync.Mutex
	fail    error
	starts  []startCall
	cancels []string
	replays []replayCall
}

type startCall struct {
	Event   store.NewEvent
	Targets []schemas.Target
}

type replayCall struct {
	EventID string
	Signal  schemas.ReplaySignal
}

func (r *recorder) Start(_ context.Context, ev store.NewEvent, targets []schemas.Target) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.starts = append(r.starts, startCall{ev, targets})
	return nil
}

func (r *recorder) Cancel(_ context.Context, appID, eventID string, _ schemas.CancelSignal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.cancels = append(r.cancels, appID+"/"+eventID)
	return nil
}

func (r *recorder) Replay(_ context.Context, _, eventID string, sig schemas.ReplaySignal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.replays = append(r.replays, replayCall{eventID, sig})
	return nil
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	r.fail = err
	r.mu.Unlock()
}

func (r *recorder) startsFor(eventID string) []startCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []startCall
	for _, s := range r.starts {
		if s.Event.ID == eventID {
			out = append(out, s)
		}
	}
	return out
}

type harness struct {
	t     testing.TB
	url   string
	app   *fiber.App
	ln    *api.Listener
	store *store.Store
	disp  *recorder
	ready error
	mu    sync.Mutex
}

// newHarness serves the API on a real 127.0.0.1 listener over a real SQLite store.
func newHarness(t testing.TB, edit ...func(*api.Deps)) *harness {
	t.Helper()
	return newHarnessOn(t, "sqlite:"+t.TempDir()+"/h.db", edit...)
}

// newHarnessOn is newHarness over the database dsn names.
func newHarnessOn(t testing.TB, dsn string, edit ...func(*api.Deps)) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: st, disp: &recorder{}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := api.Deps{
		Store: st, Dispatcher: h.disp, Metrics: metrics.New(nil, logger), Logger: logger,
		Ready: func(context.Context) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.ready
		},
		Config: api.Config{Token: token, MaxPayloadBytes: 4096, SecretOverlap: time.Hour, Version: "test"},
	}
	for _, e := range edit {
		e(&d)
	}
	app := api.New(d)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.app, h.ln = app, api.GuardListener(ln, 0)
	go func() { _ = app.Listener(h.ln) }()
	t.Cleanup(func() {
		_ = app.Shutdown()
		_ = st.Close()
	})
	h.url = "http://" + ln.Addr().String()
	return h
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the answer into a generic value.
func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// req sends a request with the token. body is a string (sent as is), nil or
// a value to marshal. hdr are name, value pairs; "Authorization" among them
// replaces the token.
func (h *harness) req(method, path string, body any, hdr ...string) resp {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	r, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
			continue
		}
		r.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: raw}
}

// ok sends a request and fails unless it answers want; it returns the JSON answer.
func (h *harness) ok(want int, method, path string, body any, hdr ...string) map[string]any {
	h.t.Helper()
	r := h.req(method, path, body, hdr...)
	if r.status != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(h.t)
}

// fails sends a request and checks the error answer's status, shape and code.
func (h *harness) fails(status int, code, method, path string, body any, hdr ...string) map[string]any {
	h.t.Helper()
	r := h.req(method, path, body, hdr...)
	if r.status != status {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
	}
	return checkError(h.t, r, code)
}

func checkError(t testing.TB, r resp, code string) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error Content-Type %q: %s", ct, r.body)
	}
	var e struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil {
		t.Fatalf("error answer not in the contract's shape: %s", r.body)
	}
	if e.Error["code"] != code {
		t.Fatalf("error code %v, want %s: %s", e.Error["code"], code, r.body)
	}
	if msg, _ := e.Error["message"].(string); msg == "" {
		t.Fatalf("error without message: %s", r.body)
	}
	return e.Error
}

// snapshot is the body of a GET, to show that a refused request changed nothing.
func (h *harness) snapshot(path string) string {
	h.t.Helper()
	r := h.req("GET", path, nil)
	if r.status != 200 {
		h.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return string(r.body)
}

func (h *harness) unchanged(path, before string) {
	h.t.Helper()
	if after := h.snapshot(path); after != before {
		h.t.Fatalf("%s changed:\nbefore %s\nafter  %s", path, before, after)
	}
}

func (h *harness) setReady(err error) {
	h.mu.Lock()
	h.ready = err
	h.mu.Unlock()
}

var errDown = errors.New("connection refused")

func data(t *testing.T, m map[string]any) []any {
	t.Helper()
	d, ok := m["data"].([]any)
	if !ok {
		t.Fatalf("list without a data array: %v", m)
	}
	if _, ok := m["next_cursor"].(string); !ok {
		t.Fatalf("list without next_cursor string: %v", m)
	}
	return d
}

func checkTime(t *testing.T, v any) {
	t.Helper()
	s, _ := v.(string)
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.HasSuffix(s, "Z") || tm.IsZero() {
		t.Fatalf("%v is not an RFC 3339 UTC time", v)
	}
}
