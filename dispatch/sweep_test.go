package dispatch_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/dispatch"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// outbox is an in-memory outbox: the store's own is tested in store.
type outbox struct {
	mu    sync.Mutex
	notes map[string]string // event id -> kind
}

func (o *outbox) ListUndispatched(_ context.Context, _ time.Time, limit int) ([]store.Undispatched, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []store.Undispatched
	for id, kind := range o.notes {
		out = append(out, store.Undispatched{AppID: "app_1", EventID: id, Dispatch: kind})
	}
	return out, nil
}

func (o *outbox) ClearDispatch(_ context.Context, _, eventID, kind string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.notes[eventID] == kind {
		delete(o.notes, eventID)
	}
	return nil
}

// An event stored but never started (the API died between its commit and
// its Temporal call) is started by the sweep, and re-queued deliveries of a
// closed event reach a new run; each note is cleared once sent.
func TestSweepStartsWhatWasLeft(t *testing.T) {
	f := newFixture(t)
	f.src.mu.Lock()
	f.src.targets["evt_left"] = []schemas.Target{{EndpointID: "ep_a"}}
	f.src.mu.Unlock()
	ob := &outbox{notes: map[string]string{"evt_left": store.DispatchStart}}
	sw := dispatch.NewSweeper(f.d, ob, dispatch.SweepConfig{}, nil)
	sweep(t, sw, ob)
	if got := f.wait(t, "evt_left"); got != schemas.EventDelivered || f.acts.calls("evt_left/ep_a") != 1 {
		t.Fatalf("HeraldStatus %q, calls %d", got, f.acts.calls("evt_left/ep_a"))
	}
	// Re-queued after its run closed; the signal was never sent.
	ob.mu.Lock()
	ob.notes["evt_left"] = store.DispatchReplay
	ob.mu.Unlock()
	sweep(t, sw, ob)
	if got := f.wait(t, "evt_left"); got != schemas.EventDelivered || f.acts.calls("evt_left/ep_a") != 2 {
		t.Fatalf("after replay: HeraldStatus %q, calls %d", got, f.acts.calls("evt_left/ep_a"))
	}
}

// sweep sweeps until the outbox is empty: a note the server was too slow to
// take stays for the next sweep, as in production.
func sweep(t *testing.T, sw *dispatch.Sweeper, ob *outbox) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := sw.Sweep(context.Background(), time.Now()); err != nil {
			t.Fatal(err)
		}
		ob.mu.Lock()
		left := len(ob.notes)
		ob.mu.Unlock()
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d notes left after 90 s of sweeps", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
