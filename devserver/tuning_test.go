package devserver

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The A/B measurement of the embedded server's settings. It does not run in
// the normal test run; docs/devserver-tuning.md has the command and figures:
//
//	go test ./devserver -run '^TestTuningAB$' -v -timeout 60m -args -tuning -tuning.rounds=3
var (
	tuningRun      = flag.Bool("tuning", false, "run TestTuningAB, the A/B measurement of the dev server's settings")
	tuningN        = flag.Int("tuning.n", 1000, "workflows in the throughput phase")
	tuningInFlight = flag.Int("tuning.c", 64, "workflows in flight in the throughput phase")
	tuningLatN     = flag.Int("tuning.latn", 200, "workflows in the latency phase, one in flight")
	tuningHopN     = flag.Int("tuning.hopn", 100, "workflows started without eager start, one in flight")
	tuningRounds   = flag.Int("tuning.rounds", 2, "runs of every variant; variants are interleaved")
	tuningOnly     = flag.String("tuning.variants", "", "comma-separated variant names to run beside \"tuned\"; empty: all")
)

// tuningVariant is the tuned default with one setting changed.
type tuningVariant struct {
	name   string
	change func(*tuning)
}

func tuningVariants() []tuningVariant {
	return []tuningVariant{
		{"tuned", func(*tuning) {}},
		{"journal_mode=delete", func(t *tuning) { t.journalMode = "delete" }},
		{"synchronous=full", func(t *tuning) { t.synchronous = "full" }},
		{"partitions=4", func(t *tuning) { t.partitions = 4 }},
		{"pollRPS=20", func(t *tuning) { t.pollRPS = 0 }},
		{"pollRPS=100", func(t *tuning) { t.pollRPS = 100 }},
		{"pollRPS=200", func(t *tuning) { t.pollRPS = 200 }},
		{"shards=4", func(t *tuning) { t.shards = 4 }},
		{"maxConns=4", func(t *tuning) { t.maxConns = 4 }},
		{"maxConns=4+shardIO=4", func(t *tuning) { t.maxConns, t.shardIOConcurrency = 4, 4 }},
		{"shards=4+maxConns=4+shardIO=4", func(t *tuning) { t.shards, t.maxConns, t.shardIOConcurrency = 4, 4, 4 }},
		{"limits=raised", func(t *tuning) { t.raiseLimits = true }},
		{"cache_size=64MiB", func(t *tuning) { t.cacheKiB = 64 << 10 }},
		{"logs=info", func(t *tuning) { t.logLevel = slog.LevelInfo }},
		{"visibility=shared", func(t *tuning) { t.separateVisibility = false }},
		{"wal_autocheckpoint=1000", func(t *tuning) { t.walAutocheckpoint = 0 }},
		{"visibility_indexes=all", func(t *tuning) { t.trimVisibilityIndexes = false }},
		{"queue_checkpoint=30s", func(t *tuning) { t.queueCheckpoint = 0 }},
	}
}

// tuningResult is one run of one variant.
type tuningResult struct {
	wfPerS     float64       // throughput phase: workflows / (first start .. last receipt)
	loadP50    time.Duration // throughput phase: start request to receipt
	loadP99    time.Duration
	p50, p95   time.Duration // latency phase, one in flight
	hopP50     time.Duration // hop phase: one in flight, started without eager start
	cpuPerWf   time.Duration // process CPU per workflow in the throughput phase
	idleCPUPct float64       // process CPU while idle, % of one core
}

