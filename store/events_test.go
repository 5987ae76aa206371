package store_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

func testAcceptEvent(t *testing.T, s *store.Store) {
	ctx := context.Background()
	ne := store.NewEvent{AppID: "app_1", ID: "evt_1", EventType: "a", Payload: []byte(`{"x": [1, 2]}`), CreatedAt: at(1)}
	_, _, _, err := s.AcceptEvent(ctx, ne)
	wantErr(t, err, schemas.KindNotFound, "app_not_found")

	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_b", true)
	mkEndpoint(t, s, "app_1", "ep_a", false)
	mkEndpoint(t, s, "app_1", "ep_c", true)
	created, ev, targets, err := s.AcceptEvent(ctx, ne)
	must(t, err)
	if !created || ev.Status != schemas.EventPending || string(ev.Payload) != `{"x": [1, 2]}` || !ev.CreatedAt.Equal(at(1)) {
		t.Fatalf("accepted %v %+v", created, ev)
	}
	want := []schemas.Target{{EndpointID: "ep_a"}, {EndpointID: "ep_b", Ordered: true, Seq: 1}, {EndpointID: "ep_c", Ordered: true, Seq: 1}}
	if !reflect.DeepEqual(targets, want) {
		t.Fatalf("targets %+v, want %+v", targets, want)
	}
	stored := getEvent(t, s, "app_1", "evt_1")
	if !reflect.DeepEqual(stored, ev) {
		t.Fatalf("stored %+v\nreturned %+v", stored, ev)
	}

	// Again: nothing new, the existing event back.
	ne2 := ne
	ne2.Payload, ne2.CreatedAt = []byte(`{"other":true}`), at(2)
	created, again, targets, err := s.AcceptEvent(ctx, ne2)
	must(t, err)
	if created || targets != nil || !reflect.DeepEqual(again, stored) {
		t.Fatalf("second accept: created %v targets %v event %+v", created, targets, again)
	}

	// The next event takes the next seqs.
	_, targets = accept(t, s, "app_1", "evt_2", "a", 3)
	want = []schemas.Target{{EndpointID: "ep_a"}, {EndpointID: "ep_b", Ordered: true, Seq: 2}, {EndpointID: "ep_c", Ordered: true, Seq: 2}}
	if !reflect.DeepEqual(targets, want) {
		t.Fatalf("targets %+v, want %+v", targets, want)
	}

	// The same id in another app is another event; no endpoints: delivered.
	mkApp(t, s, "app_2")
	ev, targets = accept(t, s, "app_2", "evt_1", "a", 4)
	if ev.Status != schemas.EventDelivered || len(targets) != 0 || ev.Deliveries == nil || len(ev.Deliveries) != 0 {
		t.Fatalf("no endpoints: %+v %+v", ev, targets)
	}
	getEvent(t, s, "app_2", "evt_1")

	_, err = s.GetEvent(ctx, "app_2", "evt_2")
	wantErr(t, err, schemas.KindNotFound, "event_not_found")

	// EventInput: the event and its non-final deliveries.
	in, targets, err := s.EventInput(ctx, "app_1", "evt_1")
	must(t, err)
	if in.ID != "evt_1" || in.AppID != "app_1" || in.EventType != "a" || string(in.Payload) != `{"x": [1, 2]}` || !in.CreatedAt.Equal(at(1)) {
		t.Fatalf("input %+v", in)
	}
	want = []schemas.Target{{EndpointID: "ep_a"}, {EndpointID: "ep_b", Ordered: true, Seq: 1}, {EndpointID: "ep_c", Ordered: true, Seq: 1}}
	if !reflect.DeepEqual(targets, want) {
		t.Fatalf("input targets %+v", targets)
	}
	record(t, s, "app_1", "evt_1", "ep_b", schemas.DeliverySucceeded, 5)
	_, targets, err = s.EventInput(ctx, "app_1", "evt_1")
	must(t, err)
	if len(targets) != 2 || targets[0].EndpointID != "ep_a" || targets[1].EndpointID != "ep_c" {
		t.Fatalf("input targets after a success %+v", targets)
	}
	_, _, err = s.EventInput(ctx, "app_1", "nope")
	wantErr(t, err, schemas.KindNotFound, "event_not_found")
}

