package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
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

// herald dev talks to its embedded server on loopback without gzip, which
// cost 3% of its CPU under load and saves nothing there; production keeps
// the SDK's default (gzip), which saves bandwidth to a remote server.
func TestOnlyDevSendsUncompressed(t *testing.T) {
	prod := stackSpec{production: true}.temporalConn(Config{Temporal: loadTemporalConn(func(string) string { return "" }, func(error) {})})
	if c := prod.options().ConnectionOptions.GrpcCompression; c != nil {
		t.Errorf("production compression %T, want the SDK's default", c)
	}
	dev := stackSpec{sole: true, worker: true}.temporalConn(Config{})
	if _, ok := dev.options().ConnectionOptions.GrpcCompression.(*client.GrpcCompressionNone); !ok {
		t.Errorf("herald dev compression %T, want none", dev.options().ConnectionOptions.GrpcCompression)
	}
}
