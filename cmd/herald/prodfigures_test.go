package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/proc"
	"github.com/herald-hq/herald/internal/prodtest"
)

// TestProductionShapeFigures measures deliveries/s and CPU per delivery of
// the production shape with one and with two workers (the API's own worker
// off, so the workers do every delivery), with the API's eager start on,
// and of `herald dev`, in the same run; and the Temporal actions per event
// from the server's own counter. It takes minutes, so it runs only with
// HERALD_PRODTEST_FIGURES=1:
//
//	HERALD_PRODTEST_FIGURES=1 go test -run TestProductionShapeFigures -v ./cmd/herald
func TestProductionShapeFigures(t *testing.T) {
	if os.Getenv("HERALD_PRODTEST_FIGURES") != "1" {
		t.Skip("set HERALD_PRODTEST_FIGURES=1 to measure")
	}
	const events = 300
	dev := startDev(t, t.TempDir(), nil)
	devCPU := func() time.Duration { return proc.CPUOf(dev.cmd.Process.Pid) }
	report := func(name string, r figure) {
		t.Logf("%-34s %6.1f deliveries/s  %6.2f ms CPU/delivery (%s)", name, r.rate, r.cpuPerDelivery, r.cpuOf)
	}
	report("herald dev", measure(t, dev, events, devCPU, "the one herald dev process"))

	s := startProdShape(t)
	cpu := func(ps ...*prodtest.Proc) func() time.Duration {
		return func() time.Duration {
			var sum time.Duration
			for _, p := range ps {
				sum += p.CPUTime()
			}
			return sum
		}
	}
	all := append(s.Procs(), s.Temporal.Proc)
	actionCount := func() float64 {
		text := getText(t, s.Temporal.MetricsURL)
		return metricValue(text, "action") + metricValue(text, "action_total")
	}
	actions0 := actionCount()
	report("production, eager start (api+2w)", measure(t, s, events, cpu(all...), "api, 2 workers, Temporal server"))
	actions := actionCount() - actions0
	t.Logf("Temporal actions per event (1 unordered endpoint, first attempt succeeds): %.2f", actions/events)

	if err := s.API.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	s.API.SetEnv("HERALD_EAGER_START=false")
	if err := s.Restart(t.Context(), s.API); err != nil {
		t.Fatal(err)
	}
	report("production, 2 workers", measure(t, s, events, cpu(all...), "api, 2 workers, Temporal server"))
	if err := s.Workers[1].Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	report("production, 1 worker", measure(t, s, events, cpu(s.API, s.Workers[0], s.Temporal.Proc), "api, 1 worker, Temporal server"))
	t.Log("CPU is that of the processes named; Postgres's is not counted (it serves other tests on this machine)")
}

type figure struct {
	rate           float64 // deliveries per second, first POST to last receipt
	cpuPerDelivery float64 // ms
	cpuOf          string
}

// measure posts n events to one unordered endpoint, 16 at a time, and
// times them until the receiver got every one.
func measure(t *testing.T, p underTest, n int, cpu func() time.Duration, cpuOf string) figure {
	f := newFixture(t, apiFor(t, p), nil)
	var got atomic.Int64
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) {
		got.Add(1)
		return 200, nil, 0
	})
	f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": false})
	base, token := p.apiBase()
	cpu0, start := cpu(), time.Now()
	var wg sync.WaitGroup
	ids := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				body, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("fig-%d", i), "event_type": f.eventType, "payload": i})
				req, _ := http.NewRequest("POST", base+"/v1/apps/"+f.app+"/events", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	eventually(t, 5*time.Minute, "every delivery", func() bool { return got.Load() >= int64(n) })
	el := time.Since(start)
	used := cpu() - cpu0
	return figure{rate: float64(n) / el.Seconds(), cpuPerDelivery: float64(used.Milliseconds()) / float64(n), cpuOf: cpuOf}
}
