package chaos

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/herald-hq/herald/internal/longtest"
)

// The flags of `go test ./chaos`; the defaults fit in CI (about two
// minutes on two cores, build cached).
var (
	flagSeed     = flag.Uint64("seed", 0, "seed of every random choice (0: from the clock; the run prints it)")
	flagDuration = flag.Duration("duration", 40*time.Second, "how long operations and kills go on")
	flagSettle   = flag.Duration("settle", 3*time.Minute, "how long Herald may take to finish after the last operation")
	flagKills    = flag.Duration("kill-every", 15*time.Second, "mean time between kill -9s of a Herald process (0: none)")
	flagOps      = flag.String("ops", "all", "operations to draw, comma-separated names, or all")
	flagLogLevel = flag.String("log-level", "warn", "HERALD_LOG_LEVEL of every Herald process")
	flagRace     = flag.Bool("herald-race", false, "build Herald with the race detector (slower; see buildHerald)")
	flagDrainMax = flag.Int("drain-max", 6, "HERALD_LANE_DRAIN_MAX of every Herald process: small, so that the few deliveries a lane queues here make drains choose heirs")
)

// config is one run's settings.
type config struct {
	seed            uint64
	duration        time.Duration
	settle          time.Duration
	killEvery       time.Duration
	ops             []op
	apps            int           // app slots
	clients         int           // event senders, each one after another
	eventGap        time.Duration // mean pause between a client's events
	opGap           time.Duration // mean pause between operations
	deliveryTimeout time.Duration
	retrySchedule   string
	drainMax        int // HERALD_LANE_DRAIN_MAX
	goneRate        float64
	// maxSignals bounds the signals one workflow run may take beyond the
	// cancels, replays and recovers the test sent that could reach it.
	maxSignals int
}

func configFromFlags(t *testing.T) config {
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	c := config{
		seed: seed, duration: *flagDuration, settle: *flagSettle, killEvery: *flagKills,
		apps: 3, clients: 3, eventGap: 400 * time.Millisecond, opGap: 700 * time.Millisecond,
		// A short schedule so that every delivery ends within seconds: 4
		// attempts over 4 s (the workflow waits at least 1 s), 429's
		// Retry-After of 1 s capped at twice the delay.
		deliveryTimeout: 2 * time.Second, retrySchedule: "1s,1s,2s",
		goneRate: 0.005, maxSignals: 10, drainMax: *flagDrainMax,
	}
	if *flagOps == "all" {
		c.ops = ops
	} else {
		for _, name := range strings.Split(*flagOps, ",") {
			found := false
			for _, o := range ops {
				if o.name == strings.TrimSpace(name) {
					c.ops, found = append(c.ops, o), true
				}
			}
			if !found {
				t.Fatalf("-ops: no operation %q", name)
			}
		}
	}
	return c
}

// chaosRun is one run: Herald, its receivers, the model and the tallies.
type chaosRun struct {
	cfg       config
	dir       string // kept when the run fails
	herald    system
	api       *apiClient
	temporal  client.Client // for an operator's signals
	w         *world
	receivers []*receiver

	mu     sync.Mutex
	counts map[string]int // operations done, by name
	errs   []string       // what went wrong while running
}

func (r *chaosRun) count(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[name]++
}

func (r *chaosRun) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestChaos runs the chaos on `herald dev`, killing it.
func TestChaos(t *testing.T) { runChaos(t, false) }

// TestChaosProductionShape runs it on the production shape (herald api and
// two workers on Postgres and a Temporal server), killing one of the
// three at a time.
func TestChaosProductionShape(t *testing.T) { runChaos(t, true) }