func testAcceptSubscriptions(t *testing.T, s *store.Store) {
	mkApp(t, s, "app_1")
	mkApp(t, s, "app_2")
	mkEndpoint(t, s, "app_1", "ep_all", true)
	mkEndpoint(t, s, "app_1", "ep_ab", false, func(e *schemas.Endpoint) { e.EventTypes = []string{"a", "b"} })
	mkEndpoint(t, s, "app_1", "ep_c", true, func(e *schemas.Endpoint) { e.EventTypes = []string{"c"} })
	mkEndpoint(t, s, "app_1", "ep_off", true, func(e *schemas.Endpoint) { e.Disabled = true })
	mkEndpoint(t, s, "app_2", "ep_other", true)

	for typ, want := range map[string][]string{
		"a": {"ep_ab", "ep_all"},
		"b": {"ep_ab", "ep_all"},
		"c": {"ep_all", "ep_c"},
		"d": {"ep_all"},
	} {
		ev, targets := accept(t, s, "app_1", "evt_"+typ, typ, 1)
		var got []string
		for _, tg := range targets {
			got = append(got, tg.EndpointID)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("type %s: endpoints %v, want %v", typ, got, want)
		}
		if len(ev.Deliveries) != len(want) {
			t.Errorf("type %s: %d deliveries", typ, len(ev.Deliveries))
		}
	}
	// The seq counts per endpoint.
	ev := getEvent(t, s, "app_1", "evt_d")
	_ = ev
	_, targets := accept(t, s, "app_1", "evt_c2", "c", 2)
	if targets[0].Seq != 5 || targets[1].Seq != 2 {
		t.Fatalf("seqs %+v", targets)
	}
}

func testAcceptConcurrent(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	mkEndpoint(t, s, "app_1", "ep_2", true)
	mkEndpoint(t, s, "app_1", "ep_3", false)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	seqs := make(chan [2]int64, n)
	created := make(chan bool, n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			ok, _, targets, err := s.AcceptEvent(ctx, store.NewEvent{AppID: "app_1", ID: fmt.Sprintf("evt_%02d", i),
				EventType: "a", Payload: []byte(`{}`), CreatedAt: at(i)})
			if err != nil {
				errs <- err
				return
			}
			if !ok || len(targets) != 3 {
				errs <- fmt.Errorf("event %d: created %v targets %v", i, ok, targets)
				return
			}
			seqs <- [2]int64{targets[0].Seq, targets[1].Seq}
		}()
		go func() { // all race to accept the same id
			defer wg.Done()
			ok, ev, _, err := s.AcceptEvent(ctx, store.NewEvent{AppID: "app_1", ID: "evt_same",
				EventType: "a", Payload: []byte(`{}`), CreatedAt: at(i)})
			if err != nil {
				errs <- err
				return
			}
			if ev.ID != "evt_same" || len(ev.Deliveries) != 3 {
				errs <- fmt.Errorf("same id: got %+v", ev)
			}
			created <- ok
		}()
	}
	wg.Wait()
	close(errs)
	close(seqs)
	close(created)
	for err := range errs {
		t.Error(err)
	}
	var s1, s2 []int64
	for p := range seqs {
		s1, s2 = append(s1, p[0]), append(s2, p[1])
	}
	nCreated := 0
	for ok := range created {
		if ok {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Errorf("evt_same created %d times", nCreated)
	}
	slices.Sort(s1)
	slices.Sort(s2)
	// n events plus evt_same share 1..n+1 without gaps or repeats.
	for _, ss := range [][]int64{s1, s2} {
		for i, v := range ss {
			if i > 0 && v == ss[i-1] {
				t.Fatalf("seq %d handed out twice: %v", v, ss)
			}
			if v < 1 || v > n+1 {
				t.Fatalf("seq %d out of range: %v", v, ss)
			}
		}
	}
	b, err := s.Backlog(ctx)
	must(t, err)
	if !reflect.DeepEqual(b, map[string]int{"ep_1": n + 1, "ep_2": n + 1}) {
		t.Fatalf("backlog %v", b)
	}
}

