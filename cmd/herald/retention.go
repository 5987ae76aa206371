package main

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/herald-hq/herald/schemas"
)

// startRetention starts the retention workflow unless it runs already (any
// number of processes may ask; one instance runs). Its rounds read
// HERALD_RETENTION from the worker that runs them, so a changed value needs
// no restart of the workflow.
func startRetention(ctx context.Context, tc client.Client) error {
	_, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       schemas.RetentionWorkflowID,
		TaskQueue:                schemas.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, schemas.RetentionWorkflowName, schemas.RetentionInput{})
	if err != nil {
		return fmt.Errorf("start the retention workflow: %w", err)
	}
	return nil
}
