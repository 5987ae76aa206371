package workflows

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

// fakeActivities are test doubles of the activities, registered under the
// activity names the workflow calls. Each answer comes from a script.
type fakeActivities struct {
	env *testsuite.TestWorkflowEnvironment

	mu       sync.Mutex
	deliver  func(n int, req schemas.DeliverRequest) schemas.DeliverResult // n counts calls per endpoint from 0
	turn     func(req schemas.TurnRequest) schemas.TurnResult
	replay   []schemas.Target // what PrepareReplay answers
	delivers []deliverCall
	firsts   []schemas.DeliverFirstRequest           // DeliverFirst calls
	firstErr func(req schemas.DeliverRequest) string // an item's error in DeliverFirst, instead of its attempt
	passes   []string                                // PassTurn calls
	acquires int                                     // AcquireTurn calls
	inCalls  []string                                // turns passed inside Deliver calls (PassTurn requests)
	cancels  []schemas.CancelRequest
	prepares []schemas.PrepareReplayRequest
}

type deliverCall struct {
	req schemas.DeliverRequest
	at  time.Time
}

func (f *fakeActivities) Deliver(req schemas.DeliverRequest) (schemas.DeliverResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.delivers {
		if c.req.EndpointID == req.EndpointID {
			n++
		}
	}
	f.delivers = append(f.delivers, deliverCall{req: req, at: f.env.Now()})
	if req.AwaitTurn > 0 && f.turn != nil {
		turn := f.turn(schemas.TurnRequest{AppID: req.AppID, EventID: req.EventID, EndpointID: req.EndpointID,
			Lane: req.Lane, Seq: req.Seq, Wait: req.AwaitTurn})
		if !turn.Go {
			return schemas.DeliverResult{EndpointID: req.EndpointID, Turn: &turn}, nil
		}
	}
	res := schemas.DeliverResult{Outcome: schemas.OutcomeSucceeded}
	if f.deliver != nil {
		res = f.deliver(n, req)
	}
	res.EndpointID = req.EndpointID
	if res.Outcome != schemas.OutcomeThrottled && res.Outcome != schemas.OutcomeCancelled {
		res.Attempt = &schemas.Attempt{Attempt: n + 1, ResponseStatus: 200}
	}
	if _, final := res.Outcome.Ends(); req.PassTurn && (final || res.Outcome == schemas.OutcomeSuperseded) {
		f.inCalls = append(f.inCalls, req.EndpointID)
		res.TurnPassed = true
	}
	return res, nil
}

// DeliverFirst answers each request as Deliver would, unless firstErr
// gives it an error.
func (f *fakeActivities) DeliverFirst(req schemas.DeliverFirstRequest) (schemas.DeliverFirstResult, error) {
	f.mu.Lock()
	f.firsts = append(f.firsts, req)
	firstErr := f.firstErr
	f.mu.Unlock()
	var out schemas.DeliverFirstResult
	for _, r := range req.Requests {
		if firstErr != nil {
			if e := firstErr(r); e != "" {
				out.Results = append(out.Results, schemas.DeliverFirstItem{Error: e})
				continue
			}
		}
		res, err := f.Deliver(r)
		if err != nil {
			return out, err
		}
		out.Results = append(out.Results, schemas.DeliverFirstItem{Result: res})
	}
	return out, nil
}

func (f *fakeActivities) firstCalls() []schemas.DeliverFirstRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]schemas.DeliverFirstRequest(nil), f.firsts...)
}

func (f *fakeActivities) AcquireTurn(req schemas.TurnRequest) (schemas.TurnResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acquires++
	if f.turn == nil {
		return schemas.TurnResult{Go: true, DeliveryStatus: schemas.DeliveryPending}, nil
	}
	return f.turn(req), nil
}

func (f *fakeActivities) PassTurn(req schemas.PassTurnRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.passes = append(f.passes, req.EndpointID)
	return nil
}

func (f *fakeActivities) CancelDeliveries(req schemas.CancelRequest) (schemas.CancelResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels = append(f.cancels, req)
	return schemas.CancelResult{EventStatus: schemas.EventCancelled}, nil
}