func testListEvents(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkApp(t, s, "app_2")
	mkEndpoint(t, s, "app_1", "ep_a", false, func(e *schemas.Endpoint) { e.EventTypes = []string{"a"} })
	mkEndpoint(t, s, "app_1", "ep_all", false)
	for i := range 10 {
		typ := "a"
		if i%2 == 1 {
			typ = "b"
		}
		accept(t, s, "app_1", fmt.Sprintf("evt_%d", i), typ, i)
	}
	accept(t, s, "app_2", "evt_x", "a", 3)
	record(t, s, "app_1", "evt_0", "ep_a", schemas.DeliveryFailed, 20)
	record(t, s, "app_1", "evt_0", "ep_all", schemas.DeliverySucceeded, 20)
	record(t, s, "app_1", "evt_1", "ep_all", schemas.DeliverySucceeded, 20)

	ids := func(evs []schemas.Event) string {
		var out []string
		for _, e := range evs {
			checkStatus(t, e)
			out = append(out, strings.TrimPrefix(e.ID, "evt_"))
		}
		return strings.Join(out, ",")
	}
	list := func(f store.EventFilter, p store.Page) ([]schemas.Event, string) {
		t.Helper()
		evs, next, err := s.ListEvents(ctx, "app_1", f, p)
		must(t, err)
		return evs, next
	}
	evs, next := list(store.EventFilter{}, store.Page{Limit: 4})
	if ids(evs) != "9,8,7,6" || next == "" {
		t.Fatalf("page 1 %s", ids(evs))
	}
	evs, next = list(store.EventFilter{}, store.Page{Limit: 4, Cursor: next})
	if ids(evs) != "5,4,3,2" || next == "" {
		t.Fatalf("page 2 %s", ids(evs))
	}
	evs, next = list(store.EventFilter{}, store.Page{Limit: 4, Cursor: next})
	if ids(evs) != "1,0" || next != "" {
		t.Fatalf("page 3 %s %q", ids(evs), next)
	}
	if len(evs[1].Deliveries) != 2 || len(evs[1].Deliveries[0].Attempts) != 1 || evs[1].Status != schemas.EventFailed {
		t.Fatalf("evt_0 %+v", evs[1])
	}

	since, until := at(2), at(6)
	for _, c := range []struct {
		f    store.EventFilter
		want string
	}{
		{store.EventFilter{EventType: "b"}, "9,7,5,3,1"},
		{store.EventFilter{Status: schemas.EventDelivered}, "1"},
		{store.EventFilter{Status: schemas.EventFailed}, "0"},
		{store.EventFilter{Status: schemas.EventPending, EventType: "a"}, "8,6,4,2"},
		{store.EventFilter{EndpointID: "ep_a"}, "8,6,4,2,0"},
		{store.EventFilter{Since: &since, Until: &until}, "5,4,3,2"},
		{store.EventFilter{Since: &since, Until: &until, EndpointID: "ep_a"}, "4,2"},
		{store.EventFilter{EndpointID: "nope"}, ""},
	} {
		evs, next := list(c.f, store.Page{Limit: 50})
		if ids(evs) != c.want || next != "" {
			t.Errorf("filter %+v: %s, want %s", c.f, ids(evs), c.want)
		}
	}
	// Paging through a filter.
	evs, next = list(store.EventFilter{EventType: "b"}, store.Page{Limit: 3})
	evs2, next2 := list(store.EventFilter{EventType: "b"}, store.Page{Limit: 3, Cursor: next})
	if ids(evs) != "9,7,5" || ids(evs2) != "3,1" || next2 != "" {
		t.Fatalf("filtered pages %s / %s", ids(evs), ids(evs2))
	}
	_, _, err := s.ListEvents(ctx, "app_1", store.EventFilter{}, store.Page{Limit: 3, Cursor: "%%%"})
	wantErr(t, err, schemas.KindBadRequest, "invalid_cursor")
}

