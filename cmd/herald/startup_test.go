package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/internal/searchattr"
)

// runHerald runs the program in-process with env as its whole environment.
func runHerald(ctx context.Context, env map[string]string, args ...string) (string, error) {
	var out bytes.Buffer
	err := run(ctx, args, func(k string) string { return env[k] }, &out, &out)
	return out.String(), err
}

// closedAddr is a 127.0.0.1 port nothing listens on.
func closedAddr(t *testing.T) string {
	return freeAddr(t)
}

func wantOneLine(t *testing.T, err error, names ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one naming %v", names)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not name %s", err, n)
		}
	}
}

// Every malformed or missing variable is reported, all in one line.
func TestConfigListsEveryProblemAtOnce(t *testing.T) {
	_, err := runHerald(context.Background(), map[string]string{
		"HERALD_HTTP_ADDR":         "8080",
		"HERALD_RETRY_SCHEDULE":    "5s,soon",
		"HERALD_LOG_FORMAT":        "xml",
		"HERALD_WORKER_POLLERS":    "0",
		"HERALD_TEMPORAL_TLS_CERT": "/nonexistent/cert.pem",
		"HERALD_EAGER_START":       "maybe",
	}, "api")
	wantOneLine(t, err, "HERALD_HTTP_ADDR", "HERALD_RETRY_SCHEDULE", "HERALD_LOG_FORMAT", "HERALD_WORKER_POLLERS",
		"HERALD_DATABASE_URL", "HERALD_TEMPORAL_ADDRESS", "HERALD_API_TOKEN", "HERALD_TEMPORAL_TLS_KEY", "HERALD_EAGER_START")
}

// Worker sizes the Temporal SDK would panic on, and a drain too short to
// choose an heir, are refused with the others, in one line, before
// anything is reached.
func TestConfigRefusesWorkerSizesTheSDKCannotRun(t *testing.T) {
	for _, cmd := range []string{"api", "worker", "dev"} {
		_, err := runHerald(context.Background(), map[string]string{
			"HERALD_WORKER_WORKFLOW_TASKS": "1",
			"HERALD_WORKER_POLLERS":        "1",
			"HERALD_LANE_DRAIN_MAX":        "1",
			"HERALD_LOG_FORMAT":            "xml",
		}, cmd)
		wantOneLine(t, err, "HERALD_WORKER_WORKFLOW_TASKS: 1 is below 2", "HERALD_WORKER_POLLERS: 1 is below 2",
			"HERALD_LANE_DRAIN_MAX: 1 is below 2", "HERALD_LOG_FORMAT")
	}
}

// An unreachable database or Temporal frontend stops the start with one
// line naming the setting, never a panic.
func TestUnreachableDependenciesStopCleanly(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"database", map[string]string{"HERALD_DATABASE_URL": "postgres://u@" + closedAddr(t) + "/db?sslmode=disable&connect_timeout=5"}, "HERALD_DATABASE_URL"},
		{"temporal", map[string]string{"HERALD_DATABASE_URL": dsn}, "HERALD_TEMPORAL_ADDRESS"},
	}
	for _, c := range cases {
		for _, cmd := range []string{"api", "worker"} {
			t.Run(c.name+"/"+cmd, func(t *testing.T) {
				t.Parallel()
				env := map[string]string{
					"HERALD_HTTP_ADDR":        freeAddr(t),
					"HERALD_TEMPORAL_ADDRESS": closedAddr(t),
					"HERALD_API_TOKEN":        "t",
				}
				for k, v := range c.env {
					env[k] = v
				}
				start := time.Now()
				_, err := runHerald(context.Background(), env, cmd)
				wantOneLine(t, err, c.want)
				if d := time.Since(start); d > connectTimeout+10*time.Second {
					t.Errorf("took %s to give up", d)
				}
			})
		}
	}
}

