package dispatch

import (
	"context"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// The Temporal client's half of ordered delivery (docs/architecture.md,
// "Lanes"): the turn signal that wakes a lane's next holder, the start
// delay of an event queued behind others, and the priorities that keep a
// wake ahead of that housekeeping. The rest is store/lanes.go,
// activities/lanes.go and workflows/lanes.go.

// Priority keys of event workflows' tasks: 1 is dispatched first, 5 last
// (the server's default range; unset is 3). A workflow task has the priority
// its workflow has when the task is made, signals' tasks included.
const (
	// priorityWake is a lane's head once its turn came: one task of it
	// lets a whole queue go.
	priorityWake = 1
	// priorityHousekeeping is a queued ordered event until its turn.
	priorityHousekeeping = 5
)

// Turn tells the workflow of the delivery now first in line at an ordered
// endpoint that its turn has come. It uses SignalWithStart: that starts the
// workflow when it is not running (it never started, or closed with the
// delivery still pending), which repairs the event, and it ends a start
// delay at once, which a plain signal does not. The workflow is raised to
// priorityWake first: the signal's task takes the workflow's priority, and
// a queued event's is priorityHousekeeping.
func (d *Dispatcher) Turn(ctx context.Context, ref store.DeliveryRef) error {
	ev, targets, err := d.src.EventInput(ctx, ref.AppID, ref.EventID)
	if err != nil {
		return fmt.Errorf("pass turn of endpoint %s to event %s: %w", ref.EndpointID, ref.EventID, err)
	}
	opts := d.options(ev, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE)
	opts.Priority = temporal.Priority{PriorityKey: priorityWake}
	d.raise(ctx, opts.ID)
	_, err = d.c.SignalWithStartWorkflow(ctx, opts.ID, schemas.SignalTurn, schemas.TurnSignal{EndpointID: ref.EndpointID},
		opts, schemas.EventWorkflowName, d.input(ev, targets))
	return wrap(err, "pass turn of endpoint %s to event %s", ref.EndpointID, ref.EventID)
}

// raise gives the running workflow id priorityWake (a no-op, without a
// history event, when it has it). A workflow that is not running is
// started by the caller with that priority; any other failure leaves the
// priority as it was, which only delays the wake: it is not an error.
func (d *Dispatcher) raise(ctx context.Context, workflowID string) {
	_, _ = d.c.WorkflowService().UpdateWorkflowExecutionOptions(ctx, &workflowservice.UpdateWorkflowExecutionOptionsRequest{
		Namespace:                d.cfg.Namespace,
		WorkflowExecution:        &commonpb.WorkflowExecution{WorkflowId: workflowID},
		WorkflowExecutionOptions: &workflowpb.WorkflowExecutionOptions{Priority: &commonpb.Priority{PriorityKey: priorityWake}},
		UpdateMask:               &fieldmaskpb.FieldMask{Paths: []string{"priority.priority_key"}},
	})
}

// An event queued at every one of its targets with fewer than nearAhead
// deliveries ahead of it starts at once: its first task waits in
// AcquireTurn while its lane moves (activities/lanes.go), and most often
// ends there, found drained, without a second task. One further back
// starts after perQueued for each delivery ahead of it (about what
// draining one costs), at most maxStartDelay, so that it is not one more
// task holding a worker slot for long; a turn passed to it (Turn) ends
// the delay early.
const (
	nearAhead     = 1024
	perQueued     = 10 * time.Millisecond
	maxStartDelay = 30 * time.Second
)

// queuedAhead is how many deliveries are ahead of an event queued at every
// one of its targets (the fewest, over its targets), or -1 for one with a
// target that can go now: an unordered one, or an ordered one first or
// next in line. Holding back an event that also goes to an unordered
// endpoint held back that delivery too, by up to maxStartDelay and then
// behind every other housekeeping task: a lane queued behind a failing
// head delayed the unordered deliveries of the same events by tens of
// seconds (TestFailingLaneDoesNotStallOtherEndpoints). Such an event is
// not queued; its ordered delivery waits in the workflow
// (workflows/lanes.go).
func queuedAhead(targets []schemas.Target) int64 {
	ahead := int64(-1)
	for _, t := range targets {
		if !t.Ordered {
			return -1
		}
		if ahead < 0 || t.Ahead < ahead {
			ahead = t.Ahead
		}
	}
	if ahead < 2 {
		return -1
	}
	return ahead
}

// startDelay is how long to hold back the first task of an event queued
// ahead deliveries deep (queuedAhead).
func startDelay(ahead int64) time.Duration {
	if ahead < nearAhead {
		return 0
	}
	return min(time.Duration(ahead)*perQueued, maxStartDelay)
}
