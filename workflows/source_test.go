package workflows

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

func sourceEnv(t *testing.T, consume func(ctx context.Context, n int32) (schemas.SourceResult, error)) (*testsuite.TestWorkflowEnvironment, *atomic.Int32) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(SourceWorkflow, workflow.RegisterOptions{Name: schemas.SourceWorkflowName})
	var calls atomic.Int32
	env.RegisterActivityWithOptions(func(ctx context.Context, in schemas.SourceInput) (schemas.SourceResult, error) {
		require.Equal(t, "src_1", in.SourceID)
		return consume(ctx, calls.Add(1))
	}, activity.RegisterOptions{Name: schemas.ActivityConsumeSource})
	return env, &calls
}

// A run that fails (its worker died, it lost its heartbeat) is retried;
// the workflow ends when the activity finds the source deleted.
func TestSourceWorkflowRetriesUntilGone(t *testing.T) {
	env, calls := sourceEnv(t, func(_ context.Context, n int32) (schemas.SourceResult, error) {
		switch n {
		case 1, 2:
			return schemas.SourceResult{}, errors.New("heartbeat lost")
		case 3:
			return schemas.SourceResult{}, nil // the run's time is up
		}
		return schemas.SourceResult{Gone: true}, nil
	})
	env.ExecuteWorkflow(schemas.SourceWorkflowName, schemas.SourceInput{AppID: "a", SourceID: "src_1"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, int32(4), calls.Load())
}

// Runs that end normally start the next; after sourceRunsPerHistory the
// workflow continues as new, keeping its history short.
func TestSourceWorkflowContinuesAsNew(t *testing.T) {
	env, calls := sourceEnv(t, func(context.Context, int32) (schemas.SourceResult, error) { return schemas.SourceResult{}, nil })
	env.ExecuteWorkflow(schemas.SourceWorkflowName, schemas.SourceInput{AppID: "a", SourceID: "src_1"})
	require.True(t, env.IsWorkflowCompleted())
	require.True(t, workflow.IsContinueAsNewError(env.GetWorkflowError()), "got %v", env.GetWorkflowError())
	require.Equal(t, int32(sourceRunsPerHistory), calls.Load())
}

// Cancelling the workflow (DELETE of the source) ends it without error.
func TestSourceWorkflowCancelled(t *testing.T) {
	env, calls := sourceEnv(t, func(ctx context.Context, _ int32) (schemas.SourceResult, error) {
		<-ctx.Done() // consuming until cancelled
		return schemas.SourceResult{}, ctx.Err()
	})
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Millisecond)
	env.ExecuteWorkflow(schemas.SourceWorkflowName, schemas.SourceInput{AppID: "a", SourceID: "src_1"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, int32(1), calls.Load())
}
