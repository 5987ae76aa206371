package bench

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/longtest"
)

// TestRunWithSource runs the bench with a broker source of each kind
// against the real RabbitMQ and NATS: every event published to the phase's
// queue or stream reaches the receivers once, signed, through a source of
// Herald's, and the source's figures and ratios are there beside Herald's.
func TestRunWithSource(t *testing.T) {
	longtest.Require(t, "the bench through broker sources")
	bin := buildHerald(t, t.TempDir())
	for _, kind := range []string{SourceAMQP, SourceNATS} {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var stdout bytes.Buffer
			var stderr lockedBuffer
			res, err := Run(ctx, Options{
				Events:      20,
				Endpoints:   2,
				Concurrency: 4,
				Ordered:     true,
				Rounds:      2,
				Source:      kind,
				Executable:  bin,
				Environ:     os.Environ(),
				Timeout:     2 * time.Minute,
				Logger:      slog.New(slog.NewTextHandler(&stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			}, &stdout)
			t.Logf("stderr:\n%s", stderr.tail(outputKeep))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("result:\n%s", stdout.String())
			if res.Source == nil || len(res.Source.Rounds) != 2 {
				t.Fatalf("source summary %+v, want 2 rounds", res.Source)
			}
			for i, f := range res.Source.Rounds {
				if f.Accepted != 20 || f.Deliveries != 40 || f.SignatureFailures != 0 || f.Duplicates != 0 || f.UnknownIDs != 0 || f.OutOfOrder != 0 {
					t.Errorf("round %d: %v accepted, %v deliveries, %v signatures failed, %v duplicates, %v unknown, %v out of order; want 20, 40 and no failure",
						i+1, f.Accepted, f.Deliveries, f.SignatureFailures, f.Duplicates, f.UnknownIDs, f.OutOfOrder)
				}
				if f.DeliveredPerS <= 0 || f.CompletedPerS <= 0 || f.AcceptP50Ms == 0 || f.CPUMsPerDelivery <= 0 {
					t.Errorf("round %d: delivered/s %v, completed/s %v, accept->receipt p50 %v, CPU/delivery %v",
						i+1, f.DeliveredPerS, f.CompletedPerS, f.AcceptP50Ms, f.CPUMsPerDelivery)
				}
			}
			if res.SourceOverHerald == nil || res.SourceOverHerald.DeliveredPerS.Median <= 0 || res.SourceOverFloor.CPUPerDelivery.Median <= 0 {
				t.Errorf("ratios: over herald %+v, over floor %+v", res.SourceOverHerald, res.SourceOverFloor)
			}
			if res.Settings.Source != kind || !strings.Contains(stdout.String(), "source ("+kind+")") || !strings.Contains(stdout.String(), "source / herald") {
				t.Errorf("settings %+v; the table lacks the source column or its ratio", res.Settings)
			}
		})
	}
}
