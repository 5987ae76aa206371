package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/herald-hq/herald/schemas"
)

func temporalClient(t *testing.T, p underTest) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tc, err := client.DialContext(ctx, client.Options{HostPort: p.temporalAddr(), Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	return tc
}

// historyOf is the whole history of workflow id's current run.
func historyOf(ctx context.Context, t testing.TB, tc client.Client, id string) []*historypb.HistoryEvent {
	t.Helper()
	var out []*historypb.HistoryEvent
	it := tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		out = append(out, e)
	}
	return out
}

func TestCancelDuringRetryWait(t *testing.T) {
	t.Parallel()
	p := sharedHourRetry.get(t)
	f := newFixture(t, p.api.withT(t), nil)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) { return 500, nil, 0 })
	ok := newReceiver(t, nil)
	f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": true})
	f.endpoint(t, map[string]any{"url": ok.URL(), "ordered": false})
	f.send(t, "c1", 1)
	f.send(t, "c2", 2) // waits behind c1 at the ordered endpoint
	eventually(t, 30*time.Second, "first attempt and the other endpoint's success", func() bool {
		ev := f.event(t, "c1")
		return rc.count() == 1 && ok.count() >= 1 && len(ev.Deliveries) == 2
	})
	var ev schemas.Event
	f.api.must(202, "POST", "/v1/apps/"+f.app+"/events/c1/cancel", nil, &ev)
	ev = f.waitStatus(t, "c1", schemas.EventCancelled, 30*time.Second)
	for _, d := range ev.Deliveries {
		want := schemas.DeliveryCancelled
		if len(d.Attempts) == 1 && d.Attempts[0].ResponseStatus == 200 {
			want = schemas.DeliverySucceeded // a succeeded delivery stays succeeded
		}
		if d.Status != want {
			t.Errorf("delivery to %s = %s, want %s", d.EndpointID, d.Status, want)
		}
	}
	// The ordered endpoint's next event goes once c1 is cancelled.
	eventually(t, 60*time.Second, "c2 to reach the ordered endpoint", func() bool {
		for _, r := range rc.received() {
			if r.ID == "c2" {
				return true
			}
		}
		return false
	})
	n := 0
	for _, r := range rc.received() {
		if r.ID == "c1" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("c1 attempted %d times, want 1", n)
	}
	recordHistory(t, p, f.app, "c1", "cancel_during_retry_wait")
}

func TestCancelBySignalDuringSlowAttempt(t *testing.T) {
	t.Parallel()
	scenarioCancelBySignalDuringSlowAttempt(t, sharedDev(t))
}