func TestTuningAB(t *testing.T) {
	if !*tuningRun && os.Getenv("HERALD_DEVSERVER_TUNING") == "" {
		t.Skip("measurement: run with -tuning (see docs/devserver-tuning.md)")
	}
	variants := tuningVariants()
	if *tuningOnly != "" {
		keep := strings.Split(*tuningOnly, ",")
		variants = slices.DeleteFunc(variants, func(v tuningVariant) bool {
			return v.name != "tuned" && !slices.Contains(keep, v.name)
		})
	}
	recv := newTuningReceiver()
	defer recv.Close()

	results := map[string][]tuningResult{}
	paired := map[string][][2]float64{} // per run: wf/s and p50 ratios to the tuned run just before
	var lastTuned tuningResult
	for round := range *tuningRounds {
		// The other variants in an order that rotates each round and
		// reverses every other round, so that none always runs at the same
		// point; the tuned default runs before every group of three, so that
		// each variant has a reference close in time on a noisy machine.
		others := slices.Clone(variants[1:])
		if len(others) > 0 {
			k := round % len(others)
			others = append(others[k:], others[:k]...)
		}
		if round%2 == 1 {
			slices.Reverse(others)
		}
		var order []tuningVariant
		for i, v := range others {
			if i%3 == 0 {
				order = append(order, variants[0])
			}
			order = append(order, v)
		}
		if len(others) == 0 {
			order = variants[:1]
		}
		for _, v := range order {
			tn := defaultTuning()
			v.change(&tn)
			r, err := measureTuning(t, tn, recv)
			if err != nil {
				// Keep going: one failed run should not cost the others.
				t.Errorf("round %d, %s: %v", round+1, v.name, err)
				continue
			}
			t.Logf("round %d %-32s %6.1f wf/s  load p50 %5.1f ms p99 %6.1f ms  1-in-flight p50 %5.1f ms p95 %5.1f ms  hop p50 %5.1f ms  cpu %4.1f ms/wf  idle %4.1f%%",
				round+1, v.name, r.wfPerS, ms(r.loadP50), ms(r.loadP99), ms(r.p50), ms(r.p95), ms(r.hopP50), ms(r.cpuPerWf), r.idleCPUPct)
			results[v.name] = append(results[v.name], r)
			if v.name == variants[0].name {
				lastTuned = r
			} else {
				paired[v.name] = append(paired[v.name], [2]float64{r.wfPerS / lastTuned.wfPerS, ms(r.p50) / ms(lastTuned.p50)})
			}
		}
	}

	base := medianResult(results[variants[0].name])
	var b strings.Builder
	fmt.Fprintf(&b, "\nmedians of all runs; N=%d at %d in flight, %d at 1 in flight; ratio = variant / tuned (medians), paired = median of ratios to the tuned run just before\n\n", *tuningN, *tuningInFlight, *tuningLatN)
	b.WriteString("| variant | runs | wf/s | ratio | paired | p50 @1 (ms) | ratio | paired | p95 @1 (ms) | non-eager p50 @1 (ms) | p50 / p99 @64 (ms) | CPU ms/wf | idle CPU % | runs wf/s | runs p50 @1 |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, v := range variants {
		rs := results[v.name]
		m := medianResult(rs)
		var runsTP, runsLat []string
		for _, r := range rs {
			runsTP = append(runsTP, fmt.Sprintf("%.1f", r.wfPerS))
			runsLat = append(runsLat, fmt.Sprintf("%.1f", ms(r.p50)))
		}
		var pt, pl []float64
		for _, p := range paired[v.name] {
			pt, pl = append(pt, p[0]), append(pl, p[1])
		}
		pairedTP, pairedLat := "—", "—"
		if len(pt) > 0 {
			pairedTP, pairedLat = fmt.Sprintf("%.2f", median(pt)), fmt.Sprintf("%.2f", median(pl))
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f | %.2f | %s | %.1f | %.2f | %s | %.1f | %.1f | %.0f / %.0f | %.1f | %.1f | %s | %s |\n",
			v.name, len(rs), m.wfPerS, m.wfPerS/base.wfPerS, pairedTP, ms(m.p50), ms(m.p50)/ms(base.p50), pairedLat, ms(m.p95), ms(m.hopP50),
			ms(m.loadP50), ms(m.loadP99), ms(m.cpuPerWf), m.idleCPUPct,
			strings.Join(runsTP, " "), strings.Join(runsLat, " "))
	}
	// Printed as is (not t.Log, which indents), to paste into the doc.
	fmt.Print(b.String())
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// medianResult takes the median of each figure on its own.
func medianResult(rs []tuningResult) tuningResult {
	med := func(f func(tuningResult) float64) float64 {
		xs := make([]float64, 0, len(rs))
		for _, r := range rs {
			xs = append(xs, f(r))
		}
		return median(xs)
	}
	dur := func(f func(tuningResult) time.Duration) time.Duration {
		return time.Duration(med(func(r tuningResult) float64 { return float64(f(r)) }))
	}
	return tuningResult{
		wfPerS:     med(func(r tuningResult) float64 { return r.wfPerS }),
		loadP50:    dur(func(r tuningResult) time.Duration { return r.loadP50 }),
		loadP99:    dur(func(r tuningResult) time.Duration { return r.loadP99 }),
		p50:        dur(func(r tuningResult) time.Duration { return r.p50 }),
		p95:        dur(func(r tuningResult) time.Duration { return r.p95 }),
		hopP50:     dur(func(r tuningResult) time.Duration { return r.hopP50 }),
		cpuPerWf:   dur(func(r tuningResult) time.Duration { return r.cpuPerWf }),
		idleCPUPct: med(func(r tuningResult) float64 { return r.idleCPUPct }),
	}
}

// tuningReceiver is the local webhook endpoint: it tells whoever waits for an
// id that its POST arrived.
type tuningReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	waiting map[string]chan struct{}
}

func newTuningReceiver() *tuningReceiver {
	r := &tuningReceiver{waiting: map[string]chan struct{}{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id := string(body)
		r.mu.Lock()
		ch := r.waiting[id]
		delete(r.waiting, id)
		r.mu.Unlock()
		if ch != nil {
			close(ch)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return r
}

// expect returns a channel closed when id's POST arrives.
func (r *tuningReceiver) expect(id string) <-chan struct{} {
	ch := make(chan struct{})
	r.mu.Lock()
	r.waiting[id] = ch
	r.mu.Unlock()
	return ch
}

const (
	tuningTaskQueue = "devserver-tuning"
	tuningActivity  = "TuningPost"
)

// tuningWorkflow is the bare floor of Herald's hot path: the first workflow
// task runs one local activity that POSTs.
func tuningWorkflow(ctx workflow.Context, id string) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 15 * time.Second})
	return workflow.ExecuteLocalActivity(ctx, tuningActivity, id).Get(ctx, nil)
}

