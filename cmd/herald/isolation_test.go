//go:build !nodev

package main

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// An ordered lane whose head keeps failing, with a long queue behind it,
// does not hold up deliveries to unordered endpoints: neither those of
// another app nor those of the same events (an event of the lane's app
// goes to both). A steady trickle of events to both apps is delivered
// about as fast with the queue as without it. An event queued in the lane
// used to start its workflow late (10 ms per delivery ahead, up to 30 s)
// and at the lowest priority, its unordered delivery with it: p50 13 s
// with 1,000 queued (docs/performance.md).
//
// Not parallel: the test compares latencies measured one after the other,
// which other tests' load would blur. HERALD_TEST_ISOLATION_QUEUED and
// HERALD_TEST_ISOLATION_SECONDS make it larger for a measurement, and
// HERALD_TEST_ISOLATION_DEBUG_ADDR serves pprof.
func TestFailingLaneDoesNotStallOtherEndpoints(t *testing.T) {
	// A measurement, by hand: in a full .ci/run (-race, other packages'
	// tests beside it) the API once left 156 of 450 of the trickle's events
	// unanswered through 11 tries of 10 s, which fails it for the machine's
	// sake, not the lane's. TestQueuedLaneDoesNotDelayOtherTargets
	// (dispatch) holds the fix in CI.
	if os.Getenv("HERALD_TEST_ISOLATION") != "1" {
		t.Skip("a measurement under load (about 3.5 minutes): set HERALD_TEST_ISOLATION=1 to run it")
	}
	queued := envInt(t, "HERALD_TEST_ISOLATION_QUEUED", 600)
	window := time.Duration(envInt(t, "HERALD_TEST_ISOLATION_SECONDS", 90)) * time.Second
	extra := map[string]string{}
	if addr := os.Getenv("HERALD_TEST_ISOLATION_DEBUG_ADDR"); addr != "" {
		extra["HERALD_DEBUG_ADDR"] = addr // pprof while measuring by hand
	}
	p := startDev(t, t.TempDir(), extra)
	t.Logf("herald dev: API %s, Temporal %s", p.api.base, p.temporal)

	// The lane's app has a healthy unordered endpoint from the start and
	// gets its failing ordered one after the baseline.
	same, other := newReceiver(t, nil), newReceiver(t, nil)
	laneApp, otherApp := newFixture(t, p.api, nil), newFixture(t, p.api, nil)
	laneApp.endpoint(t, map[string]any{"url": same.URL(), "ordered": false})
	otherApp.endpoint(t, map[string]any{"url": other.URL(), "ordered": false})
	tr := &trickle{s: &laneSender{base: p.api.base, token: p.api.token}, apps: [2]fixture{laneApp, otherApp},
		receivers: [2]*receiver{same, other}}

	base := tr.run(t, "base", 30*time.Second)
	t.Logf("without the queue: same app %s; other app %s", base[0], base[1])

	failing := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) { return 500, nil, 0 })
	laneApp.endpoint(t, map[string]any{"url": failing.URL(), "ordered": true})
	laneApp.send(t, "head", 0)
	eventually(t, 30*time.Second, "the head's first attempt", func() bool { return failing.count() >= 1 })
	start := time.Now()
	sendQueue(t, &laneSender{base: p.api.base, token: p.api.token}, laneApp.app, laneApp.eventType, queued)
	t.Logf("%d events queued behind the failing head in %s", queued, time.Since(start).Round(time.Millisecond))

	loaded := tr.run(t, "loaded", window)
	t.Logf("with the queue: same app %s; other app %s", loaded[0], loaded[1])
	// The lane's app against the other app, in the same window and so
	// under the same load: its events' unordered deliveries are not held
	// back by their ordered ones (the old start delay alone was 6 s and
	// more here, for every event).
	if limit := 2*loaded[1].p50 + time.Second; loaded[0].p50 > limit {
		t.Errorf("the lane's app: p50 latency %s, over %s (another app: %s)", loaded[0].p50, limit, loaded[1].p50)
	}
	if limit := 2*loaded[1].p99 + time.Second; loaded[0].p99 > limit {
		t.Errorf("the lane's app: p99 latency %s, over %s (another app: %s)", loaded[0].p99, limit, loaded[1].p99)
	}
	// Each app against its baseline: no stall of tens of seconds (the
	// queue's wakes come in waves of hundreds of workflow tasks). The
	// margin is for a machine other work starves now and then: at load
	// average 14 a run with the fix saw 7 s once, and the API's own
	// answers take seconds then.
	for i, what := range []string{"the lane's app", "another app"} {
		if limit := 2*base[i].max + 10*time.Second; loaded[i].max > limit {
			t.Errorf("%s: max latency with the queue %s, over %s (without it: %s)", what, loaded[i].max, limit, base[i].max)
		}
	}
}

