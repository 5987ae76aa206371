package dispatch

import (
	"context"
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/herald-hq/herald/schemas"
)

// StartSource starts the workflow that keeps a source consumed. Its id is
// the source's, so starting it again while it runs changes nothing.
func (d *Dispatcher) StartSource(ctx context.Context, appID, id string) error {
	opts := client.StartWorkflowOptions{
		ID:                       schemas.SourceWorkflowID(appID, id),
		TaskQueue:                schemas.SourceTaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}
	_, err := d.c.ExecuteWorkflow(ctx, opts, schemas.SourceWorkflowName, schemas.SourceInput{AppID: appID, SourceID: id})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	return wrap(err, "start workflow of source %s", id)
}

// StopSource cancels a source's workflow, which stops its consumer (the
// messages it holds unacknowledged go back to the broker). A closed or
// missing workflow is not an error.
func (d *Dispatcher) StopSource(ctx context.Context, appID, id string) error {
	err := d.c.CancelWorkflow(ctx, schemas.SourceWorkflowID(appID, id), "")
	if isNotFound(err) {
		return nil
	}
	return wrap(err, "stop source %s", id)
}
