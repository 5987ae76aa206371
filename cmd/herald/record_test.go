package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/herald-hq/herald/schemas"
)

// recordHistory writes the history of an event's last workflow run to
// workflows/testdata/<name>.json when HERALD_RECORD_HISTORIES=1, for the
// replay test there: histories of real runs of these end-to-end scenarios
// are what a change to the workflow must keep replaying.
func recordHistory(t *testing.T, p *devProc, appID, eventID, name string) {
	t.Helper()
	if os.Getenv("HERALD_RECORD_HISTORIES") != "1" {
		return
	}
	tc := temporalClient(t, p)
	it := tc.GetWorkflowHistory(context.Background(), schemas.EventWorkflowID(appID, eventID), "", false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
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
	path := filepath.Join("..", "..", "workflows", "testdata", name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s", path)
}
