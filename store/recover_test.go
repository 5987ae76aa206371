package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// testRecoverAfterCrash: what a process killed during its attempts left is
// put on record as `herald dev` starts: notes in flight become interrupted
// with their keys freed, a holder killed during its drain ends succeeded,
// and the lanes that were in delivery are named, to be woken.
func testRecoverAfterCrash(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_o", true)
	mkEndpoint(t, s, "app_1", "ep_u", false)
	_, t1 := accept(t, s, "app_1", "evt_1", "a", 1)
	_, t2 := accept(t, s, "app_1", "evt_2", "a", 2)
	accept(t, s, "app_1", "evt_3", "a", 3)
	seq := map[string]int64{}
	for _, tg := range append(t1, t2...) {
		if tg.EndpointID == "ep_o" {
			seq[tg.EndpointID+"/"+tg.Lane] = tg.Seq
		}
	}
	begin := func(eventID, endpointID, key string) int {
		t.Helper()
		n, moved, err := s.BeginAttempt(ctx, "app_1", eventID, endpointID, 0, key, at(4))
		must(t, err)
		if !moved {
			t.Fatalf("%s to %s did not move", eventID, endpointID)
		}
		return n
	}
	// evt_1 holds ep_o's lane: its own attempt succeeded, its drain was
	// POSTing evt_2 at the kill; evt_1's POST to ep_u was under way too.
	n := begin("evt_1", "ep_o", "run1/0/0")
	_, err := s.RecordAttemptOf(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_1", EndpointID: "ep_o",
		StartedAt: at(4), DurationMS: 5, ResponseStatus: 200, Status: schemas.DeliveryDelivering, Key: "run1/0/0",
		Outcome: schemas.OutcomeSucceeded, Attempt: n})
	must(t, err)
	drainKey := store.DrainKey(t2[0].Seq)
	if t2[0].EndpointID != "ep_o" {
		drainKey = store.DrainKey(t2[1].Seq)
	}
	begin("evt_2", "ep_o", drainKey)
	begin("evt_1", "ep_u", "run1/1/0")

	lanes, err := s.RecoverAfterCrash(ctx, at(10))
	must(t, err)
	if want := []store.Lane{{EndpointID: "ep_o"}}; !reflect.DeepEqual(lanes, want) {
		t.Fatalf("lanes %+v, want %+v", lanes, want)
	}
	if st := status(t, s, "app_1", "evt_1", "ep_o"); st != schemas.DeliverySucceeded {
		t.Fatalf("the holder killed during its drain is %s, want succeeded", st)
	}
	for _, d := range []struct{ event, endpoint, key string }{{"evt_2", "ep_o", drainKey}, {"evt_1", "ep_u", "run1/1/0"}} {
		if _, found, err := s.AttemptByKey(ctx, "app_1", d.event, d.endpoint, d.key); err != nil || found {
			t.Fatalf("%s to %s: the key of its note in flight is still taken (%v)", d.event, d.endpoint, err)
		}
		ev := getEvent(t, s, "app_1", d.event)
		for _, del := range ev.Deliveries {
			if del.EndpointID != d.endpoint {
				continue
			}
			if len(del.Attempts) != 1 || del.Attempts[0].Error != schemas.InterruptedError {
				t.Fatalf("%s to %s: attempts %+v, want one interrupted", d.event, d.endpoint, del.Attempts)
			}
		}
	}
	head, ok, err := s.HeadDelivery(ctx, "ep_o", "")
	must(t, err)
	if !ok || head.EventID != "evt_2" {
		t.Fatalf("head of the lane %+v (%v), want evt_2", head, ok)
	}
	// Nothing was left: a second start finds nothing to do.
	lanes, err = s.RecoverAfterCrash(ctx, at(11))
	must(t, err)
	if len(lanes) != 1 {
		t.Fatalf("lanes %+v: evt_2 is still delivering, its lane is named again", lanes)
	}
}