func testRecordAttempt(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	mkEndpoint(t, s, "app_1", "ep_2", false)
	accept(t, s, "app_1", "evt_1", "a", 0)

	_, _, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_1", EndpointID: "nope", Status: "failed"})
	wantErr(t, err, schemas.KindNotFound, "delivery_not_found")

	must(t, s.MarkDelivering(ctx, "app_1", "evt_1", "ep_1"))
	if st := status(t, s, "app_1", "evt_1", "ep_1"); st != schemas.DeliveryDelivering {
		t.Fatalf("status %s", st)
	}
	wantErr(t, s.MarkDelivering(ctx, "app_1", "evt_1", "nope"), schemas.KindNotFound, "delivery_not_found")
	_, err = s.DeliveryStatus(ctx, "app_1", "nope", "ep_1")
	wantErr(t, err, schemas.KindNotFound, "delivery_not_found")

	next := at(5)
	body := strings.Repeat("é", 600) + "\x00" // 1200 bytes of 2-byte runes
	n, evStatus, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_1", EndpointID: "ep_1",
		StartedAt: at(1), DurationMS: 250, ResponseStatus: 503, Error: "bad \xff bytes", ResponseBody: body,
		Status: schemas.DeliveryPending, NextAttemptAt: &next})
	must(t, err)
	if n != 1 || evStatus != schemas.EventPending {
		t.Fatalf("attempt %d event %s", n, evStatus)
	}
	ev := getEvent(t, s, "app_1", "evt_1")
	d := ev.Deliveries[0]
	if d.Status != schemas.DeliveryPending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(next) || len(d.Attempts) != 1 {
		t.Fatalf("delivery %+v", d)
	}
	a := d.Attempts[0]
	if a.Attempt != 1 || !a.StartedAt.Equal(at(1)) || a.DurationMS != 250 || a.ResponseStatus != 503 ||
		a.Error != "bad \uFFFD bytes" || len(a.ResponseBody) != 1024 || a.ResponseBody != strings.Repeat("é", 512) {
		t.Fatalf("attempt %+v (body %d bytes)", a, len(a.ResponseBody))
	}

	n, evStatus = record(t, s, "app_1", "evt_1", "ep_1", schemas.DeliveryFailed, 6)
	if n != 2 || evStatus != schemas.EventPending {
		t.Fatalf("attempt %d event %s", n, evStatus)
	}
	n, evStatus = record(t, s, "app_1", "evt_1", "ep_2", schemas.DeliverySucceeded, 6)
	if n != 1 || evStatus != schemas.EventFailed {
		t.Fatalf("attempt %d event %s", n, evStatus)
	}
	ev = getEvent(t, s, "app_1", "evt_1")
	if ev.Deliveries[0].NextAttemptAt != nil || len(ev.Deliveries[0].Attempts) != 2 || ev.Deliveries[0].Attempts[1].Attempt != 2 {
		t.Fatalf("after final %+v", ev.Deliveries[0])
	}

	// A final delivery changes only to succeeded.
	accept(t, s, "app_1", "evt_2", "a", 10)
	_, err = s.SetDeliveryStatus(ctx, "app_1", "evt_2", nil, schemas.DeliveryCancelled, at(11))
	must(t, err)
	n, evStatus = record(t, s, "app_1", "evt_2", "ep_1", schemas.DeliveryFailed, 12)
	if n != 1 || evStatus != schemas.EventCancelled || status(t, s, "app_1", "evt_2", "ep_1") != schemas.DeliveryCancelled {
		t.Fatalf("failed after cancel: attempt %d event %s", n, evStatus)
	}
	n, evStatus = record(t, s, "app_1", "evt_2", "ep_1", schemas.DeliveryPending, 12)
	if n != 2 || status(t, s, "app_1", "evt_2", "ep_1") != schemas.DeliveryCancelled {
		t.Fatalf("retry after cancel: attempt %d event %s", n, evStatus)
	}
	n, evStatus = record(t, s, "app_1", "evt_2", "ep_2", schemas.DeliverySucceeded, 13)
	if n != 1 || evStatus != schemas.EventCancelled || status(t, s, "app_1", "evt_2", "ep_2") != schemas.DeliverySucceeded {
		t.Fatalf("succeeded after cancel: attempt %d event %s", n, evStatus)
	}
	n, evStatus = record(t, s, "app_1", "evt_2", "ep_1", schemas.DeliverySucceeded, 14)
	if n != 3 || evStatus != schemas.EventDelivered {
		t.Fatalf("all succeeded after cancel: attempt %d event %s", n, evStatus)
	}
	getEvent(t, s, "app_1", "evt_2")
}

