package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// testConcurrentRecorders ends every delivery of many events from concurrent
// recorders at once (as two workers do on Postgres): the stored event status
// must follow its deliveries, never stay pending behind a missed commit.
func testConcurrentRecorders(t *testing.T, s *store.Store) {
	ctx := context.Background()
	const endpoints, events = 6, 25
	mkApp(t, s, "app_1")
	for i := range endpoints {
		mkEndpoint(t, s, "app_1", fmt.Sprintf("ep_%d", i), i%2 == 0)
	}
	for e := range events {
		accept(t, s, "app_1", fmt.Sprintf("evt_%d", e), "a", e)
	}
	var wg sync.WaitGroup
	for e := range events {
		for i := range endpoints {
			wg.Add(1)
			go func() {
				defer wg.Done()
				evID, epID := fmt.Sprintf("evt_%d", e), fmt.Sprintf("ep_%d", i)
				var err error
				switch {
				case e%5 == 4 && i == 0:
					// A cancel racing the recorders: its own status must count too.
					_, err = s.SetDeliveryStatus(ctx, "app_1", evID, []string{epID}, schemas.DeliveryCancelled, at(e))
				default:
					fin := at(e + 1)
					_, _, err = s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: evID, EndpointID: epID,
						StartedAt: at(e), DurationMS: 3, ResponseStatus: 200, Status: schemas.DeliverySucceeded, FinishedAt: &fin})
				}
				if err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	for e := range events {
		ev := getEvent(t, s, "app_1", fmt.Sprintf("evt_%d", e))
		want := schemas.EventDelivered
		if e%5 == 4 {
			want = schemas.EventCancelled
		}
		if ev.Status != want {
			t.Errorf("event %s is %s, want %s (deliveries %v)", ev.ID, ev.Status, want, deliveryStatuses(ev))
		}
	}
}

// testDisableRacesRecorders disables an endpoint while the other deliveries
// of its events are recorded: every event ends cancelled, none pending.
func testDisableRacesRecorders(t *testing.T, s *store.Store) {
	ctx := context.Background()
	const endpoints, events = 4, 20
	mkApp(t, s, "app_1")
	for i := range endpoints {
		mkEndpoint(t, s, "app_1", fmt.Sprintf("ep_%d", i), i%2 == 0)
	}
	for e := range events {
		accept(t, s, "app_1", fmt.Sprintf("evt_%d", e), "a", e)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.DisableEndpoint(ctx, "app_1", "ep_0", "test", at(0)); err != nil {
			t.Error(err)
		}
	}()
	for e := range events {
		for i := 1; i < endpoints; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fin := at(e + 1)
				_, _, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: fmt.Sprintf("evt_%d", e),
					EndpointID: fmt.Sprintf("ep_%d", i), StartedAt: at(e), Status: schemas.DeliverySucceeded, FinishedAt: &fin})
				if err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	for e := range events {
		if ev := getEvent(t, s, "app_1", fmt.Sprintf("evt_%d", e)); ev.Status != schemas.EventCancelled {
			t.Errorf("event %s is %s, want cancelled (deliveries %v)", ev.ID, ev.Status, deliveryStatuses(ev))
		}
	}
}