func runChaos(t *testing.T, prod bool) {
	longtest.Require(t, "the chaos run")
	cfg := configFromFlags(t)
	repeat := fmt.Sprintf("HERALD_TEST_LONG=1 go test -race ./chaos -run '^%s$' -seed %d -duration %s -ops %s -drain-max %d",
		t.Name(), cfg.seed, cfg.duration, *flagOps, cfg.drainMax)
	if *flagRace {
		repeat += " -herald-race"
	}
	t.Logf("chaos seed %d (reproduce: %s)", cfg.seed, repeat)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: %s", cfg.seed, repeat)
		}
	})
	// The data dir, Herald's log and the histories of workflows left open
	// stay behind when the run fails, or when the API answered 500 (a
	// fault the contract allows, whose cause is in the log), for whoever
	// looks into it.
	dir, err := os.MkdirTemp("", "herald-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	var api *apiClient
	t.Cleanup(func() {
		if t.Failed() || (api != nil && api.internal.Load() > 0) {
			t.Logf("kept %s: Herald's logs, data/ (herald dev's data dir), histories/", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	const token = "chaos-token"
	began := time.Now()
	// A cold build (the Temporal server, with -race) takes many minutes on
	// two cores: go test's -timeout bounds it, not the run's own deadline.
	bin, err := buildHerald(context.Background(), dir, *flagRace)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built herald in %s", time.Since(began).Round(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration+cfg.settle+10*time.Minute)
	defer cancel()
	env := map[string]string{
		"HERALD_RETRY_SCHEDULE":   cfg.retrySchedule,
		"HERALD_DELIVERY_TIMEOUT": cfg.deliveryTimeout.String(),
		"HERALD_LOG_LEVEL":        *flagLogLevel,
		"HERALD_LANE_DRAIN_MAX":   strconv.Itoa(cfg.drainMax),
	}
	var h system
	if prod {
		// Its Temporal server is built once into the user's cache (many
		// minutes cold), so the start gets the run's whole deadline.
		if h, err = startProd(ctx, bin, dir, token, env, t.Logf); err != nil {
			t.Fatal(err)
		}
	} else {
		dataDir := filepath.Join(dir, "data")
		if err := os.Mkdir(dataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		dev, err := newDevProcess(bin, dataDir, token, env)
		if err != nil {
			t.Fatal(err)
		}
		startCtx, cancelStart := context.WithTimeout(ctx, 3*time.Minute)
		defer cancelStart()
		if err := dev.start(startCtx); err != nil {
			t.Fatal(err)
		}
		h = dev
	}
	api = newAPIClient(h.apiURL(), token)
	tc, err := dialTemporal(h.temporalAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	r := &chaosRun{cfg: cfg, herald: h, api: api, temporal: tc, dir: dir,
		w: &world{start: time.Now()}, counts: map[string]int{}}
	t.Cleanup(func() {
		if err := h.stop(); err != nil {
			t.Errorf("%v\n%s", err, h.logTail(40))
		}
		for _, rc := range r.allReceivers() {
			rc.close()
		}
		if t.Failed() {
			t.Logf("Herald's log (last lines):\n%s", h.logTail(60))
		}
	})

	if err := r.setup(ctx); err != nil {
		t.Fatal(err)
	}
	heirs := newHeirTally(h.metricsURLs)
	scrapeCtx, stopScrapes := context.WithCancel(ctx)
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		heirs.run(scrapeCtx, 500*time.Millisecond)
	}()
	began = time.Now()
	r.chaos(ctx)
	chaosTook := time.Since(began)
	settled, err := r.settle(ctx)
	if err != nil {
		t.Error(err)
	}
	stopScrapes()
	<-scraped
	for _, u := range h.metricsURLs() {
		heirs.scrape(ctx, u) // after the settle: every drain has ended
	}
	for _, e := range r.errs {
		t.Error(e)
	}
	began = time.Now()
	rep := r.check(ctx)
	t.Logf("checked in %s", time.Since(began).Round(time.Second))
	t.Logf("seed %d: %s of operations and kills, settled in %s; %s", cfg.seed, chaosTook.Round(time.Second),
		settled.Round(time.Second), r.summary())
	for _, a := range r.api.internalAnswers() {
		t.Logf("answered 500: %s", a)
	}
	hc := heirs.total()
	t.Logf("drains' heirs (HERALD_LANE_DRAIN_MAX=%d), as scraped: %d handed the lane, %d finished by their drain",
		cfg.drainMax, hc.handed, hc.finished)
	t.Logf("checked: %s", rep.tallyLine())
	for _, line := range rep.notes {
		t.Log(line)
	}
	for _, v := range rep.violations {
		t.Error(v)
	}
	if race := h.raceReport(); race != "" {
		t.Errorf("the race detector reported in Herald:\n%s", race)
	}
}

// setup makes the event types and the apps of every slot.
func (r *chaosRun) setup(ctx context.Context) error {
	if err := r.createEventTypes(ctx); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(r.cfg.seed, 1))
	for slot := range r.cfg.apps {
		if err := r.makeApp(ctx, r.planApp(rng, slot, 0)); err != nil {
			return err
		}
	}
	return nil
}

// chaos sends events, draws operations and kills Herald for the run's
// duration, and returns once every operation has its answer and Herald is
// up. Each goroutine has its own generator from the seed.
func (r *chaosRun) chaos(ctx context.Context) {
	phase, stop := context.WithTimeout(ctx, r.cfg.duration)
	defer stop()
	// Calls started in the phase may finish after it (Herald may be down).
	calls, cancelCalls := context.WithTimeout(ctx, r.cfg.duration+5*time.Minute)
	defer cancelCalls()
	var wg sync.WaitGroup
	for c := range r.cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(r.cfg.seed, uint64(100+c)))
			for n := 1; sleepExp(phase, rng, r.cfg.eventGap); n++ {
				if err := r.sendEvent(calls, rng, c, n); err != nil {
					r.fail("client %d: %v", c, err)
				}
				r.count("event")
			}
		}()
	}
	if r.cfg.killEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(r.cfg.seed, 2))
			// The first kill lands in the run's first half, so that even a
			// short run has one; the others come at random.
			first := time.Duration(rng.Int64N(int64(r.cfg.duration/2) + 1))
			for wait := sleepFor(phase, first); wait; wait = sleepExp(phase, rng, r.cfg.killEvery) {
				name, restart := r.herald.crash(rng)
				r.count("kill " + name)
				time.Sleep(time.Duration(rng.Int64N(int64(time.Second))))
				start, cancel := context.WithTimeout(ctx, 3*time.Minute)
				err := restart(start)
				cancel()
				if err != nil {
					r.fail("restart %s after kill -9: %v", name, err)
					return
				}
			}
		}()
	}
	total := 0
	for _, o := range r.cfg.ops {
		total += o.weight
	}
	rng := rand.New(rand.NewPCG(r.cfg.seed, 3))
	for total > 0 && sleepExp(phase, rng, r.cfg.opGap) {
		n := rng.IntN(total)
		var o op
		for _, o = range r.cfg.ops {
			if n < o.weight {
				break
			}
			n -= o.weight
		}
		do := o.plan(r, rng)
		if do == nil {
			continue
		}
		r.count(o.name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := do(calls); err != nil {
				r.fail("%s: %v", o.name, err)
			}
		}()
	}
	wg.Wait()
}

