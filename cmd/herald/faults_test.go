package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/netcut"
	"github.com/herald-hq/herald/schemas"
)

// load is a stream of events to one ordered and two unordered endpoints,
// with what the API accepted and what each receiver got: enough to tell
// whether a fault lost an accepted event, broke an ordered lane's order or
// delivered twice.
type load struct {
	t         *testing.T
	p         underTest
	f         fixture
	ordered   *receiver
	unordered []*receiver

	mu          sync.Mutex
	firstTry    []string // accepted at the first POST, in acceptance order
	retried     []string // the first POST failed (no answer, or 5xx); accepted later
	unavailable int      // 503 answers: the API could not accept, and said so
	pace        time.Duration
}

func newLoad(t *testing.T, p underTest, delay time.Duration) *load {
	l := &load{t: t, p: p, f: newFixture(t, apiFor(t, p), nil)}
	slow := func(int, *http.Request) (int, http.Header, time.Duration) { return 200, nil, delay }
	l.ordered = newReceiver(t, slow)
	l.f.endpoint(t, map[string]any{"url": l.ordered.URL(), "ordered": true})
	for range 2 {
		rc := newReceiver(t, slow)
		l.f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": false})
		l.unordered = append(l.unordered, rc)
	}
	return l
}

// tryPost posts one event and reports whether the API accepted it. A
// network error or a 5xx is "not accepted": the client must retry.
func (l *load) tryPost(id string) bool {
	base, token := l.p.apiBase()
	body, _ := json.Marshal(map[string]any{"id": id, "event_type": l.f.eventType, "payload": map[string]string{"id": id}})
	req, _ := http.NewRequest("POST", base+"/v1/apps/"+l.f.app+"/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case 200, 202:
		return true
	case 503:
		l.mu.Lock()
		l.unavailable++
		l.mu.Unlock()
		return false
	}
	l.t.Errorf("POST event %s: status %d", id, resp.StatusCode)
	return false
}

// post posts ids one after another, as one client would.
func (l *load) post(ids []string) {
	for _, id := range ids {
		time.Sleep(l.pace)
		ok := l.tryPost(id)
		l.mu.Lock()
		if ok {
			l.firstTry = append(l.firstTry, id)
		} else {
			l.retried = append(l.retried, id)
		}
		l.mu.Unlock()
	}
}

// postInBackground posts n events named prefix-NNN; wait for it with the
// returned function.
func (l *load) postInBackground(prefix string, n int) (wait func()) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.post(ids)
	}()
	return func() { <-done }
}

// retryRejected posts again, until accepted, every event whose first POST
// failed: what a client does with a request that got no answer or a 5xx.
func (l *load) retryRejected(timeout time.Duration) {
	l.mu.Lock()
	ids := append([]string(nil), l.retried...)
	l.mu.Unlock()
	for _, id := range ids {
		eventually(l.t, timeout, "event "+id+" to be accepted on retry", func() bool { return l.tryPost(id) })
	}
}

func (l *load) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append(append([]string(nil), l.firstTry...), l.retried...)
}

// waitDelivered waits until every accepted event reached all three
// receivers and the API calls it delivered.
func (l *load) waitDelivered(timeout time.Duration) {
	ids := l.all()
	eventually(l.t, timeout, fmt.Sprintf("%d events at every receiver", len(ids)), func() bool {
		for _, rc := range append([]*receiver{l.ordered}, l.unordered...) {
			seen := map[string]bool{}
			for _, r := range rc.received() {
				seen[r.ID] = true
			}
			for _, id := range ids {
				if !seen[id] {
					return false
				}
			}
		}
		return true
	})
	for _, id := range ids {
		l.f.waitStatus(l.t, id, schemas.EventDelivered, timeout)
	}
}

// check fails the test if the ordered lane went out of order among the
// events accepted at the first try, and returns the duplicates (arrivals
// beyond the first of an event at an endpoint), which at-least-once
// delivery allows after a crash.
func (l *load) check() (duplicates int) {
	l.mu.Lock()
	pos := map[string]int{}
	for i, id := range l.firstTry {
		pos[id] = i
	}
	l.mu.Unlock()
	maxPos := -1
	var seq []string
	for _, r := range l.ordered.received() {
		i, ok := pos[r.ID]
		if !ok {
			continue
		}
		seq = append(seq, r.ID)
		if i < maxPos {
			l.t.Errorf("ordered endpoint got %s after a later event; arrivals: %s", r.ID, strings.Join(seq, " "))
			break
		}
		maxPos = max(maxPos, i)
	}
	for _, rc := range append([]*receiver{l.ordered}, l.unordered...) {
		seen := map[string]bool{}
		for _, r := range rc.received() {
			if seen[r.ID] {
				duplicates++
			}
			seen[r.ID] = true
		}
	}
	return duplicates
}

