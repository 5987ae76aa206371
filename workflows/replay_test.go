package workflows

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

// TestReplayRecordedHistories replays every history in testdata/*.json with
// the current EventWorkflow, so a change that would break running workflows
// (a non-deterministic change without workflow.GetVersion) fails here.
//
// The histories are recorded from runs against a real Temporal server (the
// end-to-end tests), for example:
//
//	temporal workflow show --workflow-id 'event/<app>/<event>' --output json > workflows/testdata/<scenario>.json
//
// or from Go with client.GetWorkflowHistory and protojson.Marshal of the
// collected historypb.History. Local activities need not be registered: the
// replayer takes their results from the markers.
//
// While testdata holds no history this test skips and says so; once there is
// one, it runs them all.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no recorded histories in workflows/testdata yet: record some from the end-to-end tests (see this test's comment)")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: schemas.EventWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}