// On a real Temporal server: a namespace that does not exist, or one
// without Herald's search attributes, stops `herald api` and `herald
// worker` with the command to run; allowed to, Herald adds them itself.
func TestNamespaceAndSearchAttributesChecked(t *testing.T) {
	t.Parallel()
	p := sharedDev(t)
	tc := temporalClient(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := "bare-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + time.Now().Format("150405.000000")
	ns = strings.ReplaceAll(ns, ".", "")
	if _, err := tc.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	env := func(namespace string) map[string]string {
		return map[string]string{
			"HERALD_HTTP_ADDR":          freeAddr(t),
			"HERALD_DATABASE_URL":       pgtest.DSN(t),
			"HERALD_TEMPORAL_ADDRESS":   p.temporal,
			"HERALD_TEMPORAL_NAMESPACE": namespace,
			"HERALD_API_TOKEN":          "t",
		}
	}
	_, err := runHerald(ctx, env("no-such-namespace"), "worker")
	wantOneLine(t, err, "HERALD_TEMPORAL_NAMESPACE", "temporal operator namespace create --address "+p.temporal+" --namespace no-such-namespace")

	missing := []string{"HeraldApp", "HeraldEventType", "HeraldStatus"}
	for _, cmd := range []string{"api", "worker"} {
		_, err = runHerald(ctx, env(ns), cmd)
		wantOneLine(t, err, "HERALD_TEMPORAL_NAMESPACE", searchattr.Command(p.temporal, ns, missing),
			"HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES=true")
	}
	if got := searchattr.Command("h:1", "ns", missing); got != "temporal operator search-attribute create --address h:1 --namespace ns --name HeraldApp --type Keyword --name HeraldEventType --type Keyword --name HeraldStatus --type Keyword" {
		t.Errorf("command = %q", got)
	}

	// Allowed by the flag, the worker adds them, then serves its routes.
	e := env(ns)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := runHerald(wctx, e, "worker", "--register-search-attributes")
		done <- err
	}()
	base := "http://" + e["HERALD_HTTP_ADDR"]
	eventually(t, time.Minute, "the worker's /readyz", func() bool {
		select {
		case err := <-done:
			t.Fatalf("worker stopped: %v", err)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	left, err := searchattr.Missing(ctx, tc.OperatorService(), ns)
	if err != nil || len(left) != 0 {
		t.Fatalf("after --register-search-attributes: missing %v, %v", left, err)
	}
	list, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil || len(list.CustomAttributes) < 3 {
		t.Fatalf("listed %v, %v", list, err)
	}
	for path, want := range map[string]string{"/healthz": `"ok"`, "/metrics": "temporal_request_total"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Errorf("%s: %d, lacks %s", path, resp.StatusCode, want)
		}
	}
	// `herald health`, the containers' health check, sees it ready.
	if out, err := runHerald(ctx, map[string]string{"HERALD_HTTP_ADDR": e["HERALD_HTTP_ADDR"]}, "health"); err != nil || out != "ok\n" {
		t.Errorf("herald health: %q, %v", out, err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("worker after stop: %v", err)
	}
	if _, err := runHerald(ctx, map[string]string{"HERALD_HTTP_ADDR": e["HERALD_HTTP_ADDR"]}, "health"); err == nil {
		t.Error("herald health passed with the worker stopped")
	}
}

// A second `herald dev` on a data dir in use says which process holds it;
// a taken port of the embedded server names its variable.
func TestDevRefusesTakenDataDirAndPorts(t *testing.T) {
	t.Parallel()
	p := sharedDev(t)
	_, err := runHerald(context.Background(), map[string]string{"HERALD_DATA_DIR": p.dataDir, "HERALD_HTTP_ADDR": freeAddr(t)}, "dev")
	wantOneLine(t, err, "HERALD_DATA_DIR", p.dataDir, "process "+strconv.Itoa(p.cmd.Process.Pid))

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, name := range []string{"HERALD_DEV_TEMPORAL_ADDR", "HERALD_DEV_UI_ADDR"} {
		env := map[string]string{
			"HERALD_DATA_DIR":          t.TempDir(),
			"HERALD_HTTP_ADDR":         freeAddr(t),
			"HERALD_DEV_TEMPORAL_ADDR": freeAddr(t),
			"HERALD_DEV_UI_ADDR":       freeAddr(t),
		}
		env[name] = taken.Addr().String()
		_, err := runHerald(context.Background(), env, "dev")
		wantOneLine(t, err, name, taken.Addr().String())
	}
}

func TestDataDirLockIsReleased(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(dir); err == nil || !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
	if _, err := os.Stat(filepath.Join(dir, lockFile)); err != nil {
		t.Fatal(err)
	}
}