func (f *fakeActivities) PrepareReplay(req schemas.PrepareReplayRequest) ([]schemas.Target, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prepares = append(f.prepares, req)
	return f.replay, nil
}

func (f *fakeActivities) deliverCalls() []deliverCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]deliverCall(nil), f.delivers...)
}

// harness is a test environment running EventWorkflow against fakes.
type harness struct {
	env      *testsuite.TestWorkflowEnvironment
	acts     *fakeActivities
	statuses []schemas.EventStatus // HeraldStatus values upserted, in order
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	h := &harness{env: env, acts: &fakeActivities{env: env}}
	env.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: schemas.EventWorkflowName})
	for name, fn := range map[string]any{
		schemas.ActivityDeliver:          h.acts.Deliver,
		schemas.ActivityDeliverFirst:     h.acts.DeliverFirst,
		schemas.ActivityAcquireTurn:      h.acts.AcquireTurn,
		schemas.ActivityPassTurn:         h.acts.PassTurn,
		schemas.ActivityCancelDeliveries: h.acts.CancelDeliveries,
		schemas.ActivityPrepareReplay:    h.acts.PrepareReplay,
	} {
		env.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if v, ok := sa.GetKeyword(statusKey); ok {
			h.statuses = append(h.statuses, schemas.EventStatus(v))
		}
	}).Return(nil)
	return h
}

var schedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}

func input(targets ...schemas.Target) schemas.EventWorkflowInput {
	return schemas.EventWorkflowInput{
		AppID: "app_1", EventID: "evt_1", EventType: "order.created",
		Targets: targets, RetrySchedule: schedule, DeliveryTimeout: 15 * time.Second,
	}
}

func unordered(id string) schemas.Target { return schemas.Target{EndpointID: id} }

// run executes the workflow and checks it completed without error.
func (h *harness) run(t *testing.T, in schemas.EventWorkflowInput) {
	t.Helper()
	h.env.ExecuteWorkflow(schemas.EventWorkflowName, in)
	require.True(t, h.env.IsWorkflowCompleted())
	require.NoError(t, h.env.GetWorkflowError())
}

func (h *harness) signal(after time.Duration, name string, arg any) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(name, arg) }, after)
}

func (h *harness) query(t *testing.T) schemas.EventStatusView {
	t.Helper()
	v, err := h.env.QueryWorkflow(schemas.QueryStatus)
	require.NoError(t, err)
	var view schemas.EventStatusView
	require.NoError(t, v.Get(&view))
	return view
}

func nextDelays(calls []deliverCall) []time.Duration {
	out := make([]time.Duration, len(calls))
	for i, c := range calls {
		out[i] = c.req.NextDelay
	}
	return out
}

func TestSuccessFirstTry(t *testing.T) {
	h := newHarness(t)
	h.run(t, input(unordered("ep_a"), unordered("ep_b")))
	calls := h.acts.deliverCalls()
	require.Len(t, calls, 2)
	require.Equal(t, []time.Duration{5 * time.Second, 5 * time.Second}, nextDelays(calls))
	require.Equal(t, []schemas.EventStatus{schemas.EventDelivered}, h.statuses)
	require.Empty(t, h.acts.passes, "unordered deliveries pass no turn")
	require.Equal(t, schemas.EventStatusView{Status: schemas.EventDelivered,
		Deliveries: map[string]schemas.DeliveryStatus{"ep_a": "succeeded", "ep_b": "succeeded"}}, h.query(t))
}

// retryThen answers retry (500) for the first n calls, then outcome.
func retryThen(n int, outcome schemas.Outcome) func(int, schemas.DeliverRequest) schemas.DeliverResult {
	return func(i int, req schemas.DeliverRequest) schemas.DeliverResult {
		if i < n {
			if req.NextDelay == 0 {
				return schemas.DeliverResult{Outcome: schemas.OutcomeFailed}
			}
			return schemas.DeliverResult{Outcome: schemas.OutcomeRetry, RetryIn: req.NextDelay}
		}
		return schemas.DeliverResult{Outcome: outcome}
	}
}

