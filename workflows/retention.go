package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

const (
	// defaultRetentionEvery is how often old events are looked for.
	defaultRetentionEvery = time.Hour
	// retentionRounds is how many rounds one run makes before it continues
	// as new: about 6 history events a round keeps a run far below the
	// size where Temporal warns.
	retentionRounds = 48
	// purgeTimeout bounds one round (the activity stops itself sooner).
	purgeTimeout = time.Minute
)

// RetentionWorkflow removes, every input.Every, the events older than
// HERALD_RETENTION with their deliveries and attempts. It runs forever, one
// instance (schemas.RetentionWorkflowID), continuing as new to keep its
// history short. A failed round is logged and tried again next round: old
// rows waiting an hour longer do no harm.
func RetentionWorkflow(ctx workflow.Context, in schemas.RetentionInput) error {
	every := in.Every
	if every <= 0 {
		every = defaultRetentionEvery
	}
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: purgeTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
	log := workflow.GetLogger(ctx)
	for range retentionRounds {
		var res schemas.PurgeResult
		if err := workflow.ExecuteLocalActivity(ctx, schemas.ActivityPurge).Get(ctx, &res); err != nil {
			log.Warn("retention round failed; trying again next round", "error", err)
		}
		if res.More {
			continue // more is due now: no wait
		}
		wait := every
		if res.Every > 0 {
			wait = res.Every
		}
		if err := workflow.Sleep(ctx, wait); err != nil {
			return err
		}
	}
	return workflow.NewContinueAsNewError(ctx, schemas.RetentionWorkflowName, in)
}