func testSetDeliveryStatus(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	for _, id := range []string{"ep_1", "ep_2", "ep_3"} {
		mkEndpoint(t, s, "app_1", id, true)
	}
	accept(t, s, "app_1", "evt_1", "a", 0)
	record(t, s, "app_1", "evt_1", "ep_1", schemas.DeliverySucceeded, 1)
	must(t, s.MarkDelivering(ctx, "app_1", "evt_1", "ep_2"))

	st, err := s.SetDeliveryStatus(ctx, "app_1", "evt_1", []string{"ep_1", "ep_2"}, schemas.DeliveryCancelled, at(2))
	must(t, err)
	ev := getEvent(t, s, "app_1", "evt_1")
	if st != schemas.EventPending || !reflect.DeepEqual(deliveryStatuses(ev), map[string]string{
		"ep_1": "succeeded", "ep_2": "cancelled", "ep_3": "pending"}) {
		t.Fatalf("event %s deliveries %v", st, deliveryStatuses(ev))
	}
	st, err = s.SetDeliveryStatus(ctx, "app_1", "evt_1", []string{}, schemas.DeliveryCancelled, at(2))
	must(t, err)
	if st != schemas.EventPending {
		t.Fatalf("empty list changed things: %s", st)
	}
	st, err = s.SetDeliveryStatus(ctx, "app_1", "evt_1", nil, schemas.DeliveryCancelled, at(3))
	must(t, err)
	ev = getEvent(t, s, "app_1", "evt_1")
	if st != schemas.EventCancelled || deliveryStatuses(ev)["ep_3"] != "cancelled" || deliveryStatuses(ev)["ep_1"] != "succeeded" {
		t.Fatalf("event %s deliveries %v", st, deliveryStatuses(ev))
	}
	_, err = s.SetDeliveryStatus(ctx, "app_1", "nope", nil, schemas.DeliveryCancelled, at(3))
	wantErr(t, err, schemas.KindNotFound, "event_not_found")
}

func testOrdering(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	mkEndpoint(t, s, "app_1", "ep_u", false)
	head := func() (store.DeliveryRef, bool) {
		t.Helper()
		ref, ok, err := s.HeadDelivery(ctx, "ep_1")
		must(t, err)
		return ref, ok
	}
	turn := func(seq int64) bool {
		t.Helper()
		ok, err := s.TurnAvailable(ctx, "ep_1", seq)
		must(t, err)
		return ok
	}
	if _, ok := head(); ok {
		t.Fatal("head of an empty endpoint")
	}
	for i := 1; i <= 4; i++ {
		accept(t, s, "app_1", fmt.Sprintf("evt_%d", i), "a", i)
	}
	if ref, ok := head(); !ok || ref != (store.DeliveryRef{AppID: "app_1", EventID: "evt_1", EndpointID: "ep_1", Seq: 1}) {
		t.Fatalf("head %+v %v", ref, ok)
	}
	if !turn(1) || turn(2) || turn(4) {
		t.Fatal("turns before any delivery")
	}
	record(t, s, "app_1", "evt_1", "ep_1", schemas.DeliveryFailed, 10) // failed lets the next go
	if !turn(2) || turn(3) {
		t.Fatal("turns after 1 failed")
	}
	_, err := s.SetDeliveryStatus(ctx, "app_1", "evt_2", []string{"ep_1"}, schemas.DeliveryCancelled, at(11))
	must(t, err)
	record(t, s, "app_1", "evt_3", "ep_1", schemas.DeliverySucceeded, 12) // out of turn, still counts
	if !turn(4) {
		t.Fatal("turn 4 after 1..3 final")
	}
	if ref, _ := head(); ref.EventID != "evt_4" || ref.Seq != 4 {
		t.Fatalf("head %+v", ref)
	}
	b, err := s.Backlog(ctx)
	must(t, err)
	if !reflect.DeepEqual(b, map[string]int{"ep_1": 1}) { // unordered deliveries are not a backlog
		t.Fatalf("backlog %v", b)
	}
	record(t, s, "app_1", "evt_4", "ep_1", schemas.DeliverySucceeded, 13)
	if _, ok := head(); ok {
		t.Fatal("head after all final")
	}
	b, err = s.Backlog(ctx)
	must(t, err)
	if len(b) != 0 {
		t.Fatalf("backlog %v", b)
	}
}

