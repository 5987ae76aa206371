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

	"github.com/herald-hq/herald/internal/longtest"
)

// TestRunAgainstHeraldDev builds the herald binary and runs the whole bench
// (Herald, the floor in its own process, the raw loop; two rounds) with a
// few events against the `herald dev` it starts, and draws the plot.
func TestRunAgainstHeraldDev(t *testing.T) {
	// Minutes of the everyday suite (a build of herald, herald dev, two
	// rounds of three phases): the bench's own parts are tested above.
	longtest.Require(t, "the whole bench against herald dev")
	dir := t.TempDir()
	bin := buildHerald(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	var stderr lockedBuffer // the logger and the progress line write from their own goroutines
	plot := filepath.Join(dir, "bench.svg")
	res, err := Run(ctx, Options{
		Events:      30,
		Endpoints:   2,
		Concurrency: 8,
		Rounds:      2,
		Warmup:      5,
		JSON:        true,
		Plot:        plot,
		Timeline:    true,
		Executable:  bin,
		Environ:     os.Environ(),
		Timeout:     2 * time.Minute,
		Logger:      slog.New(slog.NewTextHandler(&stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Progress:    &stderr,
	}, &stdout)
	t.Logf("stderr:\n%s", stderr.tail(outputKeep))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("result:\n%s", stdout.String())
	for name, s := range map[string]Summary{"herald": res.Herald, "floor": res.Floor, "raw": *res.Raw} {
		if len(s.Rounds) != 2 {
			t.Fatalf("%s: %d rounds, want 2", name, len(s.Rounds))
		}
		for i, f := range s.Rounds {
			if f.Deliveries != 60 || f.SignaturesChecked != 60 || f.SignatureFailures != 0 || f.Duplicates != 0 || f.UnknownIDs != 0 {
				t.Errorf("%s round %d: %v deliveries, %v of %v signatures failed, %v duplicates, %v unknown; want 60 verified, no failure",
					name, i+1, f.Deliveries, f.SignatureFailures, f.SignaturesChecked, f.Duplicates, f.UnknownIDs)
			}
			if len(f.Timeline) == 0 {
				t.Errorf("%s round %d: no timeline, though asked for", name, i+1)
			}
			if f.DeliveredPerS <= 0 || f.P50Ms <= 0 || f.CompletedPerS <= 0 || f.CompletedPerS > f.DeliveredPerS {
				t.Errorf("%s round %d: delivered/s %v, completed/s %v, p50 %v", name, i+1, f.DeliveredPerS, f.CompletedPerS, f.P50Ms)
			}
		}
	}
	// The two processes' own CPU counters were read; the raw loop has none.
	if res.Herald.Median.CPUMsPerDelivery <= 0 || res.Floor.Median.CPUMsPerDelivery <= 0 || res.Raw.Median.CPUS != 0 {
		t.Errorf("CPU ms per delivery: herald %v, floor %v, raw CPU %v", res.Herald.Median.CPUMsPerDelivery, res.Floor.Median.CPUMsPerDelivery, res.Raw.Median.CPUS)
	}
	if res.HeraldOverFloor.CPUPerDelivery.Median <= 0 || res.HistoryEventsPerEvent <= 0 || res.HeraldRSSMiB <= 0 {
		t.Errorf("ratio %v, history %v, rss %v", res.HeraldOverFloor.CPUPerDelivery, res.HistoryEventsPerEvent, res.HeraldRSSMiB)
	}
	if svg, err := os.ReadFile(plot); err != nil || !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("floor round 2")) {
		t.Errorf("plot: %v; %d bytes", err, len(svg))
	}
}

// buildHerald builds the herald binary into dir.
func buildHerald(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-o", bin, "github.com/herald-hq/herald/cmd/herald")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
