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
	want := []schemas.Target{{EndpointID: "ep_a", Gen: 1}, {EndpointID: "ep_b", Ordered: true, Seq: 1, Gen: 1}, {EndpointID: "ep_c", Ordered: true, Seq: 1, Gen: 1}}
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

	// The next event takes the next seqs, behind evt_1's open deliveries.
	_, targets = accept(t, s, "app_1", "evt_2", "a", 3)
	want = []schemas.Target{{EndpointID: "ep_a", Gen: 1}, {EndpointID: "ep_b", Ordered: true, Seq: 2, Gen: 1, Ahead: 1}, {EndpointID: "ep_c", Ordered: true, Seq: 2, Gen: 1, Ahead: 1}}
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
	want = []schemas.Target{{EndpointID: "ep_a", Gen: 1}, {EndpointID: "ep_b", Ordered: true, Seq: 1, Gen: 1}, {EndpointID: "ep_c", Ordered: true, Seq: 1, Gen: 1}}
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
