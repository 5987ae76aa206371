package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-hq/herald/schemas"
)

// sharedInstance is a `herald dev` that tests share: starting one costs
// seconds of CPU (many under -race), and each test uses its own app, so
// they stay independent. A test that needs other settings, a kill or a
// data dir of its own starts its own (startDev). TestMain stops it.
type sharedInstance struct {
	env  map[string]string
	once sync.Once
	dev  *devProc
}

// get starts the instance for the first test that asks.
func (s *sharedInstance) get(t *testing.T) *devProc {
	t.Helper()
	s.once.Do(func() { s.dev = launchDev(t, tempDirOutsideTest(t), s.env) })
	if s.dev == nil {
		t.Fatal("shared herald dev failed to start")
	}
	return s.dev
}

// Short retry delays keep exhaustion tests quick: 4 attempts in ~1.2 s.
const testRetrySchedule = "200ms,400ms,600ms"

// The test binary's shared instances, one per setting.
var (
	shared = &sharedInstance{env: map[string]string{
		"HERALD_RETRY_SCHEDULE":   testRetrySchedule,
		"HERALD_DELIVERY_TIMEOUT": "3s",
	}}
	// sharedHourRetry keeps a failed delivery in its retry wait for the
	// whole test.
	sharedHourRetry = &sharedInstance{env: map[string]string{"HERALD_RETRY_SCHEDULE": "1h"}}
)

func sharedDev(t *testing.T) *devProc { return shared.get(t) }

// apiFor gives a test its own client of the shared instance.
func apiFor(t *testing.T, p underTest) *apiClient {
	base, token := p.apiBase()
	return &apiClient{t: t, base: base, token: token}
}

type fixture struct {
	api       *apiClient
	app       string
	eventType string
}

// newFixture makes an app and an event type named after the test.
func newFixture(t *testing.T, api *apiClient, schema any) fixture {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	app := "app-" + name + fmt.Sprint(time.Now().UnixNano())
	api.must(201, "POST", "/v1/apps", map[string]any{"id": app, "name": t.Name()}, nil)
	et := "type-" + name + fmt.Sprint(time.Now().UnixNano())
	body := map[string]any{"name": et}
	if schema != nil {
		body["schema"] = schema
	}
	api.must(201, "POST", "/v1/event-types", body, nil)
	return fixture{api: api, app: app, eventType: et}
}

type createdEndpoint struct {
	schemas.Endpoint
	Secret string `json:"secret"`
}

func (f fixture) endpoint(t *testing.T, body map[string]any) createdEndpoint {
	t.Helper()
	var ep createdEndpoint
	f.api.must(201, "POST", "/v1/apps/"+f.app+"/endpoints", body, &ep)
	return ep
}

func (f fixture) send(t *testing.T, id string, payload any) schemas.Event {
	t.Helper()
	var ev schemas.Event
	body := map[string]any{"event_type": f.eventType, "payload": payload}
	if id != "" {
		body["id"] = id
	}
	f.api.must(202, "POST", "/v1/apps/"+f.app+"/events", body, &ev)
	return ev
}

func (f fixture) event(t *testing.T, id string) schemas.Event {
	t.Helper()
	var ev schemas.Event
	f.api.must(200, "GET", "/v1/apps/"+f.app+"/events/"+id, nil, &ev)
	return ev
}

// waitStatus polls an event until it reaches status.
func (f fixture) waitStatus(t *testing.T, id string, status schemas.EventStatus, timeout time.Duration) schemas.Event {
	t.Helper()
	var ev schemas.Event
	eventually(t, timeout, "event "+id+" to be "+string(status), func() bool {
		ev = f.event(t, id)
		return ev.Status == status
	})
	return ev
}

func TestDeliverSignedHappyPath(t *testing.T) {
	t.Parallel()
	scenarioDeliverSignedHappyPath(t, sharedDev(t))
}

