//go:build !nodev

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/herald-hq/herald/schemas"
)

// `herald dev` starts everything, keeps its state in the data dir and comes
// back with it after a restart.
func TestDevStartsAndRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startDev(t, dir, nil)
	// The operator gave the token: the banner must not print it.
	if out := p.out.String(); strings.Contains(out, p.env["HERALD_API_TOKEN"]) || !strings.Contains(out, "from HERALD_API_TOKEN") {
		t.Errorf("start banner shows the operator's token or says nothing of it:\n%s", out)
	}

	resp, err := http.Get("http://" + p.ui + "/")
	if err != nil {
		t.Fatalf("Web UI: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("Web UI answered %d", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tc, err := client.DialContext(ctx, client.Options{HostPort: p.temporal, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
		t.Fatalf("namespace default: %v", err)
	}
	attrs, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{schemas.SearchAttrApp, schemas.SearchAttrEventType, schemas.SearchAttrStatus} {
		if attrs.CustomAttributes[name] != enums.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s = %v, want Keyword", name, attrs.CustomAttributes[name])
		}
	}

	p.api.must(201, "POST", "/v1/apps", map[string]any{"id": "kept", "name": "Kept"}, nil)
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}

	// Same data dir, new ports: the app is still there.
	p2 := startDev(t, dir, nil)
	var app schemas.App
	p2.api.must(200, "GET", "/v1/apps/kept", nil, &app)
	if app.Name != "Kept" {
		t.Fatalf("app after restart = %+v", app)
	}
}

// Without HERALD_API_TOKEN, `herald dev` makes one, keeps it in the data dir
// and prints it.
func TestDevMakesAndKeepsToken(t *testing.T) {
	dir := t.TempDir()
	tok1, err := devToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := devToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok1 == "" || tok1 != tok2 {
		t.Fatalf("tokens %q, %q", tok1, tok2)
	}
}

func TestProductionCommandsNameMissingVariables(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"api"}, nil, "HERALD_DATABASE_URL"},
		{[]string{"api"}, map[string]string{"HERALD_DATABASE_URL": "mysql://x"}, "HERALD_DATABASE_URL"},
		{[]string{"api"}, map[string]string{"HERALD_DATABASE_URL": "postgres://u@h/db"}, "HERALD_TEMPORAL_ADDRESS"},
		{[]string{"api"}, map[string]string{"HERALD_DATABASE_URL": "postgres://u@h/db", "HERALD_TEMPORAL_ADDRESS": "h:7233"}, "HERALD_API_TOKEN"},
		{[]string{"worker"}, map[string]string{"HERALD_DATABASE_URL": "postgres://u@h/db", "HERALD_TEMPORAL_ADDRESS": "nope"}, "HERALD_TEMPORAL_ADDRESS"},
		{[]string{"migrate"}, nil, "HERALD_DATABASE_URL"},
		{[]string{"dev"}, map[string]string{"HERALD_RETRY_SCHEDULE": "5s,soon"}, "HERALD_RETRY_SCHEDULE"},
		{[]string{"dev"}, map[string]string{"HERALD_DELIVERY_TIMEOUT": "-1s"}, "HERALD_DELIVERY_TIMEOUT"},
		{[]string{"dev"}, map[string]string{"HERALD_MAX_PAYLOAD_BYTES": "lots"}, "HERALD_MAX_PAYLOAD_BYTES"},
		{[]string{"dev"}, map[string]string{"HERALD_ALLOW_PRIVATE_NETWORKS": "maybe"}, "HERALD_ALLOW_PRIVATE_NETWORKS"},
		{[]string{"dev"}, map[string]string{"HERALD_HTTP_ADDR": "8080"}, "HERALD_HTTP_ADDR"},
	}
	for _, c := range cases {
		getenv := func(k string) string { return c.env[k] }
		var out, errOut bytes.Buffer
		err := run(context.Background(), c.args, getenv, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %v: error %v, want one line naming %s", c.args, c.env, err, c.want)
		}
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, cmd := range []string{"dev", "api", "worker", "migrate", "bench", "version"} {
		var out bytes.Buffer
		if err := run(context.Background(), []string{cmd, "--help"}, func(string) string { return "" }, &out, &out); err != nil {
			t.Errorf("%s --help: %v", cmd, err)
		}
		if !strings.Contains(out.String(), "Usage: herald "+cmd) {
			t.Errorf("%s --help printed %q", cmd, out.String())
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, &out); err != nil || !strings.HasPrefix(out.String(), "herald ") {
		t.Errorf("version: %v %q", err, out.String())
	}
}

// Accepted means durable: `herald dev` killed with SIGKILL right after
// answering 202, then started on the same data dir, delivers every event.
func TestKillNineThenRestartDeliversEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startDev(t, dir, nil)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) {
		return 200, nil, 50 * time.Millisecond // slow enough that work is in flight at the kill
	})
	p.api.must(201, "POST", "/v1/apps", map[string]any{"id": "crash", "name": "Crash"}, nil)
	p.api.must(201, "POST", "/v1/event-types", map[string]any{"name": "crash.test"}, nil)
	p.api.must(201, "POST", "/v1/apps/crash/endpoints", map[string]any{"url": rc.URL(), "ordered": true}, nil)
	p.api.must(201, "POST", "/v1/apps/crash/endpoints", map[string]any{"url": rc.URL(), "ordered": false}, nil)
	const n = 20
	for i := 0; i < n; i++ {
		p.api.must(202, "POST", "/v1/apps/crash/events", map[string]any{"id": fmt.Sprintf("c-%02d", i), "event_type": "crash.test", "payload": i}, nil)
	}
	p.kill()
	before := rc.count()

	p.env["HERALD_HTTP_ADDR"] = freeAddr(t)
	p.start()
	eventually(t, 3*time.Minute, "every event delivered to both endpoints after the restart", func() bool {
		seen := map[string]int{}
		for _, r := range rc.received() {
			seen[r.ID]++
		}
		for i := 0; i < n; i++ {
			if seen[fmt.Sprintf("c-%02d", i)] < 2 {
				return false
			}
		}
		return true
	})
	for i := 0; i < n; i++ {
		var ev schemas.Event
		eventually(t, time.Minute, "event status delivered", func() bool {
			p.api.must(200, "GET", fmt.Sprintf("/v1/apps/crash/events/c-%02d", i), nil, &ev)
			return ev.Status == schemas.EventDelivered
		})
	}
	t.Logf("%d requests before the kill, %d in all", before, rc.count())
}