// sleepExp sleeps an exponentially distributed time of the given mean and
// says whether ctx is still live.
func sleepExp(ctx context.Context, rng *rand.Rand, mean time.Duration) bool {
	return sleepFor(ctx, time.Duration(rng.ExpFloat64()*float64(mean)))
}

// sleepFor sleeps d and says whether ctx is still live.
func sleepFor(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return ctx.Err() == nil
	}
}

// settle waits until no event of a live app is pending and every receiver
// is idle, and says how long that took.
func (r *chaosRun) settle(ctx context.Context) (time.Duration, error) {
	began := time.Now()
	deadline := began.Add(r.cfg.settle)
	r.w.mu.Lock()
	apps := r.w.liveApps()
	r.w.mu.Unlock()
	for {
		pending := 0
		for _, a := range apps {
			var list struct {
				Data []struct{ ID string } `json:"data"`
			}
			ans, err := r.api.must(ctx, "GET", "/v1/apps/"+a.id+"/events?status=pending&limit=250", nil, http.StatusOK)
			if err != nil {
				return time.Since(began), err
			}
			if err := ans.decode(&list); err != nil {
				return time.Since(began), err
			}
			pending += len(list.Data)
		}
		if pending == 0 && r.receiversIdle() {
			return time.Since(began), nil
		}
		if time.Now().After(deadline) {
			return time.Since(began), fmt.Errorf("%d events still pending %s after the last operation", pending, r.cfg.settle)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (r *chaosRun) receiversIdle() bool {
	for _, rc := range r.allReceivers() {
		for _, q := range rc.requests() {
			if q.left.IsZero() {
				return false
			}
		}
	}
	return true
}

func (r *chaosRun) allReceivers() []*receiver {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	return append([]*receiver(nil), r.receivers...)
}

// summary counts what the run did.
func (r *chaosRun) summary() string {
	r.mu.Lock()
	names := make([]string, 0, len(r.counts))
	for n := range r.counts {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s %d, ", n, r.counts[n])
	}
	r.mu.Unlock()
	accepted, posts := 0, 0
	r.w.mu.Lock()
	for _, e := range r.w.events {
		if e.accepted() {
			accepted++
		}
	}
	r.w.mu.Unlock()
	for _, rc := range r.allReceivers() {
		posts += len(rc.requests())
	}
	fmt.Fprintf(&b, "%d events accepted, %d POSTs received; API calls without an answer %d, 503 %d, 500 %d",
		accepted, posts, r.api.noAnswer.Load(), r.api.unavailable.Load(), r.api.internal.Load())
	return b.String()
}