func scenarioDeliverSignedHappyPath(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), map[string]any{"type": "object", "required": []string{"order"}})
	rc := newReceiver(t, nil)
	ep := f.endpoint(t, map[string]any{"url": rc.URL(), "headers": map[string]string{"X-Tenant": "acme"}})

	ev := f.send(t, "evt-happy", map[string]any{"order": 42})
	if ev.ID != "evt-happy" || ev.AppID != f.app || ev.Status != schemas.EventPending && ev.Status != schemas.EventDelivered {
		t.Fatalf("accepted event = %+v", ev)
	}
	eventually(t, 30*time.Second, "the webhook to arrive", func() bool { return rc.count() >= 1 })
	got := rc.received()[0]

	wh, err := standardwebhooks.NewWebhook(ep.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.Body, got.Header); err != nil {
		t.Fatalf("signature does not verify: %v (headers %v)", err, got.Header)
	}
	if got.ID != "evt-happy" {
		t.Errorf("webhook-id = %q", got.ID)
	}
	if ua := got.Header.Get("User-Agent"); !strings.HasPrefix(ua, "Herald/") {
		t.Errorf("User-Agent = %q", ua)
	}
	if got.Header.Get("X-Tenant") != "acme" {
		t.Errorf("custom header missing: %v", got.Header)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var env struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(got.Body, &env); err != nil {
		t.Fatal(err)
	}
	if env.Type != f.eventType || string(env.Data) != `{"order":42}` || env.Timestamp.IsZero() {
		t.Errorf("envelope = %s", got.Body)
	}

	done := f.waitStatus(t, "evt-happy", schemas.EventDelivered, 30*time.Second)
	if len(done.Deliveries) != 1 || done.Deliveries[0].Status != schemas.DeliverySucceeded {
		t.Fatalf("deliveries = %+v", done.Deliveries)
	}
	a := done.Deliveries[0].Attempts
	if len(a) != 1 || a[0].Attempt != 1 || a[0].ResponseStatus != 200 || a[0].ResponseBody != "answer 1" {
		t.Fatalf("attempts = %+v", a)
	}
	recordHistory(t, p, f.app, "evt-happy", "happy_path")

	metrics := p.metricsText(t)
	for _, want := range []string{"herald_events_accepted_total{event_type=\"" + f.eventType + "\"} 1",
		`herald_deliveries_total{outcome="succeeded"}`, `herald_attempts_total{class="2xx"}`,
		"herald_attempt_duration_seconds_bucket"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestRetriesUntilSuccess(t *testing.T) {
	t.Parallel()
	scenarioRetriesUntilSuccess(t, sharedDev(t))
}

func scenarioRetriesUntilSuccess(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	rc := newReceiver(t, func(n int, _ *http.Request) (int, http.Header, time.Duration) {
		if n <= 2 {
			return 500, nil, 0
		}
		return 200, nil, 0
	})
	f.endpoint(t, map[string]any{"url": rc.URL()})
	f.send(t, "evt-retry", map[string]any{"x": 1})
	ev := f.waitStatus(t, "evt-retry", schemas.EventDelivered, 60*time.Second)
	a := ev.Deliveries[0].Attempts
	if len(a) != 3 || a[0].ResponseStatus != 500 || a[1].ResponseStatus != 500 || a[2].ResponseStatus != 200 {
		t.Fatalf("attempts = %+v", a)
	}
	ids := map[string]bool{}
	for _, r := range rc.received() {
		ids[r.ID] = true
	}
	if len(ids) != 1 || !ids["evt-retry"] {
		t.Fatalf("webhook-id changed across retries: %v", ids)
	}
	recordHistory(t, p, f.app, "evt-retry", "retries_then_success")
}

func TestExhaustionFails(t *testing.T) {
	t.Parallel()
	scenarioExhaustionFails(t, sharedDev(t))
}

func scenarioExhaustionFails(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) { return 503, nil, 0 })
	f.endpoint(t, map[string]any{"url": rc.URL()})
	f.send(t, "evt-exhaust", 1)
	ev := f.waitStatus(t, "evt-exhaust", schemas.EventFailed, 60*time.Second)
	d := ev.Deliveries[0]
	wantAttempts := len(strings.Split(testRetrySchedule, ",")) + 1
	if d.Status != schemas.DeliveryFailed || len(d.Attempts) != wantAttempts {
		t.Fatalf("delivery = %+v, want failed after %d attempts", d, wantAttempts)
	}
	if rc.count() != wantAttempts {
		t.Fatalf("receiver got %d requests, want %d", rc.count(), wantAttempts)
	}
}

// 40 events to an ordered endpoint that fails at random: each event's first
// attempt comes only after the previous event's delivery ended.
func TestOrderedDeliveryWithFailures(t *testing.T) {
	t.Parallel()
	scenarioOrderedDeliveryWithFailures(t, sharedDev(t))
}

