package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/herald-hq/herald/schemas"
)

func TestOrderedHandOffIsPrompt(t *testing.T) {
	t.Parallel()
	scenarioOrderedHandOffIsPrompt(t, sharedDev(t))
}

// In production shape the turn must cross processes. With two workflow
// task slots per process (the least the SDK takes), while the head's task
// holds one (its POST runs inside it), the next event's task went to
// another process in every round seen (16 of 16 in four runs); the test
// fails if none does, since it would then test nothing.
//
// A cancel, a replay or a deletion through the API reaches a delivery
// waiting in a worker in the same way (scenarioChangesReachWaitingDeliveries).
func TestProductionShapeHandOffAcrossWorkers(t *testing.T) {
	s := startProdShape(t, "HERALD_WORKER_WORKFLOW_TASKS=2")
	crossed := scenarioOrderedHandOffIsPrompt(t, s)
	if crossed == 0 {
		t.Fatal("no round had its two events' workflows on different workers: the test did not test a hand-off across processes")
	}
	t.Logf("%d rounds handed the turn across workers", crossed)

	// The same sizes put a delivery waiting behind a head under way in
	// another process than the API's, which must then wake it from afar.
	api := strconv.Itoa(s.API.Pid()) + "@"
	remote := 0
	for _, id := range scenarioChangesReachWaitingDeliveries(t, s) {
		if !strings.HasPrefix(id, api) {
			remote++
		}
	}
	if remote == 0 {
		t.Fatal("every waiting delivery waited in the API's process: the test did not test a change reaching another process")
	}
	t.Logf("%d of the changes reached a delivery waiting in a worker", remote)
}

// A lane's turn reaches its next delivery promptly wherever that
// delivery's workflow waits, in production shape often in another worker
// than the one that ends the head. Each round holds the head in a slow
// POST, queues the next event behind it (its workflow waits for the turn
// while the lane moves), and fails that event's first attempt, made by the
// head's drain: the head then ends, the turn passes to the failed event,
// and its retry is due testRetrySchedule's first step later (the workflow
// waits at least 1 s). A turn that reaches its waiter only when the wait
// times out (20 s) shows as a long gap between the failed event's POSTs.
// It returns in how many rounds the two events' workflows ran their first
// tasks in different processes.
func scenarioOrderedHandOffIsPrompt(t *testing.T, p underTest) (crossed int) {
	f := newFixture(t, apiFor(t, p), nil)
	var mu sync.Mutex
	tries := map[string]int{}
	rc := newReceiver(t, func(_ int, r *http.Request) (int, http.Header, time.Duration) {
		id := r.Header.Get("webhook-id")
		mu.Lock()
		tries[id]++
		n := tries[id]
		mu.Unlock()
		switch {
		case strings.HasPrefix(id, "slow-"):
			return 200, nil, 1500 * time.Millisecond
		case strings.HasPrefix(id, "fail-") && n == 1:
			return 500, nil, 0
		}
		return 200, nil, 0
	})
	f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": true})
	tc := temporalClient(t, p)
	const rounds = 4
	const promptly = 5 * time.Second
	for i := range rounds {
		slow, fail := fmt.Sprintf("slow-%d", i), fmt.Sprintf("fail-%d", i)
		f.send(t, slow, map[string]int{"i": i})
		eventually(t, 30*time.Second, slow+"'s POST", func() bool { return len(postsOf(rc, slow)) == 1 })
		f.send(t, fail, map[string]int{"i": i})
		eventually(t, time.Minute, fail+"'s retry", func() bool { return len(postsOf(rc, fail)) == 2 })
		posts := postsOf(rc, fail)
		if gap := posts[1].At.Sub(posts[0].At); gap > promptly {
			t.Errorf("round %d: %s was tried again %s after its first attempt failed (retry due after 200ms): the turn reached it late",
				i, fail, gap.Round(time.Millisecond))
		}
		if firstWorker(t, tc, f.app, slow) != firstWorker(t, tc, f.app, fail) {
			crossed++
		}
	}
	return crossed
}

// firstWorker is the identity of the worker that ran the first task of an
// event's workflow.
func firstWorker(t *testing.T, tc client.Client, app, id string) string {
	t.Helper()
	for _, e := range historyOf(context.Background(), t, tc, schemas.EventWorkflowID(app, id)) {
		if a := e.GetWorkflowTaskStartedEventAttributes(); a != nil {
			return a.Identity
		}
	}
	t.Fatalf("history of %s: no workflow task started", id)
	return ""
}

// postsOf is what rc received for event id, in arrival order.
func postsOf(rc *receiver, id string) []received {
	var out []received
	for _, r := range rc.received() {
		if r.ID == id {
			out = append(out, r)
		}
	}
	return out
}
