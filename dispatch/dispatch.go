// Package dispatch is the Temporal client side of Herald: it starts event
// workflows and signals them (cancel, replay, turn). The API and the
// activities use it; it hides the workflow options, ids and search
// attributes from both.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// Config is what every event workflow is started with.
type Config struct {
	Namespace       string          // of the client; "default" when empty
	TaskQueue       string          // schemas.TaskQueue when empty
	RetrySchedule   []time.Duration // delays before attempts 2, 3, ...
	DeliveryTimeout time.Duration   // bound of one attempt
}

// EventSource gives what (re)starting an event's workflow needs: the event
// and its non-final deliveries as targets. *store.Store is one.
type EventSource interface {
	EventInput(ctx context.Context, appID, id string) (store.NewEvent, []schemas.Target, error)
}

// Dispatcher starts and signals event workflows.
type Dispatcher struct {
	c   client.Client
	src EventSource
	cfg Config
}

// New makes a Dispatcher. For eager start to work, a worker for cfg's task
// queue must run on the same client.
func New(c client.Client, src EventSource, cfg Config) *Dispatcher {
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = schemas.TaskQueue
	}
	if cfg.Namespace == "" {
		cfg.Namespace = client.DefaultNamespace
	}
	return &Dispatcher{c: c, src: src, cfg: cfg}
}

var (
	appKey    = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrApp)
	typeKey   = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrEventType)
	statusKey = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrStatus)
)

// Start starts the workflow of an accepted event. The workflow id is the
// idempotency key: a running workflow with that id is used as it is, and a
// closed one means the event was already handled; both are success.
//
// An event queued behind others at every ordered endpoint it goes to is
// housekeeping until its turn: its delivery will most likely be drained by
// the turn holder, and its first task only finds it done. Its tasks run at
// the lowest priority, so that under a burst a lane's wake (Turn) never
// waits behind thousands of them; one far back starts with a delay
// (dispatch/lanes.go).
func (d *Dispatcher) Start(ctx context.Context, ev store.NewEvent, targets []schemas.Target) error {
	opts := d.options(ev, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE)
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	ahead := queuedAhead(targets)
	if ahead > 0 {
		opts.Priority = temporal.Priority{PriorityKey: priorityHousekeeping}
	}
	if delay := startDelay(ahead); delay > 0 {
		opts.StartDelay = delay
	} else {
		opts.EnableEagerStart = true // the first task runs in this process's worker, without a round trip
	}
	_, err := d.c.ExecuteWorkflow(ctx, opts, schemas.EventWorkflowName, d.input(ev, targets))
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return wrap(err, "start workflow of event %s", ev.ID)
}

// Cancel signals the event's workflow to cancel what sig covers. A closed or
// missing workflow is not an error: there is nothing left to stop.
func (d *Dispatcher) Cancel(ctx context.Context, appID, eventID string, sig schemas.CancelSignal) error {
	err := d.c.SignalWorkflow(ctx, schemas.EventWorkflowID(appID, eventID), "", schemas.SignalCancel, sig)
	if isNotFound(err) {
		return nil
	}
	return wrap(err, "cancel event %s", eventID)
}

// Replay signals the event's workflow to replay, starting a new run of the
// same id when the last one has closed; that run's targets come in sig (or
// from the workflow's own PrepareReplay when sig has none).
func (d *Dispatcher) Replay(ctx context.Context, appID, eventID string, sig schemas.ReplaySignal) error {
	ev, _, err := d.src.EventInput(ctx, appID, eventID)
	if err != nil {
		return fmt.Errorf("replay event %s: %w", eventID, err)
	}
	opts := d.options(ev, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE)
	_, err = d.c.SignalWithStartWorkflow(ctx, opts.ID, schemas.SignalReplay, sig, opts,
		schemas.EventWorkflowName, d.input(ev, nil))
	return wrap(err, "replay event %s", eventID)
}

func (d *Dispatcher) input(ev store.NewEvent, targets []schemas.Target) schemas.EventWorkflowInput {
	return schemas.EventWorkflowInput{
		AppID:           ev.AppID,
		EventID:         ev.ID,
		EventType:       ev.EventType,
		CreatedAt:       ev.CreatedAt,
		Targets:         targets,
		RetrySchedule:   d.cfg.RetrySchedule,
		DeliveryTimeout: d.cfg.DeliveryTimeout,
		TurnsInDeliver:  true,
		FirstTogether:   true,
	}
}

func (d *Dispatcher) options(ev store.NewEvent, reuse enumspb.WorkflowIdReusePolicy) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                    schemas.EventWorkflowID(ev.AppID, ev.ID),
		TaskQueue:             d.cfg.TaskQueue,
		WorkflowTaskTimeout:   workflowTaskTimeout,
		WorkflowIDReusePolicy: reuse,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			appKey.ValueSet(ev.AppID),
			typeKey.ValueSet(ev.EventType),
			statusKey.ValueSet(string(schemas.EventPending)),
		),
	}
}

// workflowTaskTimeout is how long a workflow task may run before the
// server gives it to another worker: what a task in progress when its
// process died (kill -9) costs its workflow. Herald's tasks stay open while
// their local activities run (attempts, and an ordered delivery waiting for
// its turn); the SDK heartbeats a task past 80% of this, so a shorter one
// costs a history write every 3.2 s of a long wait, and spares a lane
// whose next holder was waiting when its process died up to 10 s (the
// server's default) after the restart.
const workflowTaskTimeout = 4 * time.Second

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// wrap says what was being done; an error that means Temporal is down or
// overloaded becomes schemas.KindUnavailable, which the API answers with 503.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf(format+": %w", append(args, err)...)
	var (
		unavailable *serviceerror.Unavailable
		exhausted   *serviceerror.ResourceExhausted
		deadline    *serviceerror.DeadlineExceeded
	)
	if errors.As(err, &unavailable) || errors.As(err, &exhausted) || errors.As(err, &deadline) ||
		errors.Is(err, context.DeadlineExceeded) {
		return &schemas.Error{Kind: schemas.KindUnavailable, Code: "temporal_unavailable",
			Message: "the workflow service is unavailable", Err: err}
	}
	return err
}
