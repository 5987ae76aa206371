package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the herald binary: a test starts
// `herald dev` as a subprocess by re-running itself with HERALD_TEST_AS_MAIN
// set, so that it can be killed with SIGKILL like the real thing.
func TestMain(m *testing.M) {
	if os.Getenv("HERALD_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	for _, s := range []*sharedInstance{shared, sharedHourRetry} {
		if s.dev == nil {
			continue
		}
		if err := s.dev.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "shared herald dev:", err)
			code = 1
		}
	}
	for _, f := range sharedCleanups {
		f()
	}
	os.Exit(code)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// devProc is a `herald dev` subprocess.
type devProc struct {
	t        testing.TB
	cmd      *exec.Cmd
	dataDir  string
	env      map[string]string
	api      *apiClient
	temporal string
	ui       string
	out      *syncBuffer
	exited   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDev starts `herald dev` on free ports with the given data dir and
// extra environment, waits until /readyz answers 200, and stops it when the
// test ends.
func startDev(t testing.TB, dataDir string, extra map[string]string) *devProc {
	t.Helper()
	p := launchDev(t, dataDir, extra)
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// launchDev starts `herald dev`; stopping it is the caller's business.
func launchDev(t testing.TB, dataDir string, extra map[string]string) *devProc {
	t.Helper()
	env := map[string]string{
		"HERALD_DATA_DIR":          dataDir,
		"HERALD_HTTP_ADDR":         freeAddr(t),
		"HERALD_DEV_TEMPORAL_ADDR": freeAddr(t),
		"HERALD_DEV_UI_ADDR":       freeAddr(t),
		"HERALD_API_TOKEN":         "test-token",
		"HERALD_LOG_LEVEL":         "warn",
	}
	for k, v := range extra {
		env[k] = v
	}
	p := &devProc{t: t, dataDir: dataDir, env: env, out: &syncBuffer{}, exited: make(chan error, 1)}
	p.start()
	return p
}

func (p *devProc) start() {
	t := p.t
	t.Helper()
	// A port picked free (freeAddr, or the embedded server's own) may be
	// taken before herald dev binds it: by another test's process, or as
	// the local port of some outgoing connection, which the kernel takes
	// from the same range. herald dev then exits saying so, naming the
	// variable when it is one of its own; the start is tried again, with a
	// new port for that variable.
	for try := 1; ; try++ {
		err := p.launch()
		if err == nil {
			return
		}
		out := p.out.String()
		if try < 3 && strings.Contains(out, "already in use") {
			if m := regexp.MustCompile(`herald: (HERALD_[A-Z_]+_ADDR): `).FindStringSubmatch(out); m != nil {
				p.env[m[1]] = freeAddr(t)
			}
			t.Logf("herald dev found a port taken (start %d); starting it again:\n%s", try, out)
			continue
		}
		t.Fatalf("%v\n%s", err, out)
	}
}

// launch starts the process and waits until /readyz answers 200; it
// returns an error when the process exits first.
func (p *devProc) launch() error {
	t := p.t
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "dev")
	cmd.Env = append(os.Environ(), "HERALD_TEST_AS_MAIN=1")
	for k, v := range p.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p.out = &syncBuffer{}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	p.exited = make(chan error, 1)
	go func() { p.exited <- cmd.Wait() }()
	p.api = &apiClient{t: t, base: "http://" + p.env["HERALD_HTTP_ADDR"], token: p.env["HERALD_API_TOKEN"]}
	p.temporal = p.env["HERALD_DEV_TEMPORAL_ADDR"]
	p.ui = p.env["HERALD_DEV_UI_ADDR"]
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case err := <-p.exited:
			p.exited <- err
			return fmt.Errorf("herald dev exited before ready: %v", err)
		default:
		}
		resp, err := http.Get(p.api.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("herald dev not ready after 3m\n%s", p.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit; stopping a process that
// already exited does nothing.
func (p *devProc) stop() error {
	select {
	case err := <-p.exited:
		p.exited <- err
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- nil
		if err != nil {
			return fmt.Errorf("herald dev did not exit cleanly: %v\n%s", err, p.out.String())
		}
		return nil
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("herald dev did not stop within 60s of SIGTERM\n%s", p.out.String())
	}
}

// kill stops the process with SIGKILL, as a crash would.
func (p *devProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.exited <- nil
}

// apiClient talks to Herald's HTTP API.
type apiClient struct {
	t     testing.TB
	base  string
	token string
}

type apiResponse struct {
	Status int
	Body   []byte
	Header http.Header
}

func (r apiResponse) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

func (c *apiClient) do(method, path string, body any, headers ...string) apiResponse {
	c.t.Helper()
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
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return apiResponse{Status: resp.StatusCode, Body: raw, Header: resp.Header}
}

// must performs a request and fails the test unless the status is want.
func (c *apiClient) must(want int, method, path string, body any, out any) {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.Status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if out != nil {
		r.decode(c.t, out)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// receiver is a webhook endpoint on 127.0.0.1 that records what it gets and
// answers as respond says (200 when respond is nil).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []received
	respond func(n int, r *http.Request) (status int, header http.Header, delay time.Duration)
}

type received struct {
	ID     string
	Header http.Header
	Body   []byte
	At     time.Time
}

func newReceiver(t testing.TB, respond func(n int, r *http.Request) (int, http.Header, time.Duration)) *receiver {
	rc := &receiver{respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got) + 1
		rc.got = append(rc.got, received{ID: r.Header.Get("webhook-id"), Header: r.Header.Clone(), Body: body, At: time.Now()})
		rc.mu.Unlock()
		status, header, delay := http.StatusOK, http.Header(nil), time.Duration(0)
		if rc.respond != nil {
			status, header, delay = rc.respond(n, r)
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		for k, vs := range header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, "answer %d", n)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/hook" }

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// withT gives a test its own client for a process another test started.
func (c *apiClient) withT(t testing.TB) *apiClient {
	return &apiClient{t: t, base: c.base, token: c.token}
}

// A port taken between freeAddr and herald dev's bind (seen in CI: another
// process got the port first) costs the test a second start, not a
// failure.
func TestStartDevTriesAgainWhenAPortIsTaken(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	p := startDev(t, t.TempDir(), map[string]string{"HERALD_DEV_TEMPORAL_ADDR": taken.Addr().String()})
	if p.temporal == taken.Addr().String() {
		t.Fatalf("herald dev is ready on a port another process holds: %s", p.temporal)
	}
	p.api.must(200, "GET", "/v1/apps", nil, nil)
}
