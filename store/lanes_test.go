package store_test

import (
	"context"
	"testing"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

func acceptKey(t *testing.T, s *store.Store, id, key string, sec int) []schemas.Target {
	t.Helper()
	created, ev, targets, err := s.AcceptEvent(context.Background(), store.NewEvent{AppID: "app_1", ID: id,
		EventType: "a", Payload: []byte(`{}`), CreatedAt: at(sec), OrderingKey: key})
	must(t, err)
	if !created || ev.OrderingKey != key {
		t.Fatalf("event %s: created %v, key %q", id, created, ev.OrderingKey)
	}
	return targets
}

// testLanes: one lane per (endpoint, ordering key); keyless events share
// the endpoint's lane; unordered endpoints ignore the key.
func testLanes(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_o", true)
	mkEndpoint(t, s, "app_1", "ep_u", false)
	a1 := acceptKey(t, s, "evt_a1", "a", 1)
	b1 := acceptKey(t, s, "evt_b1", "b", 2)
	a2 := acceptKey(t, s, "evt_a2", "a", 3)
	n1 := acceptKey(t, s, "evt_n1", "", 4)
	if a1[0].Lane != "a" || a1[1].Lane != "" || a1[1].Ordered {
		t.Fatalf("targets %+v", a1)
	}
	turn := func(lane string, seq int64) bool {
		t.Helper()
		ok, err := s.TurnAvailable(ctx, "ep_o", lane, seq)
		must(t, err)
		return ok
	}
	if !turn("a", a1[0].Seq) || !turn("b", b1[0].Seq) || turn("a", a2[0].Seq) || !turn("", n1[0].Seq) {
		t.Fatal("lanes are not independent")
	}
	if n, err := s.Ahead(ctx, "ep_o", "a", a2[0].Seq); err != nil || n != 1 {
		t.Fatalf("ahead of a2: %d %v", n, err)
	}
	h, ok, err := s.HeadDelivery(ctx, "ep_o", "a")
	must(t, err)
	if !ok || h.EventID != "evt_a1" || h.Lane != "a" || h.Status != schemas.DeliveryPending || h.UpdatedAt.IsZero() {
		t.Fatalf("head of a: %+v %v", h, ok)
	}
	if a2[0].Ahead < 1 || b1[0].Ahead != 0 { // a distance in seqs: other lanes' seqs count
		t.Fatalf("ahead at acceptance: a2 %d b1 %d", a2[0].Ahead, b1[0].Ahead)
	}
	next, fresh, err := s.NextFresh(ctx, "ep_o", "a", a1[0].Seq)
	must(t, err)
	if !fresh || next.EventID != "evt_a2" {
		t.Fatalf("next in lane a: %+v %v", next, fresh)
	}
	record(t, s, "app_1", "evt_a1", "ep_o", schemas.DeliverySucceeded, 5)
	if !turn("a", a2[0].Seq) {
		t.Fatal("a2 after a1 ended")
	}
	evs, _, err := s.ListEvents(ctx, "app_1", store.EventFilter{OrderingKey: "a"}, store.Page{})
	must(t, err)
	if len(evs) != 2 || evs[0].ID != "evt_a2" || evs[1].ID != "evt_a1" || evs[0].OrderingKey != "a" {
		t.Fatalf("events with key a: %+v", evs)
	}
	if ev := getEvent(t, s, "app_1", "evt_n1"); ev.OrderingKey != "" {
		t.Fatalf("keyless event has key %q", ev.OrderingKey)
	}
	// A replay keeps the lane and goes to its end.
	tg, err := s.PrepareReplay(ctx, "app_1", "evt_a1", "ep_o", at(6))
	must(t, err)
	if len(tg) != 1 || tg[0].Lane != "a" || tg[0].Seq <= n1[0].Seq || turn("a", tg[0].Seq) {
		t.Fatalf("replayed %+v", tg)
	}
}

// testGenerations: an attempt made before a re-queue ends nothing; a
// cancelled or re-queued delivery is not marked delivering.
func testGenerations(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_u", false)
	tg := acceptKey(t, s, "evt_1", "", 1)
	gen := tg[0].Gen
	moved, err := s.MarkDelivering(ctx, "app_1", "evt_1", "ep_u", gen)
	must(t, err)
	if !moved {
		t.Fatal("not marked")
	}
	// Replayed while the attempt is under way.
	re, err := s.PrepareReplay(ctx, "app_1", "evt_1", "", at(2))
	must(t, err)
	if re[0].Gen != gen+1 {
		t.Fatalf("generation after replay %d", re[0].Gen)
	}
	fin := at(3)
	got, err := s.RecordAttemptOf(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_1", EndpointID: "ep_u",
		StartedAt: at(2), ResponseStatus: 200, Status: schemas.DeliverySucceeded, FinishedAt: &fin, Gen: gen})
	must(t, err)
	if got.Applied || got.Attempt != 1 || status(t, s, "app_1", "evt_1", "ep_u") != schemas.DeliveryPending {
		t.Fatalf("old generation's success: %+v, status %s", got, status(t, s, "app_1", "evt_1", "ep_u"))
	}
	if moved, err := s.MarkDelivering(ctx, "app_1", "evt_1", "ep_u", gen); err != nil || moved {
		t.Fatalf("old generation marked: %v %v", moved, err)
	}
	if _, done, err := s.FinishDelivery(ctx, "app_1", "evt_1", "ep_u", gen, schemas.DeliverySucceeded, at(4)); err != nil || done {
		t.Fatalf("old generation finished: %v %v", done, err)
	}
	// A cancel before the attempt: nothing may start.
	_, err = s.SetDeliveryStatus(ctx, "app_1", "evt_1", nil, schemas.DeliveryCancelled, at(5))
	must(t, err)
	if moved, err := s.MarkDelivering(ctx, "app_1", "evt_1", "ep_u", gen+1); err != nil || moved {
		t.Fatalf("cancelled delivery marked: %v %v", moved, err)
	}
	if _, err := s.MarkDelivering(ctx, "app_1", "nope", "ep_u", 0); !schemas.IsNotFound(err) {
		t.Fatalf("unknown delivery: %v", err)
	}
}