func TestRetriesFollowSchedule(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = retryThen(2, schemas.OutcomeSucceeded)
	h.run(t, input(unordered("ep_a")))
	calls := h.acts.deliverCalls()
	require.Equal(t, []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}, nextDelays(calls))
	require.Equal(t, 5*time.Second, calls[1].at.Sub(calls[0].at))
	require.Equal(t, 5*time.Minute, calls[2].at.Sub(calls[1].at))
	require.Equal(t, schemas.DeliverySucceeded, h.query(t).Deliveries["ep_a"])
}

func TestExhaustionFails(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = retryThen(100, schemas.OutcomeSucceeded)
	h.run(t, input(unordered("ep_a")))
	calls := h.acts.deliverCalls()
	want := append(append([]time.Duration(nil), schedule...), 0)
	require.Equal(t, want, nextDelays(calls), "the last attempt is told it is the last")
	require.Equal(t, schemas.EventStatusView{Status: schemas.EventFailed,
		Deliveries: map[string]schemas.DeliveryStatus{"ep_a": "failed"}}, h.query(t))
	require.Equal(t, []schemas.EventStatus{schemas.EventFailed}, h.statuses)
}

func TestThrottledDoesNotUseAnAttempt(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = func(i int, req schemas.DeliverRequest) schemas.DeliverResult {
		if i < 2 {
			return schemas.DeliverResult{Outcome: schemas.OutcomeThrottled, RetryIn: 3 * time.Second}
		}
		return schemas.DeliverResult{Outcome: schemas.OutcomeSucceeded}
	}
	h.run(t, input(unordered("ep_a")))
	calls := h.acts.deliverCalls()
	require.Equal(t, []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second}, nextDelays(calls))
	require.Equal(t, 3*time.Second, calls[1].at.Sub(calls[0].at))
	require.Equal(t, schemas.DeliverySucceeded, h.query(t).Deliveries["ep_a"])
}

func TestOrderedWaitsForTurnSignal(t *testing.T) {
	h := newHarness(t)
	signalled := false
	h.acts.turn = func(req schemas.TurnRequest) schemas.TurnResult {
		require.Equal(t, int64(7), req.Seq)
		return schemas.TurnResult{Go: signalled, DeliveryStatus: schemas.DeliveryPending}
	}
	start := h.env.Now()
	h.env.RegisterDelayedCallback(func() {
		require.Empty(t, h.acts.deliverCalls(), "no delivery before the turn")
		view := h.query(t)
		require.Equal(t, schemas.EventPending, view.Status)
		require.Equal(t, schemas.DeliveryPending, view.Deliveries["ep_o"])
		h.acts.mu.Lock()
		signalled = true
		h.acts.mu.Unlock()
		h.env.SignalWorkflow(schemas.SignalTurn, schemas.TurnSignal{EndpointID: "ep_o"})
	}, 4*time.Second)
	h.run(t, input(schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 7}))
	calls := h.acts.deliverCalls()
	require.Len(t, calls, 1)
	require.Equal(t, 4*time.Second, calls[0].at.Sub(start))
	require.Equal(t, []string{"ep_o"}, h.acts.passes, "the turn passes after the delivery, not before")
}

func TestOrderedRechecksOnTimer(t *testing.T) {
	h := newHarness(t)
	checks := 0
	h.acts.turn = func(req schemas.TurnRequest) schemas.TurnResult {
		checks++
		// Next behind the head; the store finds the head abandoned at the third look.
		return schemas.TurnResult{Go: checks > 3, DeliveryStatus: schemas.DeliveryPending, Next: true, Nudge: checks == 3}
	}
	start := h.env.Now()
	h.run(t, input(schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 1}))
	calls := h.acts.deliverCalls()
	require.Len(t, calls, 1)
	require.Equal(t, (30+60+120)*time.Second, calls[0].at.Sub(start), "re-checks back off from 30s")
	require.Equal(t, []string{"ep_o", "ep_o"}, h.acts.passes,
		"the head is nudged only when the store says it looks abandoned; then the delivery passes the turn")
}

