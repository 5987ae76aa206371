package dispatch_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/server/common/dynamicconfig"
	servertemporal "go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/herald-hq/herald/dispatch"
	"github.com/herald-hq/herald/internal/histtest"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
	"github.com/herald-hq/herald/worker"
)

// These tests run the dispatcher, the worker and the event workflow against
// a real Temporal server (temporaltest), with in-memory doubles of the store
// and the activities. With HERALD_RECORD_HISTORIES=1 they also write each
// run's history to workflows/testdata for the replay test.

type events struct {
	mu      sync.Mutex
	targets map[string][]schemas.Target // event id -> non-final targets
}

func (e *events) EventInput(_ context.Context, appID, id string) (store.NewEvent, []schemas.Target, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return store.NewEvent{AppID: appID, ID: id, EventType: "order.created", CreatedAt: time.Unix(1700000000, 0).UTC()},
		e.targets[id], nil
}

type acts struct {
	mu       sync.Mutex
	delivers map[string]int // event/endpoint -> calls
	replay   []schemas.Target
	turns    []string // event ids, in the order their turn was asked for
}

func (a *acts) Deliver(ctx context.Context, req schemas.DeliverRequest) (schemas.DeliverResult, error) {
	if req.AwaitTurn > 0 {
		turn, _ := a.AcquireTurn(ctx, schemas.TurnRequest{AppID: req.AppID, EventID: req.EventID,
			EndpointID: req.EndpointID, Lane: req.Lane, Seq: req.Seq, Wait: req.AwaitTurn})
		if !turn.Go {
			return schemas.DeliverResult{EndpointID: req.EndpointID, Turn: &turn}, nil
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.delivers[req.EventID+"/"+req.EndpointID]++
	n := a.delivers[req.EventID+"/"+req.EndpointID]
	if req.EndpointID == "ep_retry" && n == 1 {
		return schemas.DeliverResult{Outcome: schemas.OutcomeRetry, EndpointID: req.EndpointID, RetryIn: req.NextDelay,
			Attempt: &schemas.Attempt{Attempt: n, ResponseStatus: 500}}, nil
	}
	return schemas.DeliverResult{Outcome: schemas.OutcomeSucceeded, EndpointID: req.EndpointID,
		Attempt: &schemas.Attempt{Attempt: n, ResponseStatus: 200}}, nil
}

func (a *acts) DeliverFirst(ctx context.Context, req schemas.DeliverFirstRequest) (schemas.DeliverFirstResult, error) {
	var out schemas.DeliverFirstResult
	for _, r := range req.Requests {
		res, err := a.Deliver(ctx, r)
		if err != nil {
			return out, err
		}
		out.Results = append(out.Results, schemas.DeliverFirstItem{Result: res})
	}
	return out, nil
}

func (a *acts) AcquireTurn(ctx context.Context, req schemas.TurnRequest) (schemas.TurnResult, error) {
	a.mu.Lock()
	a.turns = append(a.turns, req.EventID)
	a.mu.Unlock()
	if req.EndpointID == "ep_cancelled" { // cancelled by the API before its turn
		return schemas.TurnResult{DeliveryStatus: schemas.DeliveryCancelled}, nil
	}
	return schemas.TurnResult{Go: true, DeliveryStatus: schemas.DeliveryPending}, nil
}

func (a *acts) PassTurn(ctx context.Context, req schemas.PassTurnRequest) error { return nil }

func (a *acts) CancelDeliveries(ctx context.Context, req schemas.CancelRequest) (schemas.CancelResult, error) {
	return schemas.CancelResult{EventStatus: schemas.EventCancelled}, nil
}

func (a *acts) PrepareReplay(ctx context.Context, req schemas.PrepareReplayRequest) ([]schemas.Target, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.replay, nil
}

func (a *acts) Purge(context.Context) (schemas.PurgeResult, error) { return schemas.PurgeResult{}, nil }

func (a *acts) calls(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.delivers[key]
}

type fixture struct {
	c    client.Client
	ns   string
	d    *dispatch.Dispatcher
	src  *events
	acts *acts
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	// Matching as `herald dev` runs it (devserver): one partition per task
	// queue, so that which partition a task lands in does not decide when
	// it runs (with the default four, a poller takes from one of them, and
	// a high-priority task may wait behind lower ones it holds), and the
	// priority matcher. The lite server's own setting is kept.
	srv := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseServerOptions(
		servertemporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
			dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():      1,
			dynamicconfig.MatchingNumTaskqueueWritePartitions.Key():     1,
			dynamicconfig.MatchingUseNewMatcher.Key():                   true,
			dynamicconfig.MatchingPriorityLevels.Key():                  5,
		})))
	c := srv.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: srv.GetDefaultNamespace(),
		SearchAttributes: map[string]enumspb.IndexedValueType{
			schemas.SearchAttrApp:       enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			schemas.SearchAttrEventType: enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			schemas.SearchAttrStatus:    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		},
	})
	if err != nil {
		t.Fatalf("add search attributes: %v", err)
	}
	f := &fixture{c: c, ns: srv.GetDefaultNamespace(), src: &events{targets: map[string][]schemas.Target{}}, acts: &acts{delivers: map[string]int{}}}
	w := worker.New(c, f.acts, worker.Options{TaskQueue: "herald-test"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	f.d = dispatch.New(c, f.src, dispatch.Config{Namespace: f.ns, TaskQueue: "herald-test",
		RetrySchedule: []time.Duration{time.Second}, DeliveryTimeout: 5 * time.Second})
	return f
}

// wait waits for the event's latest run to close and returns its HeraldStatus.
func (f *fixture) wait(t *testing.T, eventID string) schemas.EventStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := schemas.EventWorkflowID("app_1", eventID)
	if err := f.c.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
		t.Fatalf("workflow %s: %v", id, err)
	}
	desc, err := f.c.DescribeWorkflow(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	status, _ := desc.TypedSearchAttributes.GetKeyword(temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrStatus))
	app, _ := desc.TypedSearchAttributes.GetKeyword(temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrApp))
	if app != "app_1" {
		t.Errorf("HeraldApp = %q", app)
	}
	return schemas.EventStatus(status)
}