func testPrepareReplay(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	mkEndpoint(t, s, "app_1", "ep_2", false)
	mkEndpoint(t, s, "app_1", "ep_3", true)
	accept(t, s, "app_1", "evt_1", "a", 1)
	accept(t, s, "app_1", "evt_2", "a", 2)
	next := at(100)
	_, _, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_1", EndpointID: "ep_1",
		StartedAt: at(3), Status: schemas.DeliveryPending, NextAttemptAt: &next})
	must(t, err)
	record(t, s, "app_1", "evt_1", "ep_1", schemas.DeliveryFailed, 4)
	record(t, s, "app_1", "evt_1", "ep_2", schemas.DeliverySucceeded, 4)
	record(t, s, "app_1", "evt_1", "ep_3", schemas.DeliverySucceeded, 4)
	if ev := getEvent(t, s, "app_1", "evt_1"); ev.Status != schemas.EventFailed {
		t.Fatalf("status %s", ev.Status)
	}

	targets, err := s.PrepareReplay(ctx, "app_1", "evt_1", "ep_1", at(5))
	must(t, err)
	if !reflect.DeepEqual(targets, []schemas.Target{{EndpointID: "ep_1", Ordered: true, Seq: 3}}) {
		t.Fatalf("targets %+v", targets)
	}
	ev := getEvent(t, s, "app_1", "evt_1")
	if ev.Status != schemas.EventPending || deliveryStatuses(ev)["ep_1"] != "pending" ||
		ev.Deliveries[0].NextAttemptAt != nil || len(ev.Deliveries[0].Attempts) != 2 {
		t.Fatalf("after replay %+v", ev)
	}
	// It now goes after evt_2.
	if ok, _ := s.TurnAvailable(ctx, "ep_1", 3); ok {
		t.Fatal("replayed delivery jumped the queue")
	}
	if ref, _, _ := s.HeadDelivery(ctx, "ep_1"); ref.EventID != "evt_2" {
		t.Fatalf("head %+v", ref)
	}

	// All deliveries; a deleted endpoint is skipped.
	must(t, s.DeleteEndpoint(ctx, "app_1", "ep_3", at(6)))
	targets, err = s.PrepareReplay(ctx, "app_1", "evt_1", "", at(7))
	must(t, err)
	want := []schemas.Target{{EndpointID: "ep_1", Ordered: true, Seq: 4}, {EndpointID: "ep_2"}}
	if !reflect.DeepEqual(targets, want) {
		t.Fatalf("targets %+v, want %+v", targets, want)
	}
	ev = getEvent(t, s, "app_1", "evt_1")
	if !reflect.DeepEqual(deliveryStatuses(ev), map[string]string{"ep_1": "pending", "ep_2": "pending", "ep_3": "succeeded"}) {
		t.Fatalf("deliveries %v", deliveryStatuses(ev))
	}
	targets, err = s.PrepareReplay(ctx, "app_1", "evt_1", "ep_3", at(7))
	must(t, err)
	if len(targets) != 0 {
		t.Fatalf("replay to a deleted endpoint: %+v", targets)
	}

	_, err = s.PrepareReplay(ctx, "app_1", "evt_1", "nope", at(8))
	wantErr(t, err, schemas.KindNotFound, "delivery_not_found")
	_, err = s.PrepareReplay(ctx, "app_1", "nope", "", at(8))
	wantErr(t, err, schemas.KindNotFound, "event_not_found")
}

