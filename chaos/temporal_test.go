package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/encoding/protojson"
)

// dialTemporal connects to the Temporal frontend at addr, as an operator's
// tools do.
func dialTemporal(addr string) (client.Client, error) {
	return client.Dial(client.Options{
		HostPort:  addr,
		Namespace: "default",
		Logger:    tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
}

// checkWorkflows asks the embedded Temporal server, through its frontend,
// whether every event's workflow closed and how many signals each run of
// them took. Runs of one workflow id come from replays after it closed.
func (r *chaosRun) checkWorkflows(ctx context.Context, rep *report, got map[*eventState]apiEvent) {
	c, err := dialTemporal(r.herald.temporalAddr())
	if err != nil {
		rep.violate("connect to Temporal at %s: %v", r.herald.temporalAddr(), err)
		return
	}
	defer c.Close()
	began := time.Now()

	// Every accepted event's workflow, deleted apps' included, is closed.
	// The store says an event is final a moment before its workflow ends.
	// An event accepted with no delivery needs none: it is stored
	// delivered, with no outbox note, so a start that a kill or an
	// unavailable Temporal stopped is not made again, and nothing is owed.
	// When its app is gone since, its accepting answer says so.
	byID := map[string]*eventState{}
	for _, e := range r.w.events {
		ev, ok := got[e]
		if none := (ok && len(ev.Deliveries) == 0) || (!ok && e.none); e.accepted() && !none {
			byID["event/"+e.app.id+"/"+e.id] = e
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	deadline := time.Now().Add(time.Minute)
	open := make([]string, len(ids)) // what is wrong with each, or ""
	waited := make([]time.Duration, len(ids))
	inParallel(len(ids), func(i int) {
		t0 := time.Now()
		open[i] = r.awaitClosed(ctx, c, ids[i], deadline)
		waited[i] = time.Since(t0)
	})
	longest := 0
	for i, v := range open {
		if v != "" {
			rep.violate("%s", v)
		}
		if waited[i] > waited[longest] {
			longest = i
		}
	}
	if len(ids) > 0 {
		// The API says an event is final before its workflow ends; a long
		// wait here is a workflow that learns late that it has nothing left.
		rep.note("the last event workflow closed %s after the checks began (%s; %s)",
			waited[longest].Round(time.Second), ids[longest], lastTimer(ctx, c, ids[longest]))
	}

	described := time.Now()
	// Every run of an event workflow, from the visibility store, and the
	// signals in its history.
	type run struct{ id, runID string }
	var runs []run
	var token []byte
	for {
		page, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: "default", PageSize: 1000, NextPageToken: token})
		if err != nil {
			rep.violate("list workflows: %v", err)
			return
		}
		for _, ex := range page.GetExecutions() {
			id := ex.GetExecution().GetWorkflowId()
			if !strings.HasPrefix(id, "event/") {
				continue
			}
			runs = append(runs, run{id, ex.GetExecution().GetRunId()})
			if ex.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				rep.violate("workflow %s run %s is still open (visibility)", id, ex.GetExecution().GetRunId())
			}
		}
		token = page.GetNextPageToken()
		if len(token) == 0 {
			break
		}
	}
	signals := make([]int, len(runs))
	errs := make([]error, len(runs))
	inParallel(len(runs), func(i int) { signals[i], errs[i] = countSignals(ctx, c, runs[i].id, runs[i].runID) })
	for i, err := range errs {
		if err != nil {
			rep.violate("history of %s: %v", runs[i].id, err)
		}
	}

	most, mostID, total := 0, "", 0
	for i, rn := range runs {
		total += signals[i]
		if signals[i] > most {
			most, mostID = signals[i], rn.id
		}
		allowed := r.cfg.maxSignals
		if e := byID[rn.id]; e != nil {
			allowed += len(e.cancels) + len(e.replays)
			for _, ep := range e.app.endpoints {
				allowed += len(ep.recovers)
			}
		}
		if signals[i] > allowed {
			rep.violate("workflow %s run %s took %d signals, more than %d", rn.id, rn.runID, signals[i], allowed)
		}
	}
	rep.note("%d event workflow runs for %d accepted events, %d signals in all, at most %d (%s); described in %s, histories read in %s",
		len(runs), len(byID), total, most, mostID, described.Sub(began).Round(time.Second), time.Since(described).Round(time.Second))
}

// awaitClosed waits until the workflow's last run is closed, or the
// deadline passes, and says what is wrong with it ("" when nothing).
func (r *chaosRun) awaitClosed(ctx context.Context, c client.Client, id string, deadline time.Time) string {
	for {
		d, err := c.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			return fmt.Sprintf("describe workflow %s: %v", id, err)
		}
		switch st := d.GetWorkflowExecutionInfo().GetStatus(); st {
		case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
			return ""
		case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		default:
			return fmt.Sprintf("workflow %s ended %s", id, st)
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("workflow %s still running (its history: %s)", id, r.saveHistory(ctx, c, id))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lastTimer describes the last timer a workflow's last run started: what
// it waited on before it closed.
func lastTimer(ctx context.Context, c client.Client, id string) string {
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	last := "no timer"
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err.Error()
		}
		if a := ev.GetTimerStartedEventAttributes(); a != nil {
			last = fmt.Sprintf("its last timer: %s, started %s", a.GetStartToFireTimeout().AsDuration(),
				clock(ev.GetEventTime().AsTime()))
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED {
			last += fmt.Sprintf(", closed %s", clock(ev.GetEventTime().AsTime()))
		}
	}
	return last
}

// inParallel runs f(0) ... f(n-1) on four goroutines: the server answers
// several calls at once faster than one after another.
func inParallel(n int, f func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				f(i)
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// countSignals counts the WorkflowExecutionSignaled events of one run.
func countSignals(ctx context.Context, c client.Client, id, runID string) (int, error) {
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return n, err
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
			n++
		}
	}
	return n, nil
}

// saveHistory writes a workflow's history (its last run) as JSON into the
// run's kept dir and returns the file's path, or why it could not.
func (r *chaosRun) saveHistory(ctx context.Context, c client.Client, id string) string {
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err.Error()
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		return err.Error()
	}
	path := filepath.Join(r.dir, "histories", strings.ReplaceAll(id, "/", "_")+".json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err.Error()
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err.Error()
	}
	return path
}
