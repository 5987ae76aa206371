package store_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

func testRecordAttempt(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	mkEndpoint(t, s, "app_1", "ep_2", false)
	accept(t, s, "app_1", "evt_1", "a", 0)

	_, _, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_1", EndpointID: "nope", Status: "failed"})
	wantErr(t, err, schemas.KindNotFound, "delivery_not_found")

	markDelivering(t, s, "app_1", "evt_1", "ep_1")
	if st := status(t, s, "app_1", "evt_1", "ep_1"); st != schemas.DeliveryDelivering {
		t.Fatalf("status %s", st)
	}
	_, err = s.MarkDelivering(ctx, "app_1", "evt_1", "nope", 0)
	wantErr(t, err, schemas.KindNotFound, "delivery_not_found")
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
	markDelivering(t, s, "app_1", "evt_1", "ep_2")

	st, err := s.SetDeliveryStatus(ctx, "app_1", "evt_1", []string{"ep_1", "ep_2"}, schemas.DeliveryCancelled, at(2))
	must(t, err)
	ev := getEvent(t, s, "app_1", "evt_1")
	if st != schemas.EventPending || !reflect.DeepEqual(deliveryStatuses(ev), map[string]schemas.DeliveryStatus{
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
		h, ok, err := s.HeadDelivery(ctx, "ep_1", "")
		must(t, err)
		return h.DeliveryRef, ok
	}
	turn := func(seq int64) bool {
		t.Helper()
		ok, err := s.TurnAvailable(ctx, "ep_1", "", seq)
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
	if !reflect.DeepEqual(targets, []schemas.Target{{EndpointID: "ep_1", Ordered: true, Seq: 3, Gen: 2}}) {
		t.Fatalf("targets %+v", targets)
	}
	ev := getEvent(t, s, "app_1", "evt_1")
	if ev.Status != schemas.EventPending || deliveryStatuses(ev)["ep_1"] != "pending" ||
		ev.Deliveries[0].NextAttemptAt != nil || len(ev.Deliveries[0].Attempts) != 2 {
		t.Fatalf("after replay %+v", ev)
	}
	// It now goes after evt_2.
	if ok, _ := s.TurnAvailable(ctx, "ep_1", "", 3); ok {
		t.Fatal("replayed delivery jumped the queue")
	}
	if ref, _, _ := s.HeadDelivery(ctx, "ep_1", ""); ref.EventID != "evt_2" {
		t.Fatalf("head %+v", ref)
	}

	// All deliveries; a deleted endpoint is skipped.
	must(t, s.DeleteEndpoint(ctx, "app_1", "ep_3", at(6)))
	targets, err = s.PrepareReplay(ctx, "app_1", "evt_1", "", at(7))
	must(t, err)
	want := []schemas.Target{{EndpointID: "ep_1", Ordered: true, Seq: 4, Gen: 3}, {EndpointID: "ep_2", Gen: 2}}
	if !reflect.DeepEqual(targets, want) {
		t.Fatalf("targets %+v, want %+v", targets, want)
	}
	ev = getEvent(t, s, "app_1", "evt_1")
	if !reflect.DeepEqual(deliveryStatuses(ev), map[string]schemas.DeliveryStatus{"ep_1": "pending", "ep_2": "pending", "ep_3": "succeeded"}) {
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
		{EventID: "evt_1", Target: schemas.Target{EndpointID: "ep_1", Ordered: true, Seq: 7, Gen: 2}},
		{EventID: "evt_2", Target: schemas.Target{EndpointID: "ep_1", Ordered: true, Seq: 8, Gen: 2}},
		{EventID: "evt_5", Target: schemas.Target{EndpointID: "ep_1", Ordered: true, Seq: 9, Gen: 2}},
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
	if ref, _, _ := s.HeadDelivery(ctx, "ep_1", ""); ref.EventID != "evt_6" {
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
	if !reflect.DeepEqual(got, []store.ReplayedDelivery{{EventID: "evt_2", Target: schemas.Target{EndpointID: "ep_u", Gen: 2}}}) {
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
	sameAsLoadDeliveries(t, s, job)
	_, err = s.LoadDelivery(ctx, "app_1", "evt_1", "nope")
	wantErr(t, err, schemas.KindNotFound, "delivery_not_found")

	must(t, s.DeleteEndpoint(ctx, "app_1", "ep_1", at(2)))
	job, err = s.LoadDelivery(ctx, "app_1", "evt_1", "ep_1")
	must(t, err)
	if !job.EndpointGone || job.Status != schemas.DeliveryCancelled || job.Endpoint.ID != "" || string(job.Event.Payload) != `{"n":1}` {
		t.Fatalf("gone job %+v", job)
	}
	sameAsLoadDeliveries(t, s, job)
	all, err := s.LoadDeliveries(ctx, "app_1", "nope")
	if err != nil || len(all) != 0 {
		t.Fatalf("deliveries of a missing event: %v, %v", all, err)
	}
}

// sameAsLoadDeliveries checks that LoadDeliveries of evt_1 reads job, its
// one delivery, as LoadDelivery did.
func sameAsLoadDeliveries(t *testing.T, s *store.Store, job store.DeliveryJob) {
	t.Helper()
	all, err := s.LoadDeliveries(context.Background(), "app_1", "evt_1")
	must(t, err)
	if !reflect.DeepEqual(all, map[string]store.DeliveryJob{"ep_1": job}) {
		t.Fatalf("LoadDeliveries %+v\nLoadDelivery %+v", all, job)
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
	markDelivering(t, s, "app_1", "evt_2", "ep_del")

	must(t, s.DeleteEndpoint(ctx, "app_1", "ep_del", at(4)))
	ev1, ev2 := getEvent(t, s, "app_1", "evt_1"), getEvent(t, s, "app_1", "evt_2")
	if deliveryStatuses(ev1)["ep_del"] != "succeeded" || deliveryStatuses(ev2)["ep_del"] != "cancelled" {
		t.Fatalf("after delete %v %v", deliveryStatuses(ev1), deliveryStatuses(ev2))
	}

	ep.Disabled, ep.DisabledReason, ep.UpdatedAt = true, "manual", at(5)
	upd, err := s.UpdateEndpoint(ctx, ep)
	must(t, err)
	if upd.DisabledAt == nil || !upd.DisabledAt.Equal(at(5)) {
		t.Fatalf("disabled_at %v, want when it got disabled", upd.DisabledAt)
	}
	_, _, err = s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_2", EndpointID: "ep_ok", Status: "bogus"})
	if err == nil {
		t.Fatal("unknown status recorded")
	}
	must(t, s.DisableEndpoint(ctx, "app_1", "ep_dis", "gone", at(6)))
	dis, err := s.GetEndpoint(ctx, "app_1", "ep_dis")
	must(t, err)
	if !dis.Disabled || dis.DisabledReason != "gone" || dis.DisabledAt == nil || !dis.DisabledAt.Equal(at(6)) {
		t.Fatalf("disabled %+v", dis)
	}
	ev1, ev2 = getEvent(t, s, "app_1", "evt_1"), getEvent(t, s, "app_1", "evt_2")
	if !reflect.DeepEqual(deliveryStatuses(ev1), map[string]schemas.DeliveryStatus{"ep_del": "succeeded", "ep_upd": "cancelled", "ep_dis": "cancelled", "ep_ok": "succeeded"}) ||
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
	if ok, _ := s.TurnAvailable(ctx, "ep_1", "", 5); !ok {
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

func testAttemptByKey(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	_, targets := accept(t, s, "app_1", "evt_1", "a", 0)

	st, seq, err := s.DeliveryState(ctx, "app_1", "evt_1", "ep_1")
	must(t, err)
	if st != schemas.DeliveryPending || seq != targets[0].Seq || seq == 0 {
		t.Fatalf("state %s seq %d, targets %+v", st, seq, targets)
	}
	_, _, err = s.DeliveryState(ctx, "app_1", "evt_1", "nope")
	wantErr(t, err, schemas.KindNotFound, "delivery_not_found")

	if _, found, err := s.AttemptByKey(ctx, "app_1", "evt_1", "ep_1", "run/0/0"); err != nil || found {
		t.Fatalf("before any attempt: found=%v err=%v", found, err)
	}
	next := at(9)
	n, _, err := s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_1", EndpointID: "ep_1",
		StartedAt: at(1), DurationMS: 12, ResponseStatus: 503, Status: schemas.DeliveryPending, NextAttemptAt: &next,
		Key: "run/0/0", Outcome: schemas.OutcomeRetry, RetryIn: 8 * time.Second})
	must(t, err)
	record(t, s, "app_1", "evt_1", "ep_1", schemas.DeliveryFailed, 10) // no key
	got, found, err := s.AttemptByKey(ctx, "app_1", "evt_1", "ep_1", "run/0/0")
	must(t, err)
	if !found || got.Attempt.Attempt != n || got.Attempt.ResponseStatus != 503 || !got.Attempt.StartedAt.Equal(at(1)) ||
		got.Outcome != schemas.OutcomeRetry || got.RetryIn != 8*time.Second {
		t.Fatalf("found=%v %+v", found, got)
	}
	if _, found, _ := s.AttemptByKey(ctx, "app_1", "evt_1", "ep_1", "run/0/1"); found {
		t.Fatal("found an attempt under a key never recorded")
	}
}

func testDrain(t *testing.T, s *store.Store) {
	ctx := context.Background()
	mkApp(t, s, "app_1")
	mkEndpoint(t, s, "app_1", "ep_1", true)
	_, t1 := accept(t, s, "app_1", "evt_1", "a", 0)
	_, t2 := accept(t, s, "app_1", "evt_2", "a", 1)

	next, fresh, err := s.NextFresh(ctx, "ep_1", "", t1[0].Seq)
	must(t, err)
	if !fresh || next.EventID != "evt_2" || next.Seq != t2[0].Seq {
		t.Fatalf("next after evt_1: %+v fresh=%v", next, fresh)
	}
	if _, fresh, err := s.NextFresh(ctx, "ep_1", "", t2[0].Seq); err != nil || fresh {
		t.Fatalf("nothing after evt_2: fresh=%v err=%v", fresh, err)
	}
	// A drained failure: evt_2 is tried, so no longer fresh, and stays pending.
	_, _, err = s.RecordAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_2", EndpointID: "ep_1",
		StartedAt: at(2), DurationMS: 3, ResponseStatus: 500, Status: schemas.DeliveryPending, Key: store.DrainKey(t2[0].Seq)})
	must(t, err)
	if _, fresh, _ := s.NextFresh(ctx, "ep_1", "", t1[0].Seq); fresh {
		t.Fatal("a tried delivery is still fresh")
	}
	next2 := at(60)
	a, evStatus, found, err := s.AdoptAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_2", EndpointID: "ep_1",
		Status: schemas.DeliveryPending, NextAttemptAt: &next2, Key: "run/0/0", Outcome: schemas.OutcomeRetry, RetryIn: time.Minute},
		store.DrainKey(t2[0].Seq))
	must(t, err)
	if !found || a.Attempt != 1 || a.ResponseStatus != 500 || evStatus != schemas.EventPending {
		t.Fatalf("adopted %+v found=%v event %s", a, found, evStatus)
	}
	if got, ok, _ := s.AttemptByKey(ctx, "app_1", "evt_2", "ep_1", "run/0/0"); !ok || got.Outcome != schemas.OutcomeRetry || got.RetryIn != time.Minute {
		t.Fatalf("by the new key: %+v %v", got, ok)
	}
	if _, _, found, err := s.AdoptAttempt(ctx, store.AttemptRecord{AppID: "app_1", EventID: "evt_2", EndpointID: "ep_1",
		Status: schemas.DeliveryFailed, Key: "run/0/1"}, store.DrainKey(t2[0].Seq)); err != nil || found {
		t.Fatalf("adopted twice: found=%v err=%v", found, err)
	}
	if d := getEvent(t, s, "app_1", "evt_2").Deliveries[0]; d.Status != schemas.DeliveryPending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(next2) {
		t.Fatalf("delivery after adoption %+v", d)
	}
}