func scenarioOrderedDeliveryWithFailures(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	failFirst := func(id string) int { // how many times this event fails first: 0, 1 or 2
		h := fnv.New32a()
		h.Write([]byte(id))
		return int(h.Sum32() % 3)
	}
	var mu sync.Mutex
	tries := map[string]int{}
	rc := newReceiver(t, func(_ int, r *http.Request) (int, http.Header, time.Duration) {
		id := r.Header.Get("webhook-id")
		mu.Lock()
		defer mu.Unlock()
		tries[id]++
		if tries[id] <= failFirst(id) {
			return 500, nil, 0
		}
		return 200, nil, 0
	})
	f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": true})
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("ord-%02d", i)
		f.send(t, ids[i], map[string]int{"i": i})
	}
	want := 0
	for _, id := range ids {
		want += failFirst(id) + 1
	}
	eventually(t, 3*time.Minute, "all ordered deliveries", func() bool { return rc.count() >= want })
	got := rc.received()
	if len(got) != want {
		t.Fatalf("receiver got %d requests, want %d", len(got), want)
	}
	// The requests must be grouped by event, in acceptance order: once a
	// later event was attempted, no earlier event is attempted again.
	next := 0
	for i, r := range got {
		for next < n && r.ID != ids[next] {
			next++
		}
		if next == n {
			t.Fatalf("request %d (%s) arrived out of order; sequence: %v", i, r.ID, idsOf(got))
		}
	}
	for _, id := range ids {
		f.waitStatus(t, id, schemas.EventDelivered, 30*time.Second)
	}
	recordHistory(t, p, f.app, ids[0], "ordered_first_turns_in_deliver")
	recordHistory(t, p, f.app, ids[n-1], "ordered_queued_turns_in_deliver")
}

func idsOf(rs []received) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestUnorderedFanOutAndTypeFilter(t *testing.T) {
	t.Parallel()
	scenarioUnorderedFanOutAndTypeFilter(t, sharedDev(t))
}

func scenarioUnorderedFanOutAndTypeFilter(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	other := "other-" + f.eventType
	f.api.must(201, "POST", "/v1/event-types", map[string]any{"name": other}, nil)
	var all []*receiver
	for i := 0; i < 3; i++ {
		rc := newReceiver(t, nil)
		f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": false})
		all = append(all, rc)
	}
	onlyOther := newReceiver(t, nil)
	f.endpoint(t, map[string]any{"url": onlyOther.URL(), "event_types": []string{other}})
	disabled := newReceiver(t, nil)
	f.endpoint(t, map[string]any{"url": disabled.URL(), "disabled": true})

	for i := 0; i < 10; i++ {
		ev := f.send(t, fmt.Sprintf("fan-%d", i), i)
		if len(ev.Deliveries) != 3 {
			t.Fatalf("event has %d deliveries, want 3 (filtered and disabled endpoints excluded): %+v", len(ev.Deliveries), ev.Deliveries)
		}
	}
	for i := 0; i < 10; i++ {
		f.waitStatus(t, fmt.Sprintf("fan-%d", i), schemas.EventDelivered, 60*time.Second)
	}
	for i, rc := range all {
		if rc.count() != 10 {
			t.Errorf("endpoint %d got %d, want 10", i, rc.count())
		}
	}
	var ev schemas.Event
	f.api.must(202, "POST", "/v1/apps/"+f.app+"/events", map[string]any{"event_type": other, "payload": "x"}, &ev)
	f.waitStatus(t, ev.ID, schemas.EventDelivered, 30*time.Second)
	if onlyOther.count() != 1 {
		t.Errorf("filtered endpoint got %d, want only the one event of its type", onlyOther.count())
	}
	if disabled.count() != 0 {
		t.Errorf("disabled endpoint got %d requests", disabled.count())
	}
}

