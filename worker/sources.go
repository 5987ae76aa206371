package worker

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/workflows"
)

// SourceActivities is the source consumer (*activities.Sources).
type SourceActivities interface {
	ConsumeSource(ctx context.Context, in schemas.SourceInput) (schemas.SourceResult, error)
}

// MaxSourcesPerWorker is how many sources one process consumes at once:
// each holds an activity slot for as long as it runs. Sources beyond it
// wait for another worker.
const MaxSourcesPerWorker = 1000

// NewSources builds the worker of the sources task queue: the source
// workflow and its long-running ConsumeSource activity, which the main
// worker (local activities only) cannot run. It does not start it.
func NewSources(c client.Client, acts SourceActivities) sdkworker.Worker {
	w := sdkworker.New(c, schemas.SourceTaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     MaxSourcesPerWorker,
		MaxConcurrentWorkflowTaskExecutionSize: 16,
		MaxConcurrentActivityTaskPollers:       2,
		MaxConcurrentWorkflowTaskPollers:       2,
		WorkflowPanicPolicy:                    sdkworker.BlockWorkflow,
	})
	RegisterSources(w, acts)
	return w
}

// RegisterSources registers the source workflow and, unless acts is nil,
// its activity on r.
func RegisterSources(r sdkworker.Registry, acts SourceActivities) {
	r.RegisterWorkflowWithOptions(workflows.SourceWorkflow, workflow.RegisterOptions{Name: schemas.SourceWorkflowName})
	if acts != nil {
		r.RegisterActivityWithOptions(acts.ConsumeSource, activity.RegisterOptions{Name: schemas.ActivityConsumeSource})
	}
}