func scenarioCancelBySignalDuringSlowAttempt(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	started := make(chan struct{}, 1)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) {
		select {
		case started <- struct{}{}:
		default:
		}
		return 500, nil, 2 * time.Second
	})
	f.endpoint(t, map[string]any{"url": rc.URL()})
	f.send(t, "slow", 1)
	<-started
	tc := temporalClient(t, p)
	if err := tc.SignalWorkflow(context.Background(), schemas.EventWorkflowID(f.app, "slow"), "", schemas.SignalCancel, nil); err != nil {
		t.Fatal(err)
	}
	ev := f.waitStatus(t, "slow", schemas.EventCancelled, 60*time.Second)
	if ev.Deliveries[0].Status != schemas.DeliveryCancelled {
		t.Fatalf("delivery = %+v", ev.Deliveries[0])
	}
	// The schedule would have retried within a second; nothing more comes.
	seen := rc.count()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if rc.count() > seen {
			t.Fatalf("attempt after cancel: %d > %d", rc.count(), seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReplayAfterSuccessAndAfterClose(t *testing.T) {
	t.Parallel()
	scenarioReplayAfterSuccessAndAfterClose(t, sharedDev(t))
}

func scenarioReplayAfterSuccessAndAfterClose(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	rc := newReceiver(t, nil)
	ep := f.endpoint(t, map[string]any{"url": rc.URL()})
	f.send(t, "r1", map[string]string{"k": "v"})
	f.waitStatus(t, "r1", schemas.EventDelivered, 30*time.Second)
	tc := temporalClient(t, p)
	eventually(t, 30*time.Second, "the event workflow to close", func() bool {
		d, err := tc.DescribeWorkflowExecution(context.Background(), schemas.EventWorkflowID(f.app, "r1"), "")
		return err == nil && d.WorkflowExecutionInfo.CloseTime != nil
	})
	f.api.must(202, "POST", "/v1/apps/"+f.app+"/events/r1/replay", map[string]any{"endpoint_id": ep.ID}, nil)
	eventually(t, 30*time.Second, "the replayed delivery", func() bool { return rc.count() == 2 })
	got := rc.received()
	if got[0].ID != got[1].ID {
		t.Fatalf("webhook-id changed on replay: %s vs %s", got[0].ID, got[1].ID)
	}
	ev := f.waitStatus(t, "r1", schemas.EventDelivered, 30*time.Second)
	if a := ev.Deliveries[0].Attempts; len(a) != 2 || a[1].Attempt != 2 {
		t.Fatalf("attempts after replay = %+v", a)
	}
	// Replaying every delivery of the event works the same way.
	f.api.must(202, "POST", "/v1/apps/"+f.app+"/events/r1/replay", nil, nil)
	eventually(t, 30*time.Second, "the second replay", func() bool { return rc.count() == 3 })
	f.waitStatus(t, "r1", schemas.EventDelivered, 30*time.Second)
	recordHistory(t, p, f.app, "r1", "replay_after_close")
}

func TestReplayBySignal(t *testing.T) {
	t.Parallel()
	scenarioReplayBySignal(t, sharedDev(t))
}

func scenarioReplayBySignal(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	var fail atomic.Bool
	fail.Store(true)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) {
		if fail.Load() {
			return 500, nil, 0
		}
		return 200, nil, 0
	})
	f.endpoint(t, map[string]any{"url": rc.URL()})
	f.send(t, "rs", 1)
	tc := temporalClient(t, p)
	eventually(t, 10*time.Second, "a first attempt", func() bool { return rc.count() >= 1 })
	fail.Store(false)
	err := tc.SignalWorkflow(context.Background(), schemas.EventWorkflowID(f.app, "rs"), "", schemas.SignalReplay, schemas.ReplaySignal{})
	if err != nil {
		t.Fatalf("replay signal (the run stays open over its retries, ~1.2 s): %v", err)
	}
	f.waitStatus(t, "rs", schemas.EventDelivered, 30*time.Second)
}

func TestRecoverFailedWindow(t *testing.T) {
	t.Parallel()
	scenarioRecoverFailedWindow(t, sharedDev(t))
}

// Every event fails through the whole (short) schedule first; recovered,
// they are delivered again in order.
func scenarioRecoverFailedWindow(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	var fail atomic.Bool
	fail.Store(true)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) {
		if fail.Load() {
			return 500, nil, 0
		}
		return 200, nil, 0
	})
	ep := f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": true})
	since := time.Now().UTC().Add(-time.Second)
	ids := []string{"f1", "f2", "f3", "f4"}
	for _, id := range ids {
		f.send(t, id, id)
	}
	for _, id := range ids {
		f.waitStatus(t, id, schemas.EventFailed, 60*time.Second)
	}
	fail.Store(false)
	failed := rc.count()
	var out struct {
		Replayed int `json:"replayed"`
	}
	f.api.must(202, "POST", "/v1/apps/"+f.app+"/endpoints/"+ep.ID+"/recover", map[string]any{"since": since.Format(time.RFC3339Nano)}, &out)
	if out.Replayed != len(ids) {
		t.Fatalf("replayed = %d, want %d", out.Replayed, len(ids))
	}
	for _, id := range ids {
		f.waitStatus(t, id, schemas.EventDelivered, 60*time.Second)
	}
	var order []string
	for _, r := range rc.received()[failed:] {
		order = append(order, r.ID)
	}
	if strings.Join(order, ",") != strings.Join(ids, ",") {
		for _, r := range rc.received() {
			t.Logf("%s %s", r.At.Format("15:04:05.000000"), r.ID)
		}
		for _, id := range ids {
			t.Logf("%s: %s", id, f.api.do("GET", "/v1/apps/"+f.app+"/events/"+id, nil).Body)
		}
		t.Fatalf("recovered in order %v, want %v", order, ids)
	}
}

func TestSecretRotationSignsWithBothKeys(t *testing.T) {
	t.Parallel()
	scenarioSecretRotationSignsWithBothKeys(t, sharedDev(t))
}