func testRecoverFailed(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	mkEndpoint(t, s, "app_1", "ep_u", false)
	for i := 1; i <= 6; i++ {
		accept(t, s, "app_1", fmt.Sprintf("evt_%d", i), "a", i)
	}
	// Fail them out of order in time: evt_5 first, then 2, 1, 3; 4 succeeds; 6 pending.
	record(t, s, "app_1", "evt_5", "ep_1", schemas.DeliveryFailed, 10)
	record(t, s, "app_1", "evt_2", "ep_1", schemas.DeliveryFailed, 11)
	record(t, s, "app_1", "evt_1", "ep_1", schemas.DeliveryFailed, 12)
	record(t, s, "app_1", "evt_3", "ep_1", schemas.DeliveryFailed, 30) // outside the window
	record(t, s, "app_1", "evt_4", "ep_1", schemas.DeliverySucceeded, 13)
	record(t, s, "app_1", "evt_2", "ep_u", schemas.DeliveryFailed, 11)
	record(t, s, "app_1", "evt_1", "ep_u", schemas.DeliverySucceeded, 11)

	got, err := s.RecoverFailed(ctx, "app_1", "ep_1", at(10), at(30), at(40))
	must(t, err)
	want := []store.ReplayedDelivery{
		{EventID: "evt_1", Target: schemas.Target{EndpointID: "ep_1", Ordered: true, Seq: 7}},
		{EventID: "evt_2", Target: schemas.Target{EndpointID: "ep_1", Ordered: true, Seq: 8}},
		{EventID: "evt_5", Target: schemas.Target{EndpointID: "ep_1", Ordered: true, Seq: 9}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("recovered %+v\nwant %+v", got, want)
	}
	for _, id := range []string{"evt_1", "evt_2", "evt_5"} {
		ev := getEvent(t, s, "app_1", id)
		if deliveryStatuses(ev)["ep_1"] != "pending" || ev.Status != schemas.EventPending {
			t.Fatalf("%s: %s %v", id, ev.Status, deliveryStatuses(ev))
		}
	}
	if st := status(t, s, "app_1", "evt_3", "ep_1"); st != schemas.DeliveryFailed {
		t.Fatalf("evt_3 outside the window: %s", st)
	}
	if ref, _, _ := s.HeadDelivery(ctx, "ep_1"); ref.EventID != "evt_6" {
		t.Fatalf("head %+v", ref)
	}
	// Nothing failed left in the window.
	got, err = s.RecoverFailed(ctx, "app_1", "ep_1", at(10), at(30), at(41))
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("recovered again %+v", got)
	}
	// Unordered: seq 0.
	got, err = s.RecoverFailed(ctx, "app_1", "ep_u", at(0), at(100), at(42))
	must(t, err)
	if !reflect.DeepEqual(got, []store.ReplayedDelivery{{EventID: "evt_2", Target: schemas.Target{EndpointID: "ep_u"}}}) {
		t.Fatalf("unordered %+v", got)
	}
	_, err = s.RecoverFailed(ctx, "app_1", "nope", at(0), at(100), at(42))
	wantErr(t, err, schemas.KindNotFound, "endpoint_not_found")
}

func testLoadDelivery(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	until := at(500)
	ep := mkEndpoint(t, s, "app_1", "ep_1", true, func(e *schemas.Endpoint) {
		e.Headers = map[string]string{"A": "b"}
		e.EventTypes = []string{"a"}
		e.RateLimitPerSecond = 3
	})
	must(t, s.RotateEndpointSecret(ctx, "app_1", "ep_1", "whsec_2", until))
	accept(t, s, "app_1", "evt_1", "a", 1)
	job, err := s.LoadDelivery(ctx, "app_1", "evt_1", "ep_1")
	must(t, err)
	ep.UpdatedAt = job.Endpoint.UpdatedAt // rotation bumped it
	if job.EndpointGone || job.Status != schemas.DeliveryPending || !reflect.DeepEqual(job.Endpoint, ep) ||
		job.Secrets.Key != "whsec_2" || job.Secrets.PreviousKey != "whsec_ep_1" || !job.Secrets.PreviousExpiresAt.Equal(until) ||
		string(job.Event.Payload) != `{"n":1}` || job.Event.EventType != "a" || !job.Event.CreatedAt.Equal(at(1)) ||
		job.Event.ID != "evt_1" || job.Event.AppID != "app_1" {
		t.Fatalf("job %+v\nendpoint want %+v", job, ep)
	}
	_, err = s.LoadDelivery(ctx, "app_1", "evt_1", "nope")
	wantErr(t, err, schemas.KindNotFound, "delivery_not_found")

	must(t, s.DeleteEndpoint(ctx, "app_1", "ep_1", at(2)))
	job, err = s.LoadDelivery(ctx, "app_1", "evt_1", "ep_1")
	must(t, err)
	if !job.EndpointGone || job.Status != schemas.DeliveryCancelled || job.Endpoint.ID != "" || string(job.Event.Payload) != `{"n":1}` {
		t.Fatalf("gone job %+v", job)
	}
}

