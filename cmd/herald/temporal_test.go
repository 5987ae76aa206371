package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// The SDK's logs reach Herald's from warnings up, without its warning that a
// workflow task took over 5 s: Herald's tasks wait in local activities by
// design (attempts, and ordered deliveries waiting for their turn).
func TestSDKLogFloor(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(levelFloor{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), slog.LevelWarn})
	l.Info("polled")
	l.Warn("[TMPRL1104] run:4:1 Workflow task duration exceeded 5 seconds.")
	l.With("worker", "w").Warn("[TMPRL1104] run:5:1 Workflow task duration exceeded 5 seconds.")
	l.Warn("activity failed")
	out := buf.String()
	if strings.Contains(out, "polled") || strings.Contains(out, "TMPRL1104") || !strings.Contains(out, "activity failed") {
		t.Fatalf("logged:\n%s", out)
	}
}