// With the API's own worker off (HERALD_EAGER_START=false), the two
// workers share the deliveries (each one's /metrics counts attempts); one
// of them killed with kill -9 in the middle of deliveries and of an
// ordered drain, the other finishes everything.
func faultWorkersShareAndFailOver(t *testing.T, s *prodShape) {
	ctx := context.Background()
	if err := s.API.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	s.API.SetEnv("HERALD_EAGER_START=false")
	if err := s.Restart(ctx, s.API); err != nil {
		t.Fatal(err)
	}
	attempts := func(i int) float64 {
		return metricValue(getText(t, "http://"+s.Workers[i].HTTPAddr+"/metrics"), "herald_attempts_total")
	}
	before := []float64{attempts(0), attempts(1)}
	l := newLoad(t, s, 20*time.Millisecond)
	l.postInBackground("share", 30)()
	l.waitDelivered(2 * time.Minute)
	for i := range s.Workers {
		if got := attempts(i) - before[i]; got <= 0 {
			t.Errorf("worker %d made %v attempts of 90 deliveries: the work did not spread", i+1, got)
		} else {
			t.Logf("worker %d made %v attempts", i+1, got)
		}
	}

	l2 := newLoad(t, s, 50*time.Millisecond)
	wait := l2.postInBackground("failover", 60)
	eventually(t, time.Minute, "deliveries under way", func() bool { return l2.ordered.count() >= 15 })
	s.Workers[0].Kill()
	t.Logf("killed worker 1 after %d ordered deliveries", l2.ordered.count())
	wait()
	l2.retryRejected(time.Minute)
	l2.waitDelivered(3 * time.Minute)
	t.Logf("worker killed mid-delivery: %d events, %d duplicate deliveries", len(l2.all()), l2.check())
	if err := s.Restart(ctx, s.Workers[0]); err != nil {
		t.Fatal(err)
	}
}

// The API killed with kill -9 while a client posts: every event it
// accepted is delivered; those it did not answer are accepted when the
// client posts them again, and delivered too.
func faultKillAPI(t *testing.T, s *prodShape) {
	ctx := context.Background()
	l := newLoad(t, s, 10*time.Millisecond)
	wait := l.postInBackground("apikill", 60)
	eventually(t, time.Minute, "events accepted", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.firstTry) >= 20
	})
	s.API.Kill()
	wait()
	if err := s.Restart(ctx, s.API); err != nil {
		t.Fatal(err)
	}
	l.retryRejected(time.Minute)
	l.waitDelivered(3 * time.Minute)
	t.Logf("API killed under load: %d events (%d posted again), %d duplicate deliveries", len(l.all()), len(l.retried), l.check())
}

// The Temporal server killed with kill -9 under load and started again:
// the API answers 503 meanwhile (nothing is accepted that is then lost),
// and delivery resumes by itself.
func faultRestartTemporal(t *testing.T, s *prodShape) {
	ctx := context.Background()
	l := newLoad(t, s, 10*time.Millisecond)
	l.pace = 50 * time.Millisecond // still posting while the server is down
	wait := l.postInBackground("tkill", 80)
	eventually(t, time.Minute, "deliveries under way", func() bool { return l.ordered.count() >= 15 })
	s.Temporal.Kill()
	start := time.Now()
	if err := s.Temporal.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Temporal.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("Temporal server back in %s", time.Since(start).Round(time.Millisecond))
	wait()
	l.retryRejected(2 * time.Minute)
	l.waitDelivered(3 * time.Minute)
	t.Logf("Temporal restarted under load: %d events (%d posted again, %d answers 503), %d duplicate deliveries",
		len(l.all()), len(l.retried), l.unavailable, l.check())
}

// Postgres taken away from Herald's processes under load, as a restart
// (connections closed, new ones refused) and then as an unreachable host
// (connections hang), and given back: meanwhile the API answers 503, never
// 500, and /readyz says not ready; every event it accepted is delivered
// once the database is back, the ordered lane in order.
func faultDatabaseOutage(t *testing.T, s *prodShape) {
	l := newLoad(t, s, 10*time.Millisecond)
	l.pace = 50 * time.Millisecond // still posting while the database is away
	// Enough that posting goes on through both cuts (10 s at the pace
	// alone), however fast the first deliveries come.
	wait := l.postInBackground("dbdown", 200)
	eventually(t, time.Minute, "deliveries under way", func() bool { return l.ordered.count() >= 15 })
	refusedFrom := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.unavailable
	}
	for _, m := range []struct {
		name string
		mode netcut.Mode
	}{{"refusing connections", netcut.Refuse}, {"hanging", netcut.Hold}} {
		s.DatabaseLink.Set(m.mode)
		before := refusedFrom()
		eventually(t, time.Minute, "503s from the API with the database "+m.name, func() bool { return refusedFrom() >= before+2 })
		if r := apiFor(t, s).do("GET", "/readyz", nil).Status; r != 503 {
			t.Errorf("/readyz with the database %s: %d, want 503", m.name, r)
		}
		t.Logf("database %s: %d ordered deliveries so far", m.name, l.ordered.count())
	}
	s.DatabaseLink.Set(netcut.Pass)
	wait()
	l.retryRejected(2 * time.Minute)
	l.waitDelivered(3 * time.Minute)
	t.Logf("database away under load: %d events (%d posted again, %d answers 503), %d duplicate deliveries",
		len(l.all()), len(l.retried), l.unavailable, l.check())
}
