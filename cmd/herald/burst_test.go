package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
)

// A burst into one ordered lane, longer than a drain may make (512): each
// event arrives once, in acceptance order, and the lane passes from drain
// to drain. A drain past 256 deliveries hands its lane to an heir whose
// workflow waits in the process (activities, heirFrom), so some event
// between the 257th and the 513th holds the lane and drains; without heirs
// only the first event and the 513th would.
func TestOrderedBurstPassesItsLaneOn(t *testing.T) {
	t.Parallel()
	p := sharedDev(t)
	f := newFixture(t, apiFor(t, p), nil)
	rc := newReceiver(t, nil)
	f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": true})
	const n = 600
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("burst-%03d", i)
		f.send(t, ids[i], map[string]int{"i": i})
	}
	eventually(t, 3*time.Minute, "the burst's deliveries", func() bool { return rc.count() >= n })
	if got := idsOf(rc.received()); !slices.Equal(got, ids) {
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