func testCascades(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_del", true)
	ep := mkEndpoint(t, s, "app_1", "ep_upd", false)
	mkEndpoint(t, s, "app_1", "ep_dis", true)
	mkEndpoint(t, s, "app_1", "ep_ok", true)
	accept(t, s, "app_1", "evt_1", "a", 1)
	accept(t, s, "app_1", "evt_2", "a", 2)
	record(t, s, "app_1", "evt_1", "ep_del", schemas.DeliverySucceeded, 3)
	record(t, s, "app_1", "evt_1", "ep_ok", schemas.DeliverySucceeded, 3)
	must(t, s.MarkDelivering(ctx, "app_1", "evt_2", "ep_del"))

	must(t, s.DeleteEndpoint(ctx, "app_1", "ep_del", at(4)))
	ev1, ev2 := getEvent(t, s, "app_1", "evt_1"), getEvent(t, s, "app_1", "evt_2")
	if deliveryStatuses(ev1)["ep_del"] != "succeeded" || deliveryStatuses(ev2)["ep_del"] != "cancelled" {
		t.Fatalf("after delete %v %v", deliveryStatuses(ev1), deliveryStatuses(ev2))
	}

	ep.Disabled, ep.DisabledReason, ep.UpdatedAt = true, "manual", at(5)
	_, err := s.UpdateEndpoint(ctx, ep)
	must(t, err)
	must(t, s.DisableEndpoint(ctx, "app_1", "ep_dis", "gone", at(6)))
	dis, err := s.GetEndpoint(ctx, "app_1", "ep_dis")
	must(t, err)
	if !dis.Disabled || dis.DisabledReason != "gone" || dis.DisabledAt == nil || !dis.DisabledAt.Equal(at(6)) {
		t.Fatalf("disabled %+v", dis)
	}
	ev1, ev2 = getEvent(t, s, "app_1", "evt_1"), getEvent(t, s, "app_1", "evt_2")
	if !reflect.DeepEqual(deliveryStatuses(ev1), map[string]string{"ep_del": "succeeded", "ep_upd": "cancelled", "ep_dis": "cancelled", "ep_ok": "succeeded"}) ||
		ev1.Status != schemas.EventCancelled {
		t.Fatalf("evt_1 %s %v", ev1.Status, deliveryStatuses(ev1))
	}
	if deliveryStatuses(ev2)["ep_ok"] != "pending" || ev2.Status != schemas.EventPending {
		t.Fatalf("evt_2 %s %v", ev2.Status, deliveryStatuses(ev2))
	}
	// Updating a disabled endpoint without enabling it cancels nothing new;
	// new events skip disabled endpoints.
	_, targets := accept(t, s, "app_1", "evt_3", "a", 7)
	if len(targets) != 1 || targets[0].EndpointID != "ep_ok" {
		t.Fatalf("targets %+v", targets)
	}
	// An event whose deliveries all get cancelled.
	must(t, s.DisableEndpoint(ctx, "app_1", "ep_ok", "manual", at(8)))
	if ev := getEvent(t, s, "app_1", "evt_3"); ev.Status != schemas.EventCancelled {
		t.Fatalf("evt_3 %s", ev.Status)
	}
	_, targets, err = s.EventInput(ctx, "app_1", "evt_2")
	must(t, err)
	if len(targets) != 0 {
		t.Fatalf("input targets after cancellation %+v", targets)
	}
}

func testDeleteApp(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkApp(t, s, "app_2")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	mkEndpoint(t, s, "app_2", "ep_2", true)
	accept(t, s, "app_1", "evt_1", "a", 1)
	accept(t, s, "app_2", "evt_1", "a", 1)
	record(t, s, "app_1", "evt_1", "ep_1", schemas.DeliveryFailed, 2)
	_, err := s.TakeRateToken(ctx, "ep_1", 1, at(2))
	must(t, err)

	must(t, s.DeleteApp(ctx, "app_1", at(3)))
	_, err = s.GetEndpoint(ctx, "app_1", "ep_1")
	wantErr(t, err, schemas.KindNotFound, "endpoint_not_found")
	_, err = s.GetEvent(ctx, "app_1", "evt_1")
	wantErr(t, err, schemas.KindNotFound, "event_not_found")
	_, err = s.LoadDelivery(ctx, "app_1", "evt_1", "ep_1")
	wantErr(t, err, schemas.KindNotFound, "delivery_not_found")
	if ok, _ := s.TurnAvailable(ctx, "ep_1", 5); !ok {
		t.Fatal("deleted app's deliveries still block")
	}
	// The other app is untouched, and the id can be used again from scratch.
	if ev := getEvent(t, s, "app_2", "evt_1"); len(ev.Deliveries) != 1 {
		t.Fatalf("app_2 event %+v", ev)
	}
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	_, targets := accept(t, s, "app_1", "evt_1", "a", 4)
	if targets[0].Seq != 1 {
		t.Fatalf("targets %+v", targets)
	}
}
