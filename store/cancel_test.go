package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// testCancelUpTo: a cancel covers the generations it found. The workflow's
// cancel step, which may run after a replay or recover re-queued a
// delivery, passes that bound and leaves the re-queued delivery pending;
// a cancel after the re-queue finds the new generation and cancels it.
func testCancelUpTo(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_o", true)
	mkEndpoint(t, s, "app_1", "ep_u", false)
	accept(t, s, "app_1", "evt_1", "a", 1)
	record(t, s, "app_1", "evt_1", "ep_u", schemas.DeliveryFailed, 2)

	// The API's cancel: the failed delivery stays failed.
	st, upTo, err := s.CancelDeliveries(ctx, "app_1", "evt_1", nil, at(3))
	must(t, err)
	if want := (schemas.Generations{"ep_o": 1, "ep_u": 1}); !reflect.DeepEqual(upTo, want) {
		t.Fatalf("cancel found %v, want %v", upTo, want)
	}
	if st != schemas.EventFailed || status(t, s, "app_1", "evt_1", "ep_o") != schemas.DeliveryCancelled ||
		status(t, s, "app_1", "evt_1", "ep_u") != schemas.DeliveryFailed {
		t.Fatalf("after the cancel: event %s, %v", st, deliveryStatuses(getEvent(t, s, "app_1", "evt_1")))
	}

	// A replay and a recover accepted after it...
	_, err = s.PrepareReplay(ctx, "app_1", "evt_1", "ep_o", at(4))
	must(t, err)
	_, err = s.RecoverFailed(ctx, "app_1", "ep_u", at(0), at(5), at(5))
	must(t, err)
	// ...are not undone by the workflow's cancel step running late.
	st, _, err = s.CancelDeliveries(ctx, "app_1", "evt_1", upTo, at(6))
	must(t, err)
	if st != schemas.EventPending || status(t, s, "app_1", "evt_1", "ep_o") != schemas.DeliveryPending ||
		status(t, s, "app_1", "evt_1", "ep_u") != schemas.DeliveryPending {
		t.Fatalf("the late cancel step undid the replay: event %s, %v", st, deliveryStatuses(getEvent(t, s, "app_1", "evt_1")))
	}

	// A cancel after the replay wins over it, and its own late step holds.
	st, upTo, err = s.CancelDeliveries(ctx, "app_1", "evt_1", nil, at(7))
	must(t, err)
	if want := (schemas.Generations{"ep_o": 2, "ep_u": 2}); !reflect.DeepEqual(upTo, want) || st != schemas.EventCancelled {
		t.Fatalf("second cancel: event %s, found %v, want %v", st, upTo, want)
	}
	if _, _, err := s.CancelDeliveries(ctx, "app_1", "evt_1", upTo, at(8)); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []string{"ep_o", "ep_u"} {
		if got := status(t, s, "app_1", "evt_1", ep); got != schemas.DeliveryCancelled {
			t.Fatalf("%s after the second cancel: %s", ep, got)
		}
	}

	// What the bound does not name (an endpoint left out, a generation 0
	// from a target older than generations) is covered.
	_, err = s.PrepareReplay(ctx, "app_1", "evt_1", "", at(9))
	must(t, err)
	_, _, err = s.CancelDeliveries(ctx, "app_1", "evt_1", schemas.Generations{"ep_u": 0}, at(10))
	must(t, err)
	if a, b := status(t, s, "app_1", "evt_1", "ep_o"), status(t, s, "app_1", "evt_1", "ep_u"); a != schemas.DeliveryCancelled || b != schemas.DeliveryCancelled {
		t.Fatalf("unbounded cancel: %s %s", a, b)
	}

	if _, _, err := s.CancelDeliveries(ctx, "app_1", "nope", nil, at(11)); !schemas.IsNotFound(err) {
		t.Fatalf("unknown event: %v", err)
	}
}