// With private networks disallowed, a literal private address is refused
// when the endpoint is made, and a name that resolves to one is refused at
// dial time and recorded as a failed attempt.
func TestSSRFGuard(t *testing.T) {
	t.Parallel()
	p := startDev(t, t.TempDir(), map[string]string{
		"HERALD_ALLOW_PRIVATE_NETWORKS": "false",
		"HERALD_RETRY_SCHEDULE":         "none",
	})
	p.api.must(201, "POST", "/v1/apps", map[string]any{"id": "ssrf", "name": "SSRF"}, nil)
	p.api.must(201, "POST", "/v1/event-types", map[string]any{"name": "ssrf.test"}, nil)
	for _, u := range []string{"http://127.0.0.1:9/x", "http://10.0.0.1/x", "http://169.254.169.254/latest", "http://[::1]/x", "http://[::ffff:127.0.0.1]/x"} {
		if r := p.api.do("POST", "/v1/apps/ssrf/endpoints", map[string]any{"url": u}); r.Status != 422 {
			t.Errorf("endpoint %s: status %d, want 422: %s", u, r.Status, r.Body)
		}
	}
	rc := newReceiver(t, nil)
	port := rc.srv.Listener.Addr().String()[strings.LastIndex(rc.srv.Listener.Addr().String(), ":")+1:]
	// "localhost" is a name, not a literal: only the dial-time check, after
	// resolution, can stop it.
	p.api.must(201, "POST", "/v1/apps/ssrf/endpoints", map[string]any{"url": "http://localhost:" + port + "/hook"}, nil)
	var ev schemas.Event
	p.api.must(202, "POST", "/v1/apps/ssrf/events", map[string]any{"id": "s1", "event_type": "ssrf.test", "payload": 1}, &ev)
	eventually(t, time.Minute, "the delivery to fail", func() bool {
		p.api.must(200, "GET", "/v1/apps/ssrf/events/s1", nil, &ev)
		return ev.Status == schemas.EventFailed
	})
	a := ev.Deliveries[0].Attempts
	if len(a) != 1 || !strings.Contains(a[0].Error, "private") {
		t.Fatalf("attempts = %+v, want one refused attempt", a)
	}
	if rc.count() != 0 {
		t.Fatalf("receiver on loopback got %d requests", rc.count())
	}
}
