//go:build !nodev

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/store"
)

// An ordered lane resumes at once when `herald dev` is killed with SIGKILL
// under load and started again, even when the kill left accepted events
// without their workflow (the API died between its commit and its start):
// the start-up sweep of the outbox starts them, where a lane used to wait
// for a re-check of the delivery behind (30 s and more), and the start-up
// repair wakes the lane a killed drain held. Measured: the
// time from the restarted process answering /readyz to the next receipt,
// and the longest time after it with deliveries owed and none arriving.
func TestOrderedLaneResumesAfterKillNine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startDev(t, dir, nil)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) {
		return 200, nil, 300 * time.Millisecond // slower than the sender: a backlog builds
	})
	p.api.must(201, "POST", "/v1/apps", map[string]any{"id": "lane", "name": "Lane"}, nil)
	p.api.must(201, "POST", "/v1/event-types", map[string]any{"name": "lane.test"}, nil)
	var ep createdEndpoint
	p.api.must(201, "POST", "/v1/apps/lane/endpoints", map[string]any{"url": rc.URL(), "ordered": true}, &ep)

	s := &laneSender{base: p.api.base, token: p.api.token}
	stop := s.run("lane", "lane.test")
	eventually(t, 2*time.Minute, "deliveries and a backlog before the kill", func() bool {
		n := rc.count()
		return n >= 10 && s.count()-n >= 5
	})
	// No send in flight at the kill, so that the test knows the order the
	// events were accepted in; deliveries are.
	s.gate.Lock()
	p.kill()
	t.Logf("killed with %d events accepted, %d received", s.count(), rc.count())

	// What an API killed between its commit and its workflow start leaves:
	// accepted events in the lane, noted in the outbox, with no workflow.
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		id := fmt.Sprintf("orphan-%d", i)
		_, _, _, err := st.AcceptEvent(context.Background(), store.NewEvent{AppID: "lane", ID: id,
			EventType: "lane.test", Payload: json.RawMessage(`{}`), CreatedAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		s.accepted(id)
	}
	st.Close()

	p.env["HERALD_HTTP_ADDR"] = freeAddr(t)
	p.start()
	ready := time.Now()
	s.setBase(p.api.base)
	s.gate.Unlock()
	eventually(t, 2*time.Minute, "a few more events accepted", func() bool { return s.count() >= s.countAt(ready)+20 })
	stop()

	// Acceptance order is kept: the first receipts come in the order the
	// events were accepted (the orphans where the store put them).
	want := s.ids()
	got := deliveredInOrder(t, rc, want)
	resume, stall := laneGaps(got, ready)
	t.Logf("after the restart: first receipt %s after ready, longest gap %s; %d events", resume, stall, len(want))
	// Generous for -race on a loaded 2-core machine (measured there with
	// the start-up repair: 0.17–1.3 s to the first receipt, gaps up to
	// 3.3 s at 300 ms a receipt, load 11); without the start-up sweep the
	// lane waited 19.5 s here, and 30–67 s in the runs; without the
	// repair (store.RecoverAfterCrash), 13.5 s once in CI, when the kill
	// caught a holder's workflow task mid-drain. A head killed during its
	// own POST still waits for its workflow task's timeout (10 s).
	const bound = 10 * time.Second
	if resume > bound || stall > bound {
		t.Errorf("the lane resumed %s after the restart and then stalled up to %s; want both within %s", resume, stall, bound)
	}
}

// deliveredInOrder waits until rc has received every event of want, checks
// that their first receipts came in want's order, and returns every
// receipt.
func deliveredInOrder(t *testing.T, rc *receiver, want []string) []received {
	t.Helper()
	eventually(t, 3*time.Minute, "every accepted event delivered", func() bool {
		seen := map[string]bool{}
		for _, r := range rc.received() {
			seen[r.ID] = true
		}
		return !slices.ContainsFunc(want, func(id string) bool { return !seen[id] })
	})
	got := rc.received()
	var first []string
	seen := map[string]bool{}
	for _, r := range got {
		if !seen[r.ID] {
			seen[r.ID] = true
			first = append(first, r.ID)
		}
	}
	if !slices.Equal(first, want) {
		t.Fatalf("receipt order differs from acceptance order:\ngot  %v\nwant %v", first, want)
	}
	return got
}

// laneGaps gives the time from ready to the first receipt after it, and
// the longest time between two receipts after that.
func laneGaps(got []received, ready time.Time) (resume, stall time.Duration) {
	last := time.Time{}
	for _, r := range got {
		if r.At.Before(ready) {
			continue
		}
		if last.IsZero() {
			resume = r.At.Sub(ready)
		} else {
			stall = max(stall, r.At.Sub(last))
		}
		last = r.At
	}
	return resume, stall
}

// laneSender posts events one at a time (so the order they are accepted
// in is the order they are sent in) until stopped, trying an event again
// with its id while Herald is down.
type laneSender struct {
	gate    sync.Mutex // held by each send; holding it pauses the sender
	mu      sync.Mutex
	base    string
	token   string
	order   []string    // event ids in acceptance order
	times   []time.Time // when each was accepted
	stopped bool
}

func (s *laneSender) run(app, eventType string) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			id := fmt.Sprintf("ev-%04d", i)
			body, _ := json.Marshal(map[string]any{"id": id, "event_type": eventType, "payload": i})
			for !s.send(id, "/v1/apps/"+app+"/events", body) {
				if s.isStopped() {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			if s.isStopped() {
				return
			}
		}
	}()
	return func() {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		<-done
	}
}

// send posts one event under the gate and notes it when accepted.
func (s *laneSender) send(id, path string, body []byte) bool {
	s.gate.Lock()
	defer s.gate.Unlock()
	ok := s.post(path, body)
	if ok {
		s.accepted(id)
	}
	return ok
}

// post sends body and reports whether it was accepted (202, or 200 for an
// id accepted by an earlier try whose answer was lost).
func (s *laneSender) post(path string, body []byte) bool {
	s.mu.Lock()
	url, token := s.base+path, s.token
	s.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK
}

func (s *laneSender) accepted(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.order = append(s.order, id)
	s.times = append(s.times, time.Now())
}

func (s *laneSender) setBase(base string) {
	s.mu.Lock()
	s.base = base
	s.mu.Unlock()
}

func (s *laneSender) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

func (s *laneSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order)
}

// countAt is how many events were accepted before at.
func (s *laneSender) countAt(at time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, _ := slices.BinarySearchFunc(s.times, at, func(a, b time.Time) int { return a.Compare(b) })
	return n
}

func (s *laneSender) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}
