package store_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

func testRateToken(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", false)
	take := func(perSecond int, now time.Time) time.Duration {
		t.Helper()
		w, err := s.TakeRateToken(ctx, "ep_1", perSecond, now)
		must(t, err)
		return w
	}
	// Capacity 2: two at once, then wait half a second for the next.
	if take(2, at(0)) != 0 || take(2, at(0)) != 0 {
		t.Fatal("full bucket refused")
	}
	if w := take(2, at(0)); w != 500*time.Millisecond {
		t.Fatalf("wait %v, want 500ms", w)
	}
	// Waiting takes nothing: after 250ms half a token, so 250ms more.
	if w := take(2, at(0).Add(250*time.Millisecond)); w != 250*time.Millisecond {
		t.Fatalf("wait %v, want 250ms", w)
	}
	if w := take(2, at(0).Add(500*time.Millisecond)); w != 0 {
		t.Fatalf("after the wait: %v", w)
	}
	// Refill never exceeds capacity.
	if take(2, at(100)) != 0 || take(2, at(100)) != 0 || take(2, at(100)) == 0 {
		t.Fatal("bucket grew past capacity")
	}
	if take(0, at(100)) != 0 {
		t.Fatal("no limit waited")
	}
	_, err := s.TakeRateToken(ctx, "nope", 1, at(0))
	wantErr(t, err, schemas.KindNotFound, "endpoint_not_found")
}

func testRateTokenConcurrent(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", false)
	const n = 30
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		taken int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := s.TakeRateToken(ctx, "ep_1", 10, at(0))
			if err != nil {
				t.Error(err)
				return
			}
			if w == 0 {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if taken != 10 {
		t.Fatalf("%d tokens taken from a bucket of 10", taken)
	}
}

func testAutoDisable(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	mkEndpoint(t, s, "app_1", "ep_2", true)
	accept(t, s, "app_1", "evt_1", "a", 0)
	note := func(ok bool, sec int) bool {
		t.Helper()
		d, err := s.NoteEndpointResult(ctx, "ep_1", ok, at(sec), 100*time.Second)
		must(t, err)
		return d
	}
	if note(false, 0) || note(false, 50) {
		t.Fatal("disabled too soon")
	}
	if note(true, 60) { // success ends the streak
		t.Fatal("disabled on success")
	}
	if note(false, 70) || note(false, 169) {
		t.Fatal("disabled too soon after the streak restarted")
	}
	if !note(false, 170) {
		t.Fatal("not disabled after 100s of failures")
	}
	if note(false, 180) {
		t.Fatal("disabled twice")
	}
	ep, err := s.GetEndpoint(ctx, "app_1", "ep_1")
	must(t, err)
	if !ep.Disabled || ep.DisabledReason != store.DisabledReasonFailing || ep.DisabledAt == nil || !ep.DisabledAt.Equal(at(170)) {
		t.Fatalf("endpoint %+v", ep)
	}
	ev := getEvent(t, s, "app_1", "evt_1")
	if !reflect.DeepEqual(deliveryStatuses(ev), map[string]schemas.DeliveryStatus{"ep_1": "cancelled", "ep_2": "pending"}) {
		t.Fatalf("deliveries %v", deliveryStatuses(ev))
	}
	// Enabled again, the old streak is forgotten.
	ep.Disabled, ep.DisabledReason, ep.DisabledAt, ep.UpdatedAt = false, "", nil, at(200)
	_, err = s.UpdateEndpoint(ctx, ep)
	must(t, err)
	if note(false, 201) {
		t.Fatal("disabled on the old streak")
	}
	// disableAfter 0: never.
	d, err := s.NoteEndpointResult(ctx, "ep_2", false, at(0), 0)
	must(t, err)
	d2, err := s.NoteEndpointResult(ctx, "ep_2", false, at(1_000_000), 0)
	must(t, err)
	if d || d2 {
		t.Fatal("disabled with disableAfter 0")
	}
	// Unknown endpoint: nothing to do.
	if d, err := s.NoteEndpointResult(ctx, "nope", false, at(0), time.Second); d || err != nil {
		t.Fatalf("unknown endpoint: %v %v", d, err)
	}
}
