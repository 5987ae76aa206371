package bench

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestRunAgainstHeraldDev builds the herald binary and runs the whole bench
// with 50 events against the `herald dev` it starts.
func TestRunAgainstHeraldDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the herald binary and runs herald dev: not in -short")
	}
	bin := filepath.Join(t.TempDir(), "herald")
	build := exec.Command("go", "build", "-o", bin, "github.com/herald-hq/herald/cmd/herald")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	res, err := Run(ctx, Options{
		Events:      50,
		Endpoints:   2,
		Concurrency: 8,
		Ordered:     true,
		JSON:        true,
		Executable:  bin,
		Environ:     os.Environ(),
		Timeout:     2 * time.Minute,
		Logger:      slog.New(slog.NewTextHandler(&stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("result:\n%s", stdout.String())
	if res.OutOfOrder != 0 || res.SignatureFailures != 0 {
		t.Errorf("out of order %d, signature failures %d; want none", res.OutOfOrder, res.SignatureFailures)
	}
	if res.SignaturesChecked == 0 {
		t.Error("no signature was checked")
	}
	for name, v := range map[string]float64{
		"events_per_s": res.EventsPerS, "deliveries_per_s": res.DeliveriesPerS, "p50_ms": res.P50Ms,
		"raw_deliveries_per_s": res.RawDeliveriesPerS, "temporal_floor_events_per_s": res.FloorEventsPerS,
		"history_events_per_event": res.HistoryEventsPerEvent,
	} {
		if v <= 0 {
			t.Errorf("%s = %v, want > 0", name, v)
		}
	}
}
