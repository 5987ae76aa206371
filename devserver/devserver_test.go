package devserver

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

// Generous: under -race on two cores the server is several times slower.
const testTimeout = 4 * time.Minute

func testLogger() *slog.Logger {
	// Not t.Log: server goroutines may still log just after a test returns.
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

func start(t *testing.T, ctx context.Context, cfg Config) *Server {
	t.Helper()
	began := time.Now()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("start to ready: %v (frontend %s, UI %q)", time.Since(began), s.FrontendAddr(), s.UIAddr())
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func dialTest(t *testing.T, addr, namespace string) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  addr,
		Namespace: namespace,
		Logger:    sdklog.NewStructuredLogger(quiet(testLogger(), slog.LevelWarn)),
	})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

func greet(ctx workflow.Context, name string) (string, error) {
	return "hello " + name, nil
}

func TestStartRunRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "data") // Start creates it
	const ns = "herald-test"
	cfg := Config{
		DataDir:      dir,
		FrontendAddr: "127.0.0.1:0",
		UIAddr:       "127.0.0.1:0",
		Namespace:    ns,
		Logger:       testLogger(),
	}

	// First start, on an empty dir.
	s := start(t, ctx, cfg)
	for _, f := range []string{DBFile, VisibilityFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("database file: %v", err)
		}
	}
	resp, err := http.Get("http://" + s.UIAddr() + "/")
	if err != nil {
		t.Fatalf("GET UI: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET UI: %s, want 200", resp.Status)
	}

	c := dialTest(t, s.FrontendAddr(), ns)
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	if err != nil {
		t.Fatalf("DescribeNamespace: %v", err)
	}
	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != namespaceRetention {
		t.Errorf("retention %v, want %v", got, namespaceRetention)
	}
	checkSearchAttributes(t, ctx, c, ns)
	checkVisibilityIndexes(t, dir, filepath.Join(dir, VisibilityFile), ns, true)

	runID := runGreet(t, ctx, c, "greet-1")
	checkListedBy(t, ctx, c, "HistoryLength > 0 AND ExecutionStatus = 'Completed'", 1) // a dropped index's column
	c.Close()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	// Restart on the same dir: the completed workflow is still there.
	s = start(t, ctx, cfg)
	c = dialTest(t, s.FrontendAddr(), ns)
	checkSearchAttributes(t, ctx, c, ns)
	checkCompleted(t, ctx, c, "greet-1", runID)
	checkListed(t, ctx, c, 1)
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop after restart: %v", err)
	}
}

// A namespace made before Herald had search attributes gets them on Start, and
// a second server runs beside the first on its own ports.
func TestSearchAttributesAddedToExistingNamespace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	db := filepath.Join(dir, DBFile)
	if err := ensureSchema(db); err != nil {
		t.Fatal(err)
	}
	if err := ensureNamespace(sqliteConfig(db, defaultTuning()), DefaultNamespace, 7*24*time.Hour, nil); err != nil {
		t.Fatal(err)
	}

	a := start(t, ctx, Config{DataDir: dir, FrontendAddr: "127.0.0.1:0", Logger: testLogger(), Retention: 3 * time.Hour})
	desc, err := dialTest(t, a.FrontendAddr(), DefaultNamespace).WorkflowService().DescribeNamespace(ctx,
		&workflowservice.DescribeNamespaceRequest{Namespace: DefaultNamespace})
	if err != nil {
		t.Fatal(err)
	}
	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 3*time.Hour {
		t.Errorf("retention of an existing namespace %v after Start with 3h", got)
	}
	if fi, err := os.Stat(db); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("temporal.db has mode %o, want 600", fi.Mode().Perm())
	}
	if a.UIAddr() != "" {
		t.Errorf("UIAddr %q without a UI", a.UIAddr())
	}
	b := start(t, ctx, Config{DataDir: t.TempDir(), FrontendAddr: "127.0.0.1:0", Logger: testLogger()})
	if a.FrontendAddr() == b.FrontendAddr() {
		t.Fatalf("both servers on %s", a.FrontendAddr())
	}
	ca := dialTest(t, a.FrontendAddr(), DefaultNamespace)
	checkSearchAttributes(t, ctx, ca, DefaultNamespace)
	checkSearchAttributes(t, ctx, dialTest(t, b.FrontendAddr(), DefaultNamespace), DefaultNamespace)
	// Start mapped Herald's attributes after it could trim: nothing was.
	checkVisibilityIndexes(t, dir, db, DefaultNamespace, false)
	// A data dir made before visibility had its own file keeps its listing
	// in the one file.
	if _, err := os.Stat(filepath.Join(dir, VisibilityFile)); err == nil {
		t.Errorf("%s made for an existing data dir", VisibilityFile)
	}
	runGreet(t, ctx, ca, "greet-old-layout")
	checkListed(t, ctx, ca, 1)
}