// sendQueue posts n events to app from 8 senders, each tried again with its
// id when a loaded machine answers 503.
func sendQueue(t *testing.T, s *laneSender, app, eventType string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				body := fmt.Sprintf(`{"id":"q-%04d","event_type":%q,"payload":%d}`, i, eventType, i)
				ok := false
				for try := 0; try < 10 && !ok; try++ {
					if ok = s.post("/v1/apps/"+app+"/events", []byte(body)); !ok {
						time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
					}
				}
				if !ok {
					t.Errorf("event q-%04d not accepted", i)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// trickle sends events at a steady 5 a second, in turn to each of two apps
// with an unordered endpoint, each on its own goroutine so that a slow
// answer does not slow the rate, and measures each from the moment it was
// sent to its receipt at that app's receiver.
type trickle struct {
	s         *laneSender
	apps      [2]fixture
	receivers [2]*receiver
}

type latencies struct {
	n             int
	p50, p99, max time.Duration
	worst         string        // the event with the max, and when it was sent
	acceptMax     time.Duration // the longest wait for the API's answer, part of the latency
}

func (l latencies) String() string {
	return fmt.Sprintf("%d events, p50 %s, p99 %s, max %s (%s; longest answer of the API %s)", l.n,
		l.p50.Round(time.Millisecond), l.p99.Round(time.Millisecond), l.max.Round(time.Millisecond), l.worst,
		l.acceptMax.Round(time.Millisecond))
}

// run trickles for d, waits for every event's receipt, and returns the
// latencies at each receiver.
func (tr *trickle) run(t *testing.T, prefix string, d time.Duration) [2]latencies {
	t.Helper()
	var mu sync.Mutex
	sent := [2]map[string]time.Time{{}, {}}
	var answered [2]time.Duration // the longest wait for the API's answer
	var wg sync.WaitGroup
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	begin := time.Now()
	for i := 0; time.Since(begin) < d; i++ {
		<-tick.C
		id, k := fmt.Sprintf("%s-%04d", prefix, i), i%2
		wg.Go(func() {
			body := fmt.Sprintf(`{"id":%q,"event_type":%q,"payload":0}`, id, tr.apps[k].eventType)
			at := time.Now()
			for try := 0; !tr.s.post("/v1/apps/"+tr.apps[k].app+"/events", []byte(body)); try++ {
				if try == 10 {
					t.Errorf("event %s not accepted", id)
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
			mu.Lock()
			sent[k][id] = at
			answered[k] = max(answered[k], time.Since(at))
			mu.Unlock()
		})
	}
	wg.Wait()
	var out [2]latencies
	for k, rc := range tr.receivers {
		eventually(t, 3*time.Minute, "the trickle's receipts", func() bool {
			got := map[string]bool{}
			for _, r := range rc.received() {
				got[r.ID] = true
			}
			for id := range sent[k] {
				if !got[id] {
					return false
				}
			}
			return true
		})
		out[k] = trickleLatencies(rc.received(), sent[k], begin)
		out[k].acceptMax = answered[k]
	}
	return out
}

// trickleLatencies gives the latencies from sent to the first receipt of each event.
func trickleLatencies(got []received, sent map[string]time.Time, begin time.Time) latencies {
	var lat []time.Duration
	var l latencies
	seen := map[string]bool{}
	for _, r := range got {
		at, ok := sent[r.ID]
		if !ok || seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		d := r.At.Sub(at)
		lat = append(lat, d)
		if d > l.max {
			l.max, l.worst = d, fmt.Sprintf("%s sent at +%s", r.ID, at.Sub(begin).Round(time.Millisecond))
		}
	}
	slices.Sort(lat)
	l.n = len(lat)
	if l.n > 0 {
		l.p50, l.p99 = lat[l.n/2], lat[l.n*99/100]
	}
	return l
}

// envInt reads a test knob from the environment, def when unset.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}
