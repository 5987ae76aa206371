package bench

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/herald-hq/herald/schemas"
)

// historySampleSize is how many event workflows historyPerEvent reads.
const historySampleSize = 20

// historyPerEvent reads the histories of a sample of the events' workflows,
// spread evenly over ids, once each has closed, and returns their average
// length and the sample's size.
func historyPerEvent(ctx context.Context, c client.Client, app string, ids []string, logger *slog.Logger) (float64, int, error) {
	n := min(historySampleSize, len(ids))
	total := 0
	for k := range n {
		wfID := schemas.EventWorkflowID(app, ids[k*len(ids)/n])
		events, err := closedHistoryLen(ctx, c, wfID, logger)
		if err != nil {
			return 0, 0, err
		}
		total += events
	}
	return float64(total) / float64(n), n, nil
}

// closedHistoryLen waits (up to a minute) for the workflow's latest run to
// close and counts the events of its history.
func closedHistoryLen(ctx context.Context, c client.Client, wfID string, logger *slog.Logger) (int, error) {
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.GetWorkflow(waitCtx, wfID, "").GetWithOptions(waitCtx, nil, client.WorkflowRunGetOptions{DisableFollowingRuns: true}); err != nil {
		// A failed or still open run still has a history worth counting.
		logger.Warn("event workflow did not complete", "workflow_id", wfID, "error", err)
	}
	it := c.GetWorkflowHistory(ctx, wfID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			return 0, fmt.Errorf("read history of %s: %w", wfID, err)
		}
		n++
	}
	return n, nil
}