// testOutbox: an accepted event is noted until cleared; a re-queue notes a
// replay; a repeat of an older kind does not clear a newer note.
func testOutbox(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_u", false)
	acceptKey(t, s, "evt_1", "", 1)
	acceptKey(t, s, "evt_2", "", 2)
	list := func() []store.Undispatched {
		t.Helper()
		u, err := s.ListUndispatched(ctx, at(100), 10)
		must(t, err)
		return u
	}
	if u := list(); len(u) != 2 || u[0].EventID != "evt_1" || u[0].Dispatch != store.DispatchStart {
		t.Fatalf("undispatched %+v", u)
	}
	if u, _ := s.ListUndispatched(ctx, at(2), 10); len(u) != 1 {
		t.Fatalf("before 2s: %+v", u)
	}
	must(t, s.ClearDispatch(ctx, "app_1", "evt_1", store.DispatchStart))
	_, err := s.PrepareReplay(ctx, "app_1", "evt_2", "", at(3))
	must(t, err)
	must(t, s.ClearDispatch(ctx, "app_1", "evt_2", store.DispatchStart)) // the start's clear comes late
	if u := list(); len(u) != 1 || u[0].EventID != "evt_2" || u[0].Dispatch != store.DispatchReplay {
		t.Fatalf("undispatched %+v", u)
	}
	must(t, s.ClearDispatch(ctx, "app_1", "evt_2", store.DispatchReplay))
	if u := list(); len(u) != 0 {
		t.Fatalf("undispatched %+v", u)
	}
}

// testQueuedBehind: a drain's batch is the lane's open deliveries after a
// seq, in order and no more than asked, each with its event and whether it
// was tried, with the endpoint and its secrets read once; other lanes and
// final deliveries are not in it, and a deleted endpoint says so.
func testQueuedBehind(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_o", true)
	h := acceptKey(t, s, "evt_1", "a", 1)
	acceptKey(t, s, "evt_other", "b", 2)
	acceptKey(t, s, "evt_2", "a", 3)
	acceptKey(t, s, "evt_3", "a", 4)
	acceptKey(t, s, "evt_4", "a", 5)
	acceptKey(t, s, "evt_5", "a", 6)
	record(t, s, "app_1", "evt_3", "ep_o", schemas.DeliveryCancelled, 7)
	_, _, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_4", EndpointID: "ep_o",
		StartedAt: at(8), DurationMS: 3, ResponseStatus: 500, Status: schemas.DeliveryPending, Key: store.DrainKey(h[0].Seq + 4)})
	must(t, err)

	b, err := s.QueuedBehind(ctx, "app_1", "ep_o", "a", h[0].Seq, 2)
	must(t, err)
	if b.EndpointGone || b.Endpoint.ID != "ep_o" || b.Secrets.Key != "whsec_ep_o" || len(b.Queued) != 2 {
		t.Fatalf("batch of 2: %+v", b)
	}
	q2, q4 := b.Queued[0], b.Queued[1]
	if q2.Ref.EventID != "evt_2" || q2.Tried || q2.Status != schemas.DeliveryPending || q2.Gen == 0 ||
		string(q2.Event.Payload) != `{}` || q2.Event.EventType != "a" || !q2.Event.CreatedAt.Equal(at(3)) {
		t.Fatalf("first queued: %+v", q2)
	}
	if q4.Ref.EventID != "evt_4" || !q4.Tried || q4.Ref.Seq <= q2.Ref.Seq || q4.Ref.Lane != "a" {
		t.Fatalf("second queued (after the cancelled evt_3): %+v", q4)
	}
	b, err = s.QueuedBehind(ctx, "app_1", "ep_o", "a", q4.Ref.Seq, 16)
	must(t, err)
	if len(b.Queued) != 1 || b.Queued[0].Ref.EventID != "evt_5" {
		t.Fatalf("after evt_4: %+v", b.Queued)
	}
	must(t, s.DeleteEndpoint(ctx, "app_1", "ep_o", at(9)))
	if b, err := s.QueuedBehind(ctx, "app_1", "ep_o", "a", h[0].Seq, 16); err != nil || !b.EndpointGone {
		t.Fatalf("deleted endpoint: %+v %v", b, err)
	}
}