// An event fanned out to three unordered endpoints, one of which fails
// once: every attempt is on record under its own delivery, the failing
// one's retry included, and the workflow's history is recorded for the
// replay test (its first attempts share one local activity).
func TestFanOutWithRetry(t *testing.T) {
	t.Parallel()
	p := sharedDev(t)
	f := newFixture(t, apiFor(t, p), nil)
	flaky := newReceiver(t, func(n int, _ *http.Request) (int, http.Header, time.Duration) {
		if n == 1 {
			return 500, nil, 0
		}
		return 200, nil, 0
	})
	rcs := []*receiver{newReceiver(t, nil), flaky, newReceiver(t, nil)}
	want := map[string][]int{}
	for i, rc := range rcs {
		ep := f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": false})
		want[ep.ID] = []int{200}
		if i == 1 {
			want[ep.ID] = []int{500, 200}
		}
	}
	f.send(t, "evt-fan", map[string]any{"x": 1})
	ev := f.waitStatus(t, "evt-fan", schemas.EventDelivered, 60*time.Second)
	if len(ev.Deliveries) != len(want) {
		t.Fatalf("%d deliveries, want %d", len(ev.Deliveries), len(want))
	}
	for _, d := range ev.Deliveries {
		var got []int
		for _, a := range d.Attempts {
			got = append(got, a.ResponseStatus)
		}
		if fmt.Sprint(got) != fmt.Sprint(want[d.EndpointID]) || d.Status != schemas.DeliverySucceeded {
			t.Errorf("delivery to %s: %s, attempts %v, want succeeded after %v", d.EndpointID, d.Status, got, want[d.EndpointID])
		}
	}
	for i, n := range []int{1, 2, 1} {
		if got := rcs[i].count(); got != n {
			t.Errorf("receiver %d got %d requests, want %d", i, got, n)
		}
	}
	recordHistory(t, p, f.app, "evt-fan", "fanout_retry_first_together")
}

func TestIdempotentRepost(t *testing.T) {
	t.Parallel()
	scenarioIdempotentRepost(t, sharedDev(t))
}

func scenarioIdempotentRepost(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	rc := newReceiver(t, nil)
	f.endpoint(t, map[string]any{"url": rc.URL()})
	first := f.send(t, "", map[string]int{"n": 1})
	r := f.api.do("POST", "/v1/apps/"+f.app+"/events", map[string]any{"id": first.ID, "event_type": f.eventType, "payload": map[string]int{"n": 2}})
	if r.Status != 200 {
		t.Fatalf("repeat: status %d: %s", r.Status, r.Body)
	}
	var again schemas.Event
	r.decode(t, &again)
	if again.ID != first.ID || string(again.Payload) != `{"n":1}` {
		t.Fatalf("repeat answered %+v", again)
	}
	// The Idempotency-Key header works like the id.
	r = f.api.do("POST", "/v1/apps/"+f.app+"/events", map[string]any{"event_type": f.eventType, "payload": 3}, "Idempotency-Key", "idem-1")
	if r.Status != 202 {
		t.Fatalf("with Idempotency-Key: %d %s", r.Status, r.Body)
	}
	r = f.api.do("POST", "/v1/apps/"+f.app+"/events", map[string]any{"event_type": f.eventType, "payload": 3}, "Idempotency-Key", "idem-1")
	if r.Status != 200 {
		t.Fatalf("repeat with Idempotency-Key: %d %s", r.Status, r.Body)
	}
	f.waitStatus(t, first.ID, schemas.EventDelivered, 30*time.Second)
	f.waitStatus(t, "idem-1", schemas.EventDelivered, 30*time.Second)
	perID := map[string]int{}
	for _, g := range rc.received() {
		perID[g.ID]++
	}
	if perID[first.ID] != 1 || perID["idem-1"] != 1 || len(perID) != 2 {
		t.Fatalf("deliveries per id = %v, want one each", perID)
	}
}

func TestSchemaFailureChangesNothing(t *testing.T) {
	t.Parallel()
	scenarioSchemaFailureChangesNothing(t, sharedDev(t))
}

func scenarioSchemaFailureChangesNothing(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), map[string]any{"type": "object", "required": []string{"order"}})
	r := f.api.do("POST", "/v1/apps/"+f.app+"/events", map[string]any{"id": "bad", "event_type": f.eventType, "payload": map[string]int{"x": 1}})
	if r.Status != 422 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details any    `json:"details"`
		} `json:"error"`
	}
	r.decode(t, &e)
	if e.Error.Code == "" || e.Error.Message == "" || e.Error.Details == nil {
		t.Fatalf("error = %s", r.Body)
	}
	if r := f.api.do("GET", "/v1/apps/"+f.app+"/events/bad", nil); r.Status != 404 {
		t.Fatalf("rejected event exists: %d %s", r.Status, r.Body)
	}
}