// record writes the workflow's history to workflows/testdata/<name>.json
// when HERALD_RECORD_HISTORIES=1.
func (f *fixture) record(t *testing.T, eventID, name string) {
	t.Helper()
	histtest.Record(t, f.c, schemas.EventWorkflowID("app_1", eventID), filepath.Join("..", "workflows", "testdata"), name)
}

func ev(id string) store.NewEvent {
	return store.NewEvent{AppID: "app_1", ID: id, EventType: "order.created", CreatedAt: time.Unix(1700000000, 0).UTC()}
}

func TestDispatchAgainstServer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	targets := []schemas.Target{{EndpointID: "ep_a"}, {EndpointID: "ep_retry"}, {EndpointID: "ep_o", Ordered: true, Seq: 1}}

	t.Run("start delivers and sets HeraldStatus", func(t *testing.T) {
		if err := f.d.Start(ctx, ev("evt_1"), targets); err != nil {
			t.Fatal(err)
		}
		if got := f.wait(t, "evt_1"); got != schemas.EventDelivered {
			t.Fatalf("HeraldStatus = %q, want delivered", got)
		}
		if f.acts.calls("evt_1/ep_retry") != 2 || f.acts.calls("evt_1/ep_a") != 1 || f.acts.calls("evt_1/ep_o") != 1 {
			t.Fatalf("deliver calls %v", f.acts.delivers)
		}
		f.record(t, "evt_1", "start_retry_ordered_turns_in_deliver")
	})

	t.Run("start again after close is success and delivers nothing", func(t *testing.T) {
		if err := f.d.Start(ctx, ev("evt_1"), targets); err != nil {
			t.Fatal(err)
		}
		if f.acts.calls("evt_1/ep_a") != 1 {
			t.Fatal("delivered again")
		}
	})

	t.Run("cancel of a closed workflow is not an error", func(t *testing.T) {
		if err := f.d.Cancel(ctx, "app_1", "evt_1", schemas.CancelSignal{}); err != nil {
			t.Fatal(err)
		}
		if err := f.d.Cancel(ctx, "app_1", "evt_missing", schemas.CancelSignal{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("replay after close starts a new run", func(t *testing.T) {
		err := f.d.Replay(ctx, "app_1", "evt_1", schemas.ReplaySignal{EndpointID: "ep_a",
			Targets: []schemas.Target{{EndpointID: "ep_a"}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.wait(t, "evt_1"); got != schemas.EventDelivered {
			t.Fatalf("HeraldStatus = %q", got)
		}
		if n := f.acts.calls("evt_1/ep_a"); n != 2 {
			t.Fatalf("ep_a delivered %d times, want 2", n)
		}
		f.record(t, "evt_1", "replay_new_run_turns_in_deliver")
	})

	t.Run("operator replay without targets prepares them", func(t *testing.T) {
		f.acts.mu.Lock()
		f.acts.replay = []schemas.Target{{EndpointID: "ep_o", Ordered: true, Seq: 2}}
		f.acts.mu.Unlock()
		if err := f.d.Replay(ctx, "app_1", "evt_1", schemas.ReplaySignal{}); err != nil {
			t.Fatal(err)
		}
		f.wait(t, "evt_1")
		if n := f.acts.calls("evt_1/ep_o"); n != 2 {
			t.Fatalf("ep_o delivered %d times, want 2", n)
		}
	})

	t.Run("late replay targets are ignored; a delivery found cancelled passes its turn", func(t *testing.T) {
		// The shape of workflow.GetVersion "keep-newer-target" and
		// "pass-cancelled-turn": the repeated and the older target come
		// while ep_retry's first attempt waits for its retry.
		targets := []schemas.Target{{EndpointID: "ep_retry", Gen: 2}, {EndpointID: "ep_cancelled", Ordered: true, Seq: 4, Gen: 1}}
		if err := f.d.Start(ctx, ev("evt_3"), targets); err != nil {
			t.Fatal(err)
		}
		err := f.d.Replay(ctx, "app_1", "evt_3", schemas.ReplaySignal{
			Targets: []schemas.Target{{EndpointID: "ep_retry", Gen: 2}, {EndpointID: "ep_retry", Gen: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.wait(t, "evt_3"); got != schemas.EventCancelled {
			t.Fatalf("HeraldStatus = %q, want cancelled", got)
		}
		if n := f.acts.calls("evt_3/ep_retry"); n != 2 {
			t.Fatalf("ep_retry delivered %d times, want 2", n)
		}
		f.record(t, "evt_3", "late_replay_targets_turns_in_deliver")
	})

	t.Run("turn starts a workflow that never started", func(t *testing.T) {
		f.src.mu.Lock()
		f.src.targets["evt_2"] = []schemas.Target{{EndpointID: "ep_o", Ordered: true, Seq: 3}}
		f.src.mu.Unlock()
		if err := f.d.Turn(ctx, store.DeliveryRef{AppID: "app_1", EventID: "evt_2", EndpointID: "ep_o", Seq: 3}); err != nil {
			t.Fatal(err)
		}
		if got := f.wait(t, "evt_2"); got != schemas.EventDelivered {
			t.Fatalf("HeraldStatus = %q", got)
		}
		if n := f.acts.calls("evt_2/ep_o"); n != 1 {
			t.Fatalf("ep_o delivered %d times, want 1", n)
		}
	})
}

// Under a burst, thousands of queued ordered events' delayed first tasks
// (housekeeping: most find their delivery drained) reach the task queue;
// the task that wakes a lane's new head must not wait behind them. Here 30
// such tasks are queued while no worker polls, then a turn is passed to a
// queued event; the first worker to poll must run the head first.
func TestTurnGoesBeforeHousekeeping(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const queue = "herald-prio"
	d := dispatch.New(f.c, f.src, dispatch.Config{Namespace: f.ns, TaskQueue: queue,
		RetrySchedule: []time.Duration{time.Second}, DeliveryTimeout: 5 * time.Second})
	target := func(seq, ahead int64) []schemas.Target {
		return []schemas.Target{{EndpointID: "ep_o", Ordered: true, Seq: seq, Ahead: ahead}}
	}
	// The head was queued far back: its start delay is long.
	if err := d.Start(ctx, ev("head"), target(1, 3000)); err != nil {
		t.Fatal(err)
	}
	var housekeeping []string
	for i := range 30 {
		id := fmt.Sprintf("queued_%02d", i)
		housekeeping = append(housekeeping, id)
		if err := d.Start(ctx, ev(id), target(int64(10+i), 2)); err != nil { // a 20 ms delay
			t.Fatal(err)
		}
	}
	scheduled := func(id string) bool {
		desc, err := f.c.DescribeWorkflowExecution(ctx, schemas.EventWorkflowID("app_1", id), "")
		return err == nil && desc.GetPendingWorkflowTask() != nil
	}
	eventuallyTrue(t, "the queued events' first tasks are scheduled", func() bool {
		return !slices.ContainsFunc(housekeeping, func(id string) bool { return !scheduled(id) })
	})
	f.src.mu.Lock()
	f.src.targets["head"] = target(1, 0)
	f.src.mu.Unlock()
	if err := d.Turn(ctx, store.DeliveryRef{AppID: "app_1", EventID: "head", EndpointID: "ep_o", Seq: 1}); err != nil {
		t.Fatal(err)
	}
	eventuallyTrue(t, "the head's task is scheduled", func() bool { return scheduled("head") })
	for id, want := range map[string]int32{"head": 1, "queued_00": 5} {
		desc, err := f.c.DescribeWorkflowExecution(ctx, schemas.EventWorkflowID("app_1", id), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := desc.GetWorkflowExecutionInfo().GetPriority().GetPriorityKey(); got != want {
			t.Errorf("%s has priority key %d, want %d", id, got, want)
		}
	}

	// Two workflow tasks at a time (the SDK's least): the order they run in
	// is about the order matching hands them out.
	w := worker.New(f.c, f.acts, worker.Options{TaskQueue: queue, WorkflowTasks: 2, WorkflowTaskPollers: 2})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var at int
	eventuallyTrue(t, "the head's turn is asked for", func() bool {
		f.acts.mu.Lock()
		defer f.acts.mu.Unlock()
		at = slices.Index(f.acts.turns, "head")
		return at >= 0
	})
	// Priority order is close, not exact: tasks already matched or on their
	// way to a poller go first (3–4 of them on a loaded machine). Without
	// priorities the head is last (31st). With one partition it ran after
	// 0–1 (four runs, load 4–5); with the default four, 0–3, and 15 once
	// under heavier load.
	t.Logf("the head ran after %d queued events' tasks", at)
	if at > 8 {
		t.Errorf("the head ran after %d queued events' tasks, want at most 8", at)
	}
}

func eventuallyTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 30s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An event queued behind others at one ordered endpoint starts at once when
// another of its targets can go now (an unordered endpoint, or an ordered
// one with nothing ahead): holding the event back held that delivery back
// too, by up to 30 s and then behind every housekeeping task. An event
// queued at every target is still held back, at housekeeping priority.
func TestQueuedLaneDoesNotDelayOtherTargets(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	queued := schemas.Target{EndpointID: "ep_queued", Ordered: true, Seq: 3001, Ahead: 3000} // a 30 s delay
	starts := map[string][]schemas.Target{
		"with_unordered": {queued, {EndpointID: "ep_u"}},
		"with_free_lane": {queued, {EndpointID: "ep_free", Ordered: true, Seq: 1}},
		"only_queued":    {queued},
	}
	for id, targets := range starts {
		if err := f.d.Start(ctx, ev(id), targets); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{"with_unordered/ep_u", "with_free_lane/ep_free"} {
		deadline := time.Now().Add(10 * time.Second)
		for f.acts.calls(key) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no delivery within 10 s of the start", key)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for id, want := range map[string]int32{"with_unordered": 0, "with_free_lane": 0, "only_queued": 5} {
		desc, err := f.c.DescribeWorkflowExecution(ctx, schemas.EventWorkflowID("app_1", id), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := desc.GetWorkflowExecutionInfo().GetPriority().GetPriorityKey(); got != want {
			t.Errorf("%s has priority key %d, want %d", id, got, want)
		}
	}
	if n := f.acts.calls("only_queued/ep_queued"); n != 0 {
		t.Errorf("the event queued at every target was delivered %d times before its start delay", n)
	}
}
