// Package histtest records workflow histories from tests that run a real
// Temporal server, for the replay test in workflows/ (see
// workflows/testdata/README.md).
package histtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// Record writes the history of the workflow's last run to dir/<name>.json
// when HERALD_RECORD_HISTORIES=1, and does nothing otherwise.
func Record(t testing.TB, c client.Client, workflowID, dir, name string) {
	t.Helper()
	if os.Getenv("HERALD_RECORD_HISTORIES") != "1" {
		return
	}
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s", path)
}