// A head that is alive, however long it fails, gets no signal from the
// deliveries behind it, and those far back re-check rarely.
func TestOrderedLiveHeadIsNotNudged(t *testing.T) {
	h := newHarness(t)
	var at []time.Duration
	start := h.env.Now()
	h.acts.turn = func(req schemas.TurnRequest) schemas.TurnResult {
		at = append(at, h.env.Now().Sub(start))
		return schemas.TurnResult{Go: h.env.Now().Sub(start) > 20*time.Hour, DeliveryStatus: schemas.DeliveryPending, HeadSeq: 1}
	}
	h.run(t, input(schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 9}))
	require.Len(t, h.acts.deliverCalls(), 1)
	require.Equal(t, []string{"ep_o"}, h.acts.passes, "only the delivery's own end passes the turn")
	require.Less(t, len(at), 30, "a delivery far back re-checks about hourly: %v", at)
}

// A delivery found final before its turn is not attempted. Whoever ended
// it passes the turn (a drain's holder, for one found succeeded), except
// the API's cancel, which passes none: a delivery found cancelled passes
// it, or the lane would wait for its next delivery's re-check. The same in
// both shapes: the turn asked by AcquireTurn, or by the first Deliver call
// (TurnsInDeliver), which then makes no attempt.
func TestOrderedAlreadyFinal(t *testing.T) {
	for _, inDeliver := range []bool{false, true} {
		for status, passes := range map[schemas.DeliveryStatus][]string{
			schemas.DeliverySucceeded: nil,
			schemas.DeliveryCancelled: {"ep_o"},
		} {
			h := newHarness(t)
			h.acts.turn = func(schemas.TurnRequest) schemas.TurnResult {
				return schemas.TurnResult{DeliveryStatus: status}
			}
			in := input(schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 1})
			in.TurnsInDeliver = inDeliver
			h.run(t, in)
			calls := 0
			if inDeliver {
				calls = 1 // the call that asked
				require.Zero(t, h.acts.acquires)
			}
			require.Len(t, h.acts.deliverCalls(), calls)
			require.Empty(t, h.acts.inCalls)
			require.Equal(t, status, h.query(t).Deliveries["ep_o"])
			require.Equal(t, passes, h.acts.passes, "found %s", status)
		}
	}
}

// A replay signal whose target is older than the running coroutine's (the
// sweep repeating an earlier replay after a newer one's signal came) does
// not replace it: the newer generation is delivered, not left to nobody.
func TestOlderReplayTargetKeepsTheNewer(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = retryThen(1, schemas.OutcomeSucceeded)
	h.acts.turn = func(req schemas.TurnRequest) schemas.TurnResult {
		// The store has generation 2 at seq 12: seq 5 is generation 1's.
		return schemas.TurnResult{Go: req.Seq == 12, Superseded: req.Seq != 12, DeliveryStatus: schemas.DeliveryPending}
	}
	h.signal(time.Second, schemas.SignalReplay, schemas.ReplaySignal{ // during generation 2's retry wait
		Targets: []schemas.Target{{EndpointID: "ep_o", Ordered: true, Seq: 5, Gen: 1}}})
	h.run(t, input(schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 12, Gen: 2}))
	calls := h.acts.deliverCalls()
	require.Len(t, calls, 2)
	require.Equal(t, int64(2), calls[1].req.Gen)
	require.Equal(t, schemas.DeliverySucceeded, h.query(t).Deliveries["ep_o"])
	require.Equal(t, []string{"ep_o"}, h.acts.passes)
}

// A replay signal repeating the target a coroutine is delivering (the
// sweep repeating the API's signal, or a run started by a turn with the
// targets the replay's signal carries) changes nothing: no restart, and no
// turn passed for it.
func TestRepeatedReplayTargetIsIgnored(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = retryThen(1, schemas.OutcomeSucceeded)
	target := schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 12, Gen: 2}
	h.signal(time.Second, schemas.SignalReplay, schemas.ReplaySignal{Targets: []schemas.Target{target}})
	h.run(t, input(target))
	require.Len(t, h.acts.deliverCalls(), 2, "the first attempt's retry, then its success")
	require.Equal(t, []string{"ep_o"}, h.acts.passes, "one turn passed, at the end")
	require.Equal(t, schemas.DeliverySucceeded, h.query(t).Deliveries["ep_o"])
}

