// Package worker builds Herald's Temporal worker: it registers the event
// workflow and the activities under the names the workflow calls them by,
// with options chosen for one fast process. All worker tuning is here.
package worker

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/workflows"
)

// Activities are Herald's activities, registered under the schemas.Activity*
// names. *activities.Activities is one.
type Activities interface {
	Deliver(ctx context.Context, req schemas.DeliverRequest) (schemas.DeliverResult, error)
	DeliverFirst(ctx context.Context, req schemas.DeliverFirstRequest) (schemas.DeliverFirstResult, error)
	AcquireTurn(ctx context.Context, req schemas.TurnRequest) (schemas.TurnResult, error)
	PassTurn(ctx context.Context, req schemas.PassTurnRequest) error
	CancelDeliveries(ctx context.Context, req schemas.CancelRequest) (schemas.CancelResult, error)
	PrepareReplay(ctx context.Context, req schemas.PrepareReplayRequest) ([]schemas.Target, error)
	Purge(ctx context.Context) (schemas.PurgeResult, error)
}

// Options tune the worker; a zero field takes the default below.
type Options struct {
	TaskQueue string // schemas.TaskQueue

	// WorkflowTasks is how many workflow tasks run at once. A task holds its
	// slot while its local activities run (the POSTs of its first attempts),
	// so this is also about how many events are delivered at once.
	WorkflowTasks int
	// LocalActivities is how many local activities (attempts and store
	// calls) run at once across all workflow tasks.
	LocalActivities int
	// WorkflowTaskPollers is how many long polls wait for workflow tasks.
	// Eager start hands most first tasks over without a poll, so a few do.
	WorkflowTaskPollers int
	// DeadlockDetectionTimeout is how long one workflow task's code may run
	// without yielding before the SDK calls it a deadlock. Herald's workflow
	// code does no I/O and yields at once; the margin over the SDK's 1s is
	// for a 2-core machine under full load (and -race), where a GC pause or
	// CPU starvation could otherwise look like a deadlock.
	DeadlockDetectionTimeout time.Duration
}

// Defaults, for one process on a small machine where deliveries are I/O
// bound (HTTP POSTs of up to the delivery timeout) and Temporal's server is
// the CPU cost.
const (
	DefaultWorkflowTasks            = 1024
	DefaultLocalActivities          = 2048
	DefaultWorkflowTaskPollers      = 4
	DefaultDeadlockDetectionTimeout = 3 * time.Second
)

// stopTimeout is how long Stop waits for the worker's pollers and the tasks
// under way to end. The SDK's default, none, returned from Stop with pollers
// still running: under load they logged after `herald worker` had returned
// (a data race on its log writer, caught by -race in CI), and an attempt
// under way was cut off at once instead of being let finish and be
// recorded. It is short: a task waiting for its turn in AcquireTurn (up to
// 20 s) is not woken by a stop.
const stopTimeout = 2 * time.Second

func (o Options) withDefaults() Options {
	if o.TaskQueue == "" {
		o.TaskQueue = schemas.TaskQueue
	}
	if o.WorkflowTasks <= 0 {
		o.WorkflowTasks = DefaultWorkflowTasks
	}
	if o.LocalActivities <= 0 {
		o.LocalActivities = DefaultLocalActivities
	}
	if o.WorkflowTaskPollers <= 0 {
		o.WorkflowTaskPollers = DefaultWorkflowTaskPollers
	}
	if o.DeadlockDetectionTimeout <= 0 {
		o.DeadlockDetectionTimeout = DefaultDeadlockDetectionTimeout
	}
	return o
}

// New builds a worker on c that runs the event workflow and acts as local
// activities. It does not start it. Dispatch's eager start needs it to run on
// the same client as the dispatcher.
func New(c client.Client, acts Activities, opts Options) sdkworker.Worker {
	opts = opts.withDefaults()
	w := sdkworker.New(c, opts.TaskQueue, sdkworker.Options{
		MaxConcurrentWorkflowTaskExecutionSize:  opts.WorkflowTasks,
		MaxConcurrentLocalActivityExecutionSize: opts.LocalActivities,
		MaxConcurrentWorkflowTaskPollers:        opts.WorkflowTaskPollers,
		DeadlockDetectionTimeout:                opts.DeadlockDetectionTimeout,
		WorkerStopTimeout:                       stopTimeout,
		// Every activity runs as a local activity inside the workflow task,
		// so no activity task poller is needed: that saves its long polls.
		// A regular (server-scheduled) activity would never run here.
		LocalActivityWorkerOnly: true,
		// A panic in workflow code (a bug) blocks that workflow and retries
		// its task, so a fixed deploy resumes it; it never fails the event.
		WorkflowPanicPolicy: sdkworker.BlockWorkflow,
	})
	Register(w, acts)
	return w
}

// Register registers the event workflow and the activities on r (a worker,
// or a replayer for the workflow alone with acts nil).
func Register(r sdkworker.Registry, acts Activities) {
	r.RegisterWorkflowWithOptions(workflows.EventWorkflow, workflow.RegisterOptions{Name: schemas.EventWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.RetentionWorkflow, workflow.RegisterOptions{Name: schemas.RetentionWorkflowName})
	if acts == nil {
		return
	}
	for name, fn := range map[string]any{
		schemas.ActivityDeliver:          acts.Deliver,
		schemas.ActivityDeliverFirst:     acts.DeliverFirst,
		schemas.ActivityAcquireTurn:      acts.AcquireTurn,
		schemas.ActivityPassTurn:         acts.PassTurn,
		schemas.ActivityCancelDeliveries: acts.CancelDeliveries,
		schemas.ActivityPrepareReplay:    acts.PrepareReplay,
		schemas.ActivityPurge:            acts.Purge,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}