// checkListed waits until visibility lists want closed workflows tagged by
// runGreet.
func checkListed(t *testing.T, ctx context.Context, c client.Client, want int64) {
	t.Helper()
	checkListedBy(t, ctx, c, schemas.SearchAttrApp+" = 'app_1' AND ExecutionStatus = 'Completed'", want)
}

// checkListedBy waits until visibility counts want workflows matching q.
func checkListedBy(t *testing.T, ctx context.Context, c client.Client, q string, want int64) {
	t.Helper()
	var got int64
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q})
		if err != nil {
			t.Fatalf("CountWorkflow: %v", err)
		}
		if got = r.GetCount(); got == want {
			return
		}
	}
	t.Fatalf("visibility counts %d workflows for %q, want %d", got, q, want)
}

func checkSearchAttributes(t *testing.T, ctx context.Context, c client.Client, ns string) {
	t.Helper()
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatalf("ListSearchAttributes: %v", err)
	}
	for _, name := range []string{schemas.SearchAttrApp, schemas.SearchAttrEventType, schemas.SearchAttrStatus} {
		if got := list.GetCustomAttributes()[name]; got != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s: %v, want Keyword", name, got)
		}
	}
}

// runGreet runs greet to completion through a worker, tagged with a Herald
// search attribute, and returns its run id.
func runGreet(t *testing.T, ctx context.Context, c client.Client, id string) string {
	t.Helper()
	const taskQueue = "devserver-test"
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflow(greet)
	if err := w.Start(); err != nil {
		t.Fatalf("worker: %v", err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrApp).ValueSet("app_1")),
	}, greet, "herald")
	if err != nil {
		t.Fatalf("ExecuteWorkflow: %v", err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "hello herald" {
		t.Fatalf("workflow result %q, %v", out, err)
	}
	return run.GetRunID()
}

func checkCompleted(t *testing.T, ctx context.Context, c client.Client, id, runID string) {
	t.Helper()
	d, err := c.DescribeWorkflowExecution(ctx, id, runID)
	if err != nil {
		t.Fatalf("DescribeWorkflowExecution %s: %v", id, err)
	}
	if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Fatalf("%s: status %v, want COMPLETED", id, st)
	}
}

// killChildEnv, when set, makes TestSurvivesKill the child process: it starts
// a server on that dir, completes a workflow, reports its run id and waits to
// be killed.
const killChildEnv = "HERALD_DEVSERVER_KILL_CHILD_DIR"

// A workflow completed before the process is killed with SIGKILL is still
// there when the server starts again on the same dir.
func TestSurvivesKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if dir := os.Getenv(killChildEnv); dir != "" {
		s := start(t, ctx, Config{DataDir: dir, FrontendAddr: "127.0.0.1:0", Logger: testLogger()})
		c := dialTest(t, s.FrontendAddr(), DefaultNamespace)
		runID := runGreet(t, ctx, c, "greet-killed")
		os.Stdout.WriteString("completed " + runID + "\n")
		<-ctx.Done() // killed long before this
		return
	}

	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSurvivesKill$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var runID string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if id, ok := strings.CutPrefix(lines.Text(), "completed "); ok {
			runID = id
			break
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if runID == "" {
		t.Fatal("child exited without completing its workflow")
	}

	s := start(t, ctx, Config{DataDir: dir, FrontendAddr: "127.0.0.1:0", Logger: testLogger()})
	checkCompleted(t, ctx, dialTest(t, s.FrontendAddr(), DefaultNamespace), "greet-killed", runID)
}