func TestCancelDuringRetryWait(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = retryThen(100, schemas.OutcomeSucceeded)
	h.signal(time.Minute, schemas.SignalCancel, nil) // during the 5m wait after attempt 2
	h.run(t, input(unordered("ep_a"), schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 3}))
	calls := h.acts.deliverCalls()
	require.Len(t, calls, 4, "two attempts per endpoint, none after the cancel")
	require.Equal(t, []schemas.CancelRequest{{AppID: "app_1", EventID: "evt_1"}}, h.acts.cancels)
	require.Equal(t, []string{"ep_o"}, h.acts.passes)
	require.Equal(t, schemas.EventStatusView{Status: schemas.EventCancelled,
		Deliveries: map[string]schemas.DeliveryStatus{"ep_a": "cancelled", "ep_o": "cancelled"}}, h.query(t))
	require.Equal(t, []schemas.EventStatus{schemas.EventCancelled}, h.statuses)
}

func TestReplayAfterSuccess(t *testing.T) {
	h := newHarness(t)
	// ep_b's retry keeps the run open while ep_a, already succeeded, is replayed.
	h.acts.deliver = func(i int, req schemas.DeliverRequest) schemas.DeliverResult {
		if req.EndpointID == "ep_b" && i == 0 {
			return schemas.DeliverResult{Outcome: schemas.OutcomeRetry, RetryIn: req.NextDelay}
		}
		return schemas.DeliverResult{Outcome: schemas.OutcomeSucceeded}
	}
	h.acts.replay = []schemas.Target{unordered("ep_a")}
	h.env.RegisterDelayedCallback(func() {
		require.Equal(t, schemas.DeliverySucceeded, h.query(t).Deliveries["ep_a"])
		h.env.SignalWorkflow(schemas.SignalReplay, schemas.ReplaySignal{EndpointID: "ep_a"})
	}, 2*time.Second)
	h.run(t, input(unordered("ep_a"), unordered("ep_b")))
	var toA int
	for _, c := range h.acts.deliverCalls() {
		if c.req.EndpointID == "ep_a" {
			toA++
		}
	}
	require.Equal(t, 2, toA)
	require.Equal(t, []schemas.PrepareReplayRequest{{AppID: "app_1", EventID: "evt_1", EndpointID: "ep_a"}}, h.acts.prepares)
	require.Equal(t, schemas.EventDelivered, h.query(t).Status)
}

func TestReplayOnlyInput(t *testing.T) {
	h := newHarness(t)
	// What replay's SignalWithStart does to a closed event: a run with no
	// targets, the targets in the signal, sent before the first task.
	h.signal(0, schemas.SignalReplay, schemas.ReplaySignal{EndpointID: "ep_b",
		Targets: []schemas.Target{{EndpointID: "ep_b", Ordered: true, Seq: 9}}})
	h.run(t, input())
	calls := h.acts.deliverCalls()
	require.Len(t, calls, 1)
	require.Equal(t, "ep_b", calls[0].req.EndpointID)
	require.Empty(t, h.acts.prepares, "targets came in the signal")
	require.Equal(t, []string{"ep_b"}, h.acts.passes)
	require.Equal(t, schemas.EventStatusView{Status: schemas.EventDelivered,
		Deliveries: map[string]schemas.DeliveryStatus{"ep_b": "succeeded"}}, h.query(t))
}

func TestReplayClearsCancel(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = func(i int, req schemas.DeliverRequest) schemas.DeliverResult {
		if i == 0 {
			return schemas.DeliverResult{Outcome: schemas.OutcomeRetry, RetryIn: req.NextDelay}
		}
		return schemas.DeliverResult{Outcome: schemas.OutcomeSucceeded}
	}
	// Both signals in one task, as when an operator cancels and then replays.
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(schemas.SignalCancel, nil)
		h.env.SignalWorkflow(schemas.SignalReplay, schemas.ReplaySignal{Targets: []schemas.Target{unordered("ep_a")}})
	}, time.Second)
	h.run(t, input(unordered("ep_a")))
	require.Len(t, h.acts.deliverCalls(), 2)
	require.Len(t, h.acts.cancels, 1)
	require.Equal(t, schemas.EventStatusView{Status: schemas.EventDelivered,
		Deliveries: map[string]schemas.DeliveryStatus{"ep_a": "succeeded"}}, h.query(t))
}

