package devserver

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/dynamicconfig"
	"google.golang.org/protobuf/types/known/durationpb"
)

// retentionConfig lets a retention shorter than the server's floor for
// local namespaces (an hour) be set, for soaks and tests, and keeps the
// deletion jitter (30 minutes by default) small beside it, so closed
// workflows go about when the retention says.
func retentionConfig(dc dynamicconfig.StaticClient, retention time.Duration) {
	if retention < time.Hour {
		dc[dynamicconfig.NamespaceMinRetentionLocal.Key()] = retention
	}
	if jitter := retention / 4; jitter < 30*time.Minute {
		dc[dynamicconfig.RetentionTimerJitterDuration.Key()] = jitter
	}
}

// ensureRetention sets the namespace's retention of closed workflows when
// it differs, so a changed setting applies to an existing data dir.
func ensureRetention(ctx context.Context, ws workflowservice.WorkflowServiceClient, namespace string, retention time.Duration) error {
	desc, err := ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("describing namespace %q: %w", namespace, err)
	}
	cfg := desc.GetConfig()
	if cfg.GetWorkflowExecutionRetentionTtl().AsDuration() == retention {
		return nil
	}
	cfg.WorkflowExecutionRetentionTtl = durationpb.New(retention)
	_, err = ws.UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{Namespace: namespace, Config: cfg})
	if err != nil {
		return fmt.Errorf("setting the retention of namespace %q to %s: %w", namespace, retention, err)
	}
	return nil
}