func scenarioSecretRotationSignsWithBothKeys(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	rc := newReceiver(t, nil)
	ep := f.endpoint(t, map[string]any{"url": rc.URL()})
	var rotated struct {
		Key string `json:"key"`
	}
	f.api.must(200, "POST", "/v1/apps/"+f.app+"/endpoints/"+ep.ID+"/secret/rotate", map[string]any{}, &rotated)
	if rotated.Key == ep.Secret || !strings.HasPrefix(rotated.Key, "whsec_") {
		t.Fatalf("rotated key %q", rotated.Key)
	}
	var cur struct {
		Key string `json:"key"`
	}
	f.api.must(200, "GET", "/v1/apps/"+f.app+"/endpoints/"+ep.ID+"/secret", nil, &cur)
	if cur.Key != rotated.Key {
		t.Fatalf("secret route = %q, want the new key", cur.Key)
	}
	f.send(t, "rot", 1)
	eventually(t, 30*time.Second, "delivery", func() bool { return rc.count() == 1 })
	got := rc.received()[0]
	if sigs := strings.Fields(got.Header.Get("webhook-signature")); len(sigs) != 2 {
		t.Fatalf("signatures = %q, want two", got.Header.Get("webhook-signature"))
	}
	for _, key := range []string{ep.Secret, rotated.Key} {
		wh, err := standardwebhooks.NewWebhook(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(got.Body, got.Header); err != nil {
			t.Errorf("key %s…: %v", key[:10], err)
		}
	}
}

func TestEd25519Endpoint(t *testing.T) {
	t.Parallel()
	scenarioEd25519Endpoint(t, sharedDev(t))
}

func scenarioEd25519Endpoint(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	rc := newReceiver(t, nil)
	ep := f.endpoint(t, map[string]any{"url": rc.URL(), "signature_type": "ed25519"})
	if !strings.HasPrefix(ep.Secret, "whpk_") || ep.SignatureType != "ed25519" {
		t.Fatalf("created = %+v", ep)
	}
	f.send(t, "ed", map[string]int{"a": 1})
	eventually(t, 30*time.Second, "delivery", func() bool { return rc.count() == 1 })
	got := rc.received()[0]
	pub, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(ep.Secret, "whpk_"))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("public key %q: %v", ep.Secret, err)
	}
	sig, ok := strings.CutPrefix(got.Header.Get("webhook-signature"), "v1a,")
	if !ok {
		t.Fatalf("signature = %q", got.Header.Get("webhook-signature"))
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	msg := got.ID + "." + got.Header.Get("webhook-timestamp") + "." + string(got.Body)
	if !ed25519.Verify(pub, []byte(msg), raw) {
		t.Fatal("ed25519 signature does not verify")
	}

	// Rotation: a new key pair; both sign during the overlap.
	var rotated struct {
		Key string `json:"key"`
	}
	f.api.must(200, "POST", "/v1/apps/"+f.app+"/endpoints/"+ep.ID+"/secret/rotate", map[string]any{}, &rotated)
	if !strings.HasPrefix(rotated.Key, "whpk_") || rotated.Key == ep.Secret {
		t.Fatalf("rotated key %q", rotated.Key)
	}
	f.send(t, "ed2", 2)
	eventually(t, 30*time.Second, "delivery after rotation", func() bool { return rc.count() == 2 })
	got = rc.received()[1]
	sigs := strings.Fields(got.Header.Get("webhook-signature"))
	if len(sigs) != 2 {
		t.Fatalf("signatures after rotation = %q, want two", got.Header.Get("webhook-signature"))
	}
	msg = got.ID + "." + got.Header.Get("webhook-timestamp") + "." + string(got.Body)
	for _, key := range []string{ep.Secret, rotated.Key} {
		pub, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(key, "whpk_"))
		ok := false
		for _, sg := range sigs {
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sg, "v1a,"))
			ok = ok || (strings.HasPrefix(sg, "v1a,") && ed25519.Verify(pub, []byte(msg), raw))
		}
		if !ok {
			t.Errorf("no signature verifies with %s…", key[:12])
		}
	}
}

func TestRateLimitHolds(t *testing.T) {
	t.Parallel()
	scenarioRateLimitHolds(t, sharedDev(t))
}

func scenarioRateLimitHolds(t *testing.T, p underTest) {
	f := newFixture(t, apiFor(t, p), nil)
	rc := newReceiver(t, nil)
	f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": false, "rate_limit_per_second": 5})
	const n = 30
	for i := 0; i < n; i++ {
		f.send(t, fmt.Sprintf("rl-%d", i), i)
	}
	eventually(t, 2*time.Minute, "all 30 deliveries", func() bool { return rc.count() >= n })
	got := rc.received()
	if len(got) != n {
		t.Fatalf("got %d, want %d (none dropped, none twice)", len(got), n)
	}
	// In any window of one second, at most 5 (plus the bucket's burst of 5).
	for i := range got {
		inWindow := 0
		for j := i; j < len(got) && got[j].At.Sub(got[i].At) < time.Second; j++ {
			inWindow++
		}
		if inWindow > 10 {
			t.Fatalf("%d deliveries within one second from #%d", inWindow, i)
		}
	}
	span := got[len(got)-1].At.Sub(got[0].At)
	if span < 4*time.Second {
		t.Fatalf("30 deliveries at 5/s took %s, want at least 4s", span)
	}
}