type tuningPoster struct {
	hc  *http.Client
	url string
}

func (p *tuningPoster) post(ctx context.Context, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewBufferString(id))
	if err != nil {
		return err
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST: %s", resp.Status)
	}
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureTuning starts a dev server with tn on a new dir, with a worker and
// client in this process, and measures the floor.
func measureTuning(t *testing.T, tn tuning, recv *tuningReceiver) (tuningResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "herald-devserver-tuning-")
	if err != nil {
		return tuningResult{}, err
	}
	defer os.RemoveAll(dir)

	// Logs go through a real handler (into io.Discard), as in `herald dev`,
	// so that the level decides what formatting costs.
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := Start(ctx, Config{DataDir: dir, FrontendAddr: "127.0.0.1:0", Logger: logger, tuning: &tn})
	if err != nil {
		return tuningResult{}, err
	}
	defer srv.Stop()

	c, err := client.Dial(client.Options{
		HostPort:  srv.FrontendAddr(),
		Namespace: DefaultNamespace,
		Logger:    sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		return tuningResult{}, err
	}
	defer c.Close()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * *tuningInFlight
	poster := &tuningPoster{hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}, url: recv.URL}
	defer tr.CloseIdleConnections()
	w := worker.New(c, tuningTaskQueue, worker.Options{})
	w.RegisterWorkflow(tuningWorkflow)
	w.RegisterActivityWithOptions(poster.post, activity.RegisterOptions{Name: tuningActivity})
	if err := w.Start(); err != nil {
		return tuningResult{}, err
	}
	defer w.Stop()

	runName := filepath.Base(dir) // unique, so that ids differ between runs
	var seq atomic.Int64
	// one starts a workflow eagerly and returns the time from the start
	// request to the receipt of its POST.
	one := func(eager bool) (time.Duration, error) {
		id := fmt.Sprintf("%s-%d", runName, seq.Add(1))
		done := recv.expect(id)
		began := time.Now()
		if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:               id,
			TaskQueue:        tuningTaskQueue,
			EnableEagerStart: eager,
		}, tuningWorkflow, id); err != nil {
			return 0, err
		}
		select {
		case <-done:
			return time.Since(began), nil
		case <-time.After(time.Minute):
			return 0, fmt.Errorf("workflow %s: no POST within a minute", id)
		}
	}
	run := func(n, inFlight int, eager bool) ([]time.Duration, time.Duration, error) {
		lat := make([]time.Duration, n)
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, inFlight)
		began := time.Now()
		for range inFlight {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					d, err := one(eager)
					if err != nil {
						errs <- err
						return
					}
					lat[i] = d
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(began)
		close(errs)
		if err := errors.Join(slices.Collect(chanValues(errs))...); err != nil {
			return nil, 0, err
		}
		slices.Sort(lat)
		return lat, elapsed, nil
	}
	pct := func(sorted []time.Duration, p float64) time.Duration {
		return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
	}

	// Warm up: caches, connections, the worker's pollers.
	if _, _, err := run(50, 4, true); err != nil {
		return tuningResult{}, fmt.Errorf("warm-up: %w", err)
	}
	time.Sleep(500 * time.Millisecond)

	var r tuningResult
	cpu0 := cpuTime()
	lat, elapsed, err := run(*tuningN, *tuningInFlight, true)
	if err != nil {
		return tuningResult{}, fmt.Errorf("throughput phase: %w", err)
	}
	r.cpuPerWf = (cpuTime() - cpu0) / time.Duration(*tuningN)
	r.wfPerS = float64(*tuningN) / elapsed.Seconds()
	r.loadP50, r.loadP99 = pct(lat, 0.50), pct(lat, 0.99)
	time.Sleep(time.Second) // let the last completions settle

	if lat, _, err = run(*tuningLatN, 1, true); err != nil {
		return tuningResult{}, fmt.Errorf("latency phase: %w", err)
	}
	r.p50, r.p95 = pct(lat, 0.50), pct(lat, 0.95)

	// Without eager start the first workflow task takes the path of every
	// later hop in Herald (a signal, a fired retry timer): a history task
	// through the transfer queue to matching, then a poll.
	if lat, _, err = run(*tuningHopN, 1, false); err != nil {
		return tuningResult{}, fmt.Errorf("hop phase: %w", err)
	}
	r.hopP50 = pct(lat, 0.50)

	time.Sleep(500 * time.Millisecond)
	const idle = 2 * time.Second
	cpu0 = cpuTime()
	time.Sleep(idle)
	r.idleCPUPct = 100 * float64(cpuTime()-cpu0) / float64(idle)
	return r, nil
}

func chanValues[T any](ch <-chan T) func(func(T) bool) {
	return func(yield func(T) bool) {
		for v := range ch {
			if !yield(v) {
				return
			}
		}
	}
}
