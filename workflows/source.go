package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

// Timings of the source workflow.
const (
	// sourceHeartbeatTimeout is how long a consuming activity may go without
	// a heartbeat before Temporal gives the source to another worker. The
	// activity itself stops consuming when half of it passes without a
	// heartbeat getting through, so the old and the new never overlap.
	sourceHeartbeatTimeout = 15 * time.Second
	// sourceRunFor is how long one ConsumeSource run lasts before it hands
	// back and the workflow starts the next (which may land on another
	// worker): it bounds an attempt and spreads sources over the fleet.
	sourceRunFor = time.Hour
	// sourceRunsPerHistory runs go in one workflow run before it continues
	// as new, keeping the history short.
	sourceRunsPerHistory = 24
)

// sourceRetry retries a consuming activity that failed (its worker died,
// it lost its heartbeat) for as long as the source exists.
var sourceRetry = &temporal.RetryPolicy{
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
	MaximumInterval:    30 * time.Second,
	MaximumAttempts:    0,
}

// SourceWorkflow keeps one source consumed for as long as it exists: one
// long-running, heartbeating ConsumeSource activity at a time on the
// sources task queue, retried on any worker when its worker dies. It ends
// when the source is deleted (the API cancels it, or the activity finds the
// source gone).
func SourceWorkflow(ctx workflow.Context, in schemas.SourceInput) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           schemas.SourceTaskQueue,
		StartToCloseTimeout: sourceRunFor + 5*time.Minute,
		HeartbeatTimeout:    sourceHeartbeatTimeout,
		WaitForCancellation: true,
		RetryPolicy:         sourceRetry,
		Summary:             "consume source " + in.SourceID,
	})
	for range sourceRunsPerHistory {
		var res schemas.SourceResult
		err := workflow.ExecuteActivity(actx, schemas.ActivityConsumeSource, in).Get(ctx, &res)
		var canceled *temporal.CanceledError
		switch {
		case ctx.Err() != nil || errors.As(err, &canceled):
			return nil // deleted
		case err != nil:
			// Retries never end, so this is a non-retryable error: wait and
			// start over rather than leave the source unconsumed.
			workflow.GetLogger(ctx).Error("consume source failed", "source", in.SourceID, "err", err)
			if werr := workflow.Sleep(ctx, time.Minute); werr != nil {
				return nil
			}
		case res.Gone:
			return nil
		}
	}
	return workflow.NewContinueAsNewError(ctx, SourceWorkflow, in)
}