func TestRetryAfterDelaysNextAttempt(t *testing.T) {
	t.Parallel()
	p := startDev(t, t.TempDir(), map[string]string{"HERALD_RETRY_SCHEDULE": "1s"})
	f := newFixture(t, p.api.withT(t), nil)
	rc := newReceiver(t, func(n int, _ *http.Request) (int, http.Header, time.Duration) {
		if n == 1 {
			return 429, http.Header{"Retry-After": []string{strconv.Itoa(30)}}, 0
		}
		return 200, nil, 0
	})
	f.endpoint(t, map[string]any{"url": rc.URL()})
	f.send(t, "ra", 1)
	ev := f.waitStatus(t, "ra", schemas.EventDelivered, time.Minute)
	a := ev.Deliveries[0].Attempts
	if len(a) != 2 {
		t.Fatalf("attempts = %+v", a)
	}
	// Retry-After 30s, capped at twice the scheduled 1s.
	gap := a[1].StartedAt.Sub(a[0].StartedAt)
	if gap < 1900*time.Millisecond || gap > 10*time.Second {
		t.Fatalf("gap between attempts = %s, want about 2s", gap)
	}
}

func TestAutoDisableAndReenable(t *testing.T) {
	t.Parallel()
	p := startDev(t, t.TempDir(), map[string]string{"HERALD_RETRY_SCHEDULE": "500ms,500ms,500ms,500ms", "HERALD_DISABLE_AFTER": "1s"})
	f := newFixture(t, p.api.withT(t), nil)
	var fail atomic.Bool
	fail.Store(true)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) {
		if fail.Load() {
			return 500, nil, 0
		}
		return 200, nil, 0
	})
	ep := f.endpoint(t, map[string]any{"url": rc.URL()})
	f.send(t, "ad", 1)
	var got schemas.Endpoint
	eventually(t, time.Minute, "the endpoint to be disabled", func() bool {
		f.api.must(200, "GET", "/v1/apps/"+f.app+"/endpoints/"+ep.ID, nil, &got)
		return got.Disabled
	})
	if got.DisabledReason == "" || got.DisabledAt == nil {
		t.Fatalf("disabled without reason: %+v", got)
	}
	fail.Store(false)
	var enabled schemas.Endpoint
	f.api.must(200, "PATCH", "/v1/apps/"+f.app+"/endpoints/"+ep.ID, map[string]any{"disabled": false}, &enabled)
	if enabled.Disabled || enabled.DisabledReason != "" || enabled.DisabledAt != nil {
		t.Fatalf("re-enabled = %+v", enabled)
	}
	f.send(t, "ad2", 2)
	f.waitStatus(t, "ad2", schemas.EventDelivered, time.Minute)
}

func TestDeleteCascades(t *testing.T) {
	t.Parallel()
	p := sharedHourRetry.get(t)
	f := newFixture(t, p.api.withT(t), nil)
	rc := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) { return 500, nil, 0 })
	ep := f.endpoint(t, map[string]any{"url": rc.URL()})
	f.send(t, "d1", 1)
	eventually(t, 30*time.Second, "first attempt", func() bool { return rc.count() == 1 })
	r := f.api.do("DELETE", "/v1/apps/"+f.app+"/endpoints/"+ep.ID, nil)
	if r.Status != 204 {
		t.Fatalf("delete endpoint: %d %s", r.Status, r.Body)
	}
	ev := f.waitStatus(t, "d1", schemas.EventCancelled, 30*time.Second)
	if ev.Deliveries[0].Status != schemas.DeliveryCancelled {
		t.Fatalf("delivery after delete = %+v", ev.Deliveries[0])
	}
	if r := f.api.do("DELETE", "/v1/apps/"+f.app, nil); r.Status != 204 {
		t.Fatalf("delete app: %d %s", r.Status, r.Body)
	}
	if r := f.api.do("GET", "/v1/apps/"+f.app, nil); r.Status != 404 {
		t.Fatalf("app after delete: %d", r.Status)
	}
}
