//go:build !nodev

package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
)

// A burst into one ordered lane, longer than a drain may make (512): each
// event arrives once, in acceptance order, and the lane passes from drain
// to drain. A drain past 256 deliveries hands its lane to an heir whose
// workflow waits in the process (activities, heirFrom), so some event
// between the 257th and the 513th holds the lane and drains; without heirs
// only the first event and the 513th would. The head's POST waits for the
// burst (holdHead, for as long as the POST's timeout allows), so the first
// drain has much of it behind it wherever accepting is slower than
// delivering.
func TestOrderedBurstPassesItsLaneOn(t *testing.T) {
	t.Parallel()
	p := sharedDev(t)
	f := newFixture(t, apiFor(t, p), nil)
	const n = 600
	var accepted atomic.Int64
	rc := newReceiver(t, holdHead(&accepted, n, 2*time.Second, 0)) // sharedDev's POSTs time out after 3 s
	f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": true})
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("burst-%03d", i)
		f.send(t, ids[i], map[string]int{"i": i})
		accepted.Add(1)
	}
	eventually(t, 3*time.Minute, "the burst's deliveries", func() bool { return rc.count() >= n })
	if got := idsOf(rc.received()); !slices.Equal(got, ids) {
		at := map[string][]int{}
		for i, id := range got {
			at[id] = append(at[id], i)
		}
		for id, is := range at {
			if len(is) > 1 {
				var ev map[string]any
				f.api.must(200, "GET", "/v1/apps/"+f.app+"/events/"+id, nil, &ev)
				t.Logf("%s arrived at %v: %v", id, is, ev["deliveries"])
			}
		}
		t.Fatalf("arrived out of order or twice: %d requests for %d events", len(got), n)
	}
	for _, id := range []string{ids[0], ids[n-1]} {
		f.waitStatus(t, id, schemas.EventDelivered, 30*time.Second)
	}

	tc := temporalClient(t, p)
	ctx := context.Background()
	var holders []string
	for _, id := range ids[257:513] {
		for _, e := range historyOf(ctx, t, tc, schemas.EventWorkflowID(f.app, id)) {
			m := e.GetMarkerRecordedEventAttributes()
			if m == nil {
				continue
			}
			for _, ps := range m.GetDetails() {
				for _, pl := range ps.GetPayloads() {
					if bytes.Contains(pl.GetData(), []byte(`"drained":[`)) {
						holders = append(holders, id)
					}
				}
			}
		}
		if len(holders) > 0 {
			break
		}
	}
	if len(holders) == 0 {
		t.Fatal("no event between the 257th and the 513th drained: no drain handed its lane to an heir")
	}
	t.Logf("%s took the lane from a drain and drained on", holders[0])
}

// A `kill -9` while a drain's heir holds the lane (its success recorded,
// its workflow not yet on) loses nothing and breaks no order: after the
// restart every accepted event arrives, first receipts in acceptance order
// (the lane's seq order, read from the store). The test watches the store
// (read-only, beside the running process) for an heir and kills at once
// when it sees one.
//
// An heir needs a drain with a backlog behind it: the head's POST is held
// until 64 events wait behind it (holdHead), and each POST takes 20 ms.
// Drains are of 32 (HERALD_LANE_DRAIN_MAX), so each chooses an heir from
// its 16th delivery on, and an heir is on record from the POST after its
// own until the drain ends. With the default 512 a drain had to pass 256
// deliveries in one go: on a machine busy enough that accepts came slower
// than the lane delivered, none did, and no heir was ever seen.
func TestKillNineWhileAnHeirHoldsTheLane(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startDev(t, dir, map[string]string{"HERALD_LANE_DRAIN_MAX": "32"})
	var accepted atomic.Int64
	rc := newReceiver(t, holdHead(&accepted, 64, 8*time.Second, 20*time.Millisecond))
	p.api.must(201, "POST", "/v1/apps", map[string]any{"id": "lane", "name": "Lane"}, nil)
	p.api.must(201, "POST", "/v1/event-types", map[string]any{"name": "lane.test"}, nil)
	p.api.must(201, "POST", "/v1/apps/lane/endpoints", map[string]any{"url": rc.URL(), "ordered": true}, nil)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "herald.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	heirs := func() int {
		var n int
		err := db.QueryRow(`SELECT COUNT(*) FROM deliveries d WHERE d.status = 'delivering' AND EXISTS (
			SELECT 1 FROM attempts a WHERE a.app_id = d.app_id AND a.event_id = d.event_id
			AND a.endpoint_id = d.endpoint_id AND a.attempt_key LIKE 'drain/%' AND a.outcome = 'succeeded')`).Scan(&n)
		if err != nil {
			return 0 // busy under the writer: ask again
		}
		return n
	}

	const n = 1200
	s := &laneSender{base: p.api.base, token: p.api.token}
	ids := make(chan string, n)
	for i := range n {
		ids <- fmt.Sprintf("ev-%04d", i)
	}
	close(ids)
	stop := make(chan struct{})
	var senders sync.WaitGroup
	// A t.Fatal below returns through here: no sender outlives the test.
	defer func() {
		close(stop)
		senders.Wait()
	}()
	for range 8 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for id := range ids {
				body, _ := json.Marshal(map[string]any{"id": id, "event_type": "lane.test", "payload": id})
				for try := 0; !s.post("/v1/apps/lane/events", body); try++ {
					if try > 600 {
						t.Errorf("%s never accepted", id)
						return
					}
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond): // Herald is down: the same id again
					}
				}
				accepted.Add(1)
			}
		}()
	}
	// An heir holds the lane from its record until its own workflow
	// adopts it and drains on: looked for as fast as the store answers,
	// not at eventually's pace.
	deadline := time.Now().Add(3 * time.Minute)
	for heirs() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no drain's heir ever held the lane (%d accepted, %d received)", accepted.Load(), rc.count())
		}
		time.Sleep(time.Millisecond)
	}
	p.kill()
	t.Logf("killed with %d received, %d heirs on record", rc.count(), heirs())
	p.env["HERALD_HTTP_ADDR"] = freeAddr(t)
	p.start()
	s.setBase(p.api.base)
	senders.Wait()

	var want []string
	rows, err := db.Query(`SELECT event_id FROM deliveries WHERE app_id = 'lane' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(want) != n {
		t.Fatalf("%d events stored, want %d", len(want), n)
	}
	got := deliveredInOrder(t, rc, want)
	t.Logf("%d events, %d receipts (a POST under way at the kill may be made again)", len(want), len(got))
}

// holdHead answers the lane's first POST only once backlog events are
// accepted behind it, or after maxHold, which must be well inside the
// POST's timeout (the head's POST made again would arrive twice); every
// POST after is answered after delay. Without the hold, a lane whose
// events are accepted more slowly than they are POSTed (a loaded machine,
// -race) keeps up with its senders: every drain is short and none reaches
// heirFrom.
func holdHead(accepted *atomic.Int64, backlog int64, maxHold, delay time.Duration) func(int, *http.Request) (int, http.Header, time.Duration) {
	return func(n int, _ *http.Request) (int, http.Header, time.Duration) {
		for held := time.Now(); n == 1 && accepted.Load() < backlog && time.Since(held) < maxHold; {
			time.Sleep(10 * time.Millisecond)
		}
		return http.StatusOK, nil, delay
	}
}
