package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/longtest"
	"github.com/herald-hq/herald/internal/prodtest"
)

// prodShape is internal/prodtest's production shape as the scenarios see
// it: requests go to `herald api`, metrics come from every process.
type prodShape struct {
	*prodtest.Shape
}

func (s *prodShape) apiBase() (string, string) { return s.APIURL(), s.Token }
func (s *prodShape) temporalAddr() string      { return s.Temporal.Addr }
func (s *prodShape) metricsText(t testing.TB) string {
	var b strings.Builder
	for _, p := range s.Procs() {
		if p.Running() {
			b.WriteString(getText(t, "http://"+p.HTTPAddr+"/metrics"))
		}
	}
	return b.String()
}

// startProdShape runs Herald in production shape for one test: a Temporal
// server process on Postgres, `herald migrate`, `herald api` and two
// `herald worker`s, each process this test binary acting as herald. It is in
// the long suite; the Temporal binaries are built once into the user's cache
// (many minutes cold; .ci/run builds them first).
func startProdShape(t *testing.T, extraEnv ...string) *prodShape {
	t.Helper()
	longtest.Require(t, "the production shape")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := append([]string{
		"HERALD_TEST_AS_MAIN=1",
		"HERALD_RETRY_SCHEDULE=" + testRetrySchedule,
		"HERALD_DELIVERY_TIMEOUT=3s",
	}, extraEnv...)
	start := time.Now()
	shape, err := prodtest.Start(ctx, prodtest.Options{Herald: exe, HeraldEnv: env, Dir: t.TempDir(), Logf: t.Logf,
		CuttableDatabase: true})
	if err != nil {
		t.Fatalf("start production shape: %v", err)
	}
	t.Logf("production shape up in %s", time.Since(start).Round(time.Millisecond))
	s := &prodShape{shape}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range append(s.Procs(), s.Temporal.Proc) {
				t.Logf("--- log of %s (last 4 KiB):\n%s", p.Name, lastBytes(p.Log(), 4096))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop production shape: %v", err)
		}
	})
	return s
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// The end-to-end flows of `herald dev`, and the faults only a shape of
// many processes has, on Herald in production shape.
func TestProductionShape(t *testing.T) {
	s := startProdShape(t)
	t.Run("Scenarios", func(t *testing.T) {
		for _, sc := range sharedScenarios {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				sc.run(t, s)
			})
		}
	})
	if t.Failed() {
		return
	}
	t.Run("WorkersShareAndFailOver", func(t *testing.T) { faultWorkersShareAndFailOver(t, s) })
	t.Run("KillAPIUnderLoad", func(t *testing.T) { faultKillAPI(t, s) })
	t.Run("RestartTemporalUnderLoad", func(t *testing.T) { faultRestartTemporal(t, s) })
	t.Run("DatabaseOutageUnderLoad", func(t *testing.T) { faultDatabaseOutage(t, s) })
}
