package main

import (
	"path/filepath"
	"testing"

	"github.com/herald-hq/herald/internal/histtest"
	"github.com/herald-hq/herald/schemas"
)

// recordHistory writes the history of an event's last workflow run to
// workflows/testdata/<name>.json when HERALD_RECORD_HISTORIES=1, for the
// replay test there: histories of real runs of these end-to-end scenarios
// are what a change to the workflow must keep replaying.
func recordHistory(t *testing.T, p underTest, appID, eventID, name string) {
	t.Helper()
	histtest.Record(t, temporalClient(t, p), schemas.EventWorkflowID(appID, eventID),
		filepath.Join("..", "..", "workflows", "testdata"), name)
}