// The API's cancel signal names the generations its cancel found: a
// replay handled before that signal (a newer generation, accepted after
// the cancel) keeps going; a cancel that found the replay's generation
// stops it.
func TestCancelStopsOnlyWhatItCovers(t *testing.T) {
	for _, tc := range []struct {
		upTo     int64
		delivers int
		want     schemas.DeliveryStatus
	}{
		{upTo: 1, delivers: 3, want: schemas.DeliverySucceeded},
		{upTo: 2, delivers: 2, want: schemas.DeliveryCancelled},
	} {
		h := newHarness(t)
		h.acts.deliver = func(n int, req schemas.DeliverRequest) schemas.DeliverResult {
			if req.Gen == 1 || n == 1 { // generation 1 retries; generation 2 once, then succeeds
				return schemas.DeliverResult{Outcome: schemas.OutcomeRetry, RetryIn: req.NextDelay}
			}
			return schemas.DeliverResult{Outcome: schemas.OutcomeSucceeded}
		}
		h.signal(time.Second, schemas.SignalReplay, schemas.ReplaySignal{
			Targets: []schemas.Target{{EndpointID: "ep_a", Gen: 2}}})
		upTo := schemas.Generations{"ep_a": tc.upTo}
		h.signal(2*time.Second, schemas.SignalCancel, schemas.CancelSignal{UpTo: upTo})
		h.run(t, input(schemas.Target{EndpointID: "ep_a", Gen: 1}))
		require.Len(t, h.acts.deliverCalls(), tc.delivers, "cancel up to generation %d", tc.upTo)
		require.Equal(t, []schemas.CancelRequest{{AppID: "app_1", EventID: "evt_1", UpTo: upTo}}, h.acts.cancels)
		require.Equal(t, tc.want, h.query(t).Deliveries["ep_a"], "cancel up to generation %d", tc.upTo)
	}
}

// An operator's cancel signal has no argument: it covers what the run
// knows, and its store step is bounded by that.
func TestOperatorCancelCoversWhatTheRunKnows(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = retryThen(100, schemas.OutcomeSucceeded)
	h.signal(time.Second, schemas.SignalReplay, schemas.ReplaySignal{
		Targets: []schemas.Target{{EndpointID: "ep_a", Gen: 2}}})
	h.signal(time.Minute, schemas.SignalCancel, nil)
	h.run(t, input(schemas.Target{EndpointID: "ep_a", Gen: 1}, unordered("ep_b")))
	require.Equal(t, []schemas.CancelRequest{{AppID: "app_1", EventID: "evt_1",
		UpTo: schemas.Generations{"ep_a": 2}}}, h.acts.cancels)
	require.Equal(t, schemas.EventCancelled, h.query(t).Status)
}

func TestEmptyEventIsDelivered(t *testing.T) {
	h := newHarness(t)
	h.run(t, input())
	require.Empty(t, h.acts.deliverCalls())
	require.Equal(t, schemas.EventDelivered, h.query(t).Status)
	require.Equal(t, []schemas.EventStatus{schemas.EventDelivered}, h.statuses)
}

// A target queued again under another seq (a replay or recover) is left to
// the newer target: no attempt, and the turn is not this coroutine's to pass.
func TestSupersededTargetStops(t *testing.T) {
	h := newHarness(t)
	h.acts.turn = func(req schemas.TurnRequest) schemas.TurnResult {
		return schemas.TurnResult{DeliveryStatus: schemas.DeliveryPending, Superseded: true}
	}
	h.run(t, input(schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 3}))
	require.Empty(t, h.acts.deliverCalls())
	require.Empty(t, h.acts.passes)
}

// Attempt keys are unique per attempt and stable: run, coroutine, index.
func TestAttemptKeys(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = retryThen(2, schemas.OutcomeSucceeded)
	h.run(t, input(schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 5}, unordered("ep_u")))
	keys := map[string]bool{}
	for _, c := range h.acts.deliverCalls() {
		require.NotEmpty(t, c.req.Key)
		require.False(t, keys[c.req.Key], "key %s used twice", c.req.Key)
		keys[c.req.Key] = true
		if c.req.EndpointID == "ep_o" {
			require.Equal(t, int64(5), c.req.Seq)
		}
	}
	require.Len(t, keys, 6)
}
