package activities_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/signing"
	"github.com/herald-hq/herald/store"
)

func TestDeliverSucceeds(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusAccepted)
			w.Write([]byte(`{"received":true}`))
		})
		ep, sec := e.endpoint(rcv.URL+"/hook?x=1", nil)
		created := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("CEST", 2*3600))
		payload := `{"b": 1,  "a": [1, 2], "s": "ü\u00e9"}`
		e.event("evt_1", "order.created", payload, created)

		before := time.Now().Unix()
		res := e.deliver("evt_1", ep.ID, 5*time.Second)
		if res.Outcome != schemas.OutcomeSucceeded || res.EventStatus != schemas.EventDelivered || res.EndpointID != ep.ID {
			t.Fatalf("result %+v", res)
		}
		if a := res.Attempt; a == nil || a.Attempt != 1 || a.ResponseStatus != 202 || a.ResponseBody != `{"received":true}` || a.Error != "" {
			t.Fatalf("attempt %+v", res.Attempt)
		}
		got := rcv.got()
		if len(got) != 1 {
			t.Fatalf("%d requests", len(got))
		}
		r := got[0]
		want := `{"type":"order.created","timestamp":"2024-05-06T05:08:09.123456Z","data":` + payload + `}`
		if string(r.body) != want {
			t.Fatalf("body\n got %s\nwant %s", r.body, want)
		}
		wh, _ := standardwebhooks.NewWebhook(sec.Key)
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Fatalf("official verifier: %v (headers %v)", err, r.header)
		}
		for k, v := range map[string]string{"Content-Type": "application/json", "User-Agent": "Herald/test", "Webhook-Id": "evt_1"} {
			if r.header.Get(k) != v {
				t.Errorf("header %s = %q, want %q", k, r.header.Get(k), v)
			}
		}
		if ts, _ := strconv.ParseInt(r.header.Get("webhook-timestamp"), 10, 64); ts < before || ts > time.Now().Unix() {
			t.Errorf("webhook-timestamp %d not the attempt's time", ts)
		}
		if sigs := strings.Fields(r.header.Get("webhook-signature")); len(sigs) != 1 || !strings.HasPrefix(sigs[0], "v1,") {
			t.Errorf("signature %q", r.header.Get("webhook-signature"))
		}
		ev, d := e.delivery("evt_1", ep.ID)
		if ev.Status != schemas.EventDelivered || d.Status != schemas.DeliverySucceeded || len(d.Attempts) != 1 || d.Attempts[0].ResponseStatus != 202 {
			t.Fatalf("stored %+v %+v", ev.Status, d)
		}
		// Delivered again (the workflow's local activity retried): nothing is sent.
		again := e.deliver("evt_1", ep.ID, 5*time.Second)
		if again.Outcome != schemas.OutcomeSucceeded || again.Attempt != nil || len(rcv.got()) != 1 {
			t.Fatalf("second call %+v, %d requests", again, len(rcv.got()))
		}
	})
}

func TestDeliverCustomHeaders(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, nil)
		ep, sec := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) {
			ep.Headers = map[string]string{"X-Tenant": "acme", "Authorization": "Bearer abc",
				"webhook-id": "forged", "Webhook-Signature": "v1,forged", "WEBHOOK-TIMESTAMP": "1"}
		})
		e.event("evt_h", "t", `{}`, time.Now())
		if res := e.deliver("evt_h", ep.ID, time.Second); res.Outcome != schemas.OutcomeSucceeded {
			t.Fatalf("%+v", res)
		}
		r := rcv.got()[0]
		if r.header.Get("X-Tenant") != "acme" || r.header.Get("Authorization") != "Bearer abc" {
			t.Fatalf("custom headers missing: %v", r.header)
		}
		if r.header.Get("webhook-id") != "evt_h" || len(r.header.Values("webhook-id")) != 1 {
			t.Fatalf("webhook-id overridden: %v", r.header.Values("webhook-id"))
		}
		if err := signing.Verify(sec.Key, r.header, r.body, time.Minute); err != nil {
			t.Fatalf("verify: %v (%v)", err, r.header)
		}
	})
}

func TestDeliverFailureRetriesThenFails(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		now := time.Now().Truncate(time.Second)
		e := newEnv(t, open, withClock(func() time.Time { return now }))
		long := strings.Repeat("é", 2000) // 4000 bytes
		rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(long))
		})
		ep, _ := e.endpoint(rcv.URL, nil)
		e.event("evt_f", "t", `{"n":1}`, now)

		res := e.deliver("evt_f", ep.ID, 5*time.Second)
		if res.Outcome != schemas.OutcomeRetry || res.RetryIn != 5*time.Second || res.EventStatus != schemas.EventPending {
			t.Fatalf("first %+v", res)
		}
		if a := res.Attempt; a.Attempt != 1 || a.ResponseStatus != 500 || len(a.ResponseBody) != schemas.MaxResponseBody {
			t.Fatalf("attempt %d %d body %d bytes", a.Attempt, a.ResponseStatus, len(a.ResponseBody))
		}
		_, d := e.delivery("evt_f", ep.ID)
		if d.Status != schemas.DeliveryPending || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(now.Add(5*time.Second)) {
			t.Fatalf("stored after retry: %+v (next %v)", d, d.NextAttemptAt)
		}
		if len(d.Attempts[0].ResponseBody) > schemas.MaxResponseBody {
			t.Fatalf("stored body %d bytes", len(d.Attempts[0].ResponseBody))
		}

		res = e.deliver("evt_f", ep.ID, 0) // the last attempt
		if res.Outcome != schemas.OutcomeFailed || res.RetryIn != 0 || res.EventStatus != schemas.EventFailed || res.Attempt.Attempt != 2 {
			t.Fatalf("last %+v", res)
		}
		ev, d := e.delivery("evt_f", ep.ID)
		if ev.Status != schemas.EventFailed || d.Status != schemas.DeliveryFailed || len(d.Attempts) != 2 {
			t.Fatalf("stored after last: %s %+v", ev.Status, d)
		}
		if got := len(rcv.got()); got != 2 {
			t.Fatalf("%d requests", got)
		}
	})
}

func TestDeliverGoneDisablesEndpoint(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, status(http.StatusGone))
		ep, _ := e.endpoint(rcv.URL, nil)
		e.event("evt_g1", "t", `{}`, time.Now())
		e.event("evt_g2", "t", `{}`, time.Now())

		res := e.deliver("evt_g1", ep.ID, time.Hour) // retries left, but 410 is final
		if res.Outcome != schemas.OutcomeFailed || res.Attempt.ResponseStatus != 410 || res.EventStatus != schemas.EventFailed {
			t.Fatalf("%+v", res)
		}
		got, err := e.store.GetEndpoint(e.ctx, e.app, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Disabled || got.DisabledReason != "gone" || got.DisabledAt == nil {
			t.Fatalf("endpoint %+v", got)
		}
		if _, d := e.delivery("evt_g1", ep.ID); d.Status != schemas.DeliveryFailed {
			t.Fatalf("delivery %s, want failed", d.Status)
		}
		// The other event's delivery to it is cancelled, and Deliver says so.
		res = e.deliver("evt_g2", ep.ID, time.Hour)
		if res.Outcome != schemas.OutcomeCancelled || res.Attempt != nil || len(rcv.got()) != 1 {
			t.Fatalf("after disable %+v", res)
		}
	})
}

func TestDeliverRedirectNotFollowed(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		target := newReceiver(t, nil)
		rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/moved", http.StatusFound)
		})
		ep, _ := e.endpoint(rcv.URL, nil)
		e.event("evt_r", "t", `{}`, time.Now())
		res := e.deliver("evt_r", ep.ID, time.Minute)
		if res.Outcome != schemas.OutcomeRetry || res.Attempt.ResponseStatus != 302 || !strings.Contains(res.Attempt.Error, "redirects are not followed") {
			t.Fatalf("%+v %+v", res, res.Attempt)
		}
		if n := len(target.got()); n != 0 {
			t.Fatalf("the redirect was followed: %d requests at its target", n)
		}
	})
}

func TestDeliverRetryAfter(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		now := time.Now().Truncate(time.Second)
		e := newEnv(t, open, withClock(func() time.Time { return now }))
		date := func(d time.Duration) string { return now.Add(d).UTC().Format(http.TimeFormat) }
		cases := []struct {
			code       int
			retryAfter string
			want       time.Duration
		}{
			{503, "8", 8 * time.Second},   // longer than scheduled: honoured
			{503, "60", 10 * time.Second}, // capped at twice the scheduled delay
			{429, "3", 5 * time.Second},   // shorter: the schedule wins
			{429, date(7 * time.Second), 7 * time.Second},
			{503, date(time.Hour), 10 * time.Second}, // HTTP date, capped
			{503, "soon", 5 * time.Second},           // unreadable: ignored
			{500, "60", 5 * time.Second},             // only 429 and 503 count
		}
		for i, c := range cases {
			rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", c.retryAfter)
				w.WriteHeader(c.code)
			})
			id := "evt_ra" + strconv.Itoa(i)
			ep, _ := e.endpoint(rcv.URL, nil)
			e.event(id, "t", `{}`, now)
			res := e.deliver(id, ep.ID, 5*time.Second)
			if res.Outcome != schemas.OutcomeRetry || res.RetryIn != c.want {
				t.Errorf("%d Retry-After %q: %s in %s, want retry in %s", c.code, c.retryAfter, res.Outcome, res.RetryIn, c.want)
			}
			if _, d := e.delivery(id, ep.ID); d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(now.Add(c.want)) {
				t.Errorf("%d Retry-After %q: next_attempt_at %v", c.code, c.retryAfter, d.NextAttemptAt)
			}
		}
	})
}

func TestDeliverTimeout(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open, withConfig(func(c *activities.Config) { c.DeliveryTimeout = 300 * time.Millisecond }))
		rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		})
		ep, _ := e.endpoint(rcv.URL, nil)
		e.event("evt_t", "t", `{}`, time.Now())
		start := time.Now()
		res := e.deliver("evt_t", ep.ID, time.Minute)
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("took %s", took)
		}
		a := res.Attempt
		if res.Outcome != schemas.OutcomeRetry || a.ResponseStatus != 0 || !strings.Contains(a.Error, "delivery timeout of 300ms") || a.DurationMS < 250 {
			t.Fatalf("%+v %+v", res, a)
		}
	})
}

func TestDeliverRefusesPrivateNetwork(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open, withConfig(func(c *activities.Config) { c.AllowPrivateNetworks = false }))
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, nil) // 127.0.0.1
		e.event("evt_p", "t", `{}`, time.Now())
		res := e.deliver("evt_p", ep.ID, 0)
		if res.Outcome != schemas.OutcomeFailed || res.Attempt == nil || res.Attempt.ResponseStatus != 0 {
			t.Fatalf("%+v", res)
		}
		if !strings.Contains(res.Attempt.Error, "private, loopback or reserved") || !strings.Contains(res.Attempt.Error, "HERALD_ALLOW_PRIVATE_NETWORKS") {
			t.Fatalf("error %q", res.Attempt.Error)
		}
		if n := len(rcv.got()); n != 0 {
			t.Fatalf("%d requests reached the private address", n)
		}
		if _, d := e.delivery("evt_p", ep.ID); d.Status != schemas.DeliveryFailed || d.Attempts[0].Error != res.Attempt.Error {
			t.Fatalf("stored %+v", d)
		}
	})
}

func TestDeliverSignsWithBothKeysDuringRotation(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, nil)
		oldKey, _ := signing.NewSecret()
		future, past := time.Now().Add(time.Hour), time.Now().Add(-time.Second)
		rotating, sec := e.endpoint(rcv.URL, func(_ *schemas.Endpoint, s *schemas.EndpointSecrets) {
			s.PreviousKey, s.PreviousExpiresAt = oldKey, &future
		})
		e.event("evt_rot", "t", `{"r":1}`, time.Now())
		e.deliver("evt_rot", rotating.ID, time.Minute)
		r := rcv.got()[0]
		if sigs := strings.Fields(r.header.Get("webhook-signature")); len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1,") || !strings.HasPrefix(sigs[1], "v1,") {
			t.Fatalf("signatures %q", r.header.Get("webhook-signature"))
		}
		for _, key := range []string{sec.Key, oldKey} {
			wh, _ := standardwebhooks.NewWebhook(key)
			if err := wh.Verify(r.body, r.header); err != nil {
				t.Fatalf("official verifier with one of the keys: %v", err)
			}
		}

		// Once the overlap is over, only the current key signs.
		rcv2 := newReceiver(t, nil)
		expired, sec2 := e.endpoint(rcv2.URL, func(_ *schemas.Endpoint, s *schemas.EndpointSecrets) {
			s.PreviousKey, s.PreviousExpiresAt = oldKey, &past
		})
		e.event("evt_rot2", "t", `{}`, time.Now())
		e.deliver("evt_rot2", expired.ID, time.Minute)
		r = rcv2.got()[0]
		if sigs := strings.Fields(r.header.Get("webhook-signature")); len(sigs) != 1 {
			t.Fatalf("signatures after the overlap %q", r.header.Get("webhook-signature"))
		}
		if err := signing.Verify(sec2.Key, r.header, r.body, time.Minute); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDeliverEd25519(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, nil)
		sk, pk, err := signing.NewEd25519Key()
		if err != nil {
			t.Fatal(err)
		}
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, s *schemas.EndpointSecrets) {
			ep.SignatureType, s.Key = schemas.SignatureEd25519, sk
		})
		e.event("evt_ed", "t", `{"ed":25519}`, time.Now())
		if res := e.deliver("evt_ed", ep.ID, time.Minute); res.Outcome != schemas.OutcomeSucceeded {
			t.Fatalf("%+v", res)
		}
		r := rcv.got()[0]
		if !strings.HasPrefix(r.header.Get("webhook-signature"), "v1a,") {
			t.Fatalf("signature %q", r.header.Get("webhook-signature"))
		}
		if err := signing.Verify(pk, r.header, r.body, time.Minute); err != nil {
			t.Fatalf("verify with the public key: %v", err)
		}
	})
}

func TestDeliverThrottled(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		now := time.Now()
		e := newEnv(t, open, withClock(func() time.Time { return now }))
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, func(ep *schemas.Endpoint, _ *schemas.EndpointSecrets) { ep.RateLimitPerSecond = 2 })
		for _, id := range []string{"evt_1", "evt_2", "evt_3"} {
			e.event(id, "t", `{}`, now)
		}
		for _, id := range []string{"evt_1", "evt_2"} {
			if res := e.deliver(id, ep.ID, time.Minute); res.Outcome != schemas.OutcomeSucceeded {
				t.Fatalf("%s: %+v", id, res)
			}
		}
		res := e.deliver("evt_3", ep.ID, time.Minute)
		if res.Outcome != schemas.OutcomeThrottled || res.RetryIn <= 0 || res.RetryIn > 500*time.Millisecond || res.Attempt != nil {
			t.Fatalf("third within the second: %+v", res)
		}
		if n := len(rcv.got()); n != 2 {
			t.Fatalf("%d requests", n)
		}
		if _, d := e.delivery("evt_3", ep.ID); d.Status != schemas.DeliveryPending || len(d.Attempts) != 0 {
			t.Fatalf("throttled delivery %+v", d)
		}
		now = now.Add(res.RetryIn)
		if res := e.deliver("evt_3", ep.ID, time.Minute); res.Outcome != schemas.OutcomeSucceeded {
			t.Fatalf("after the wait: %+v", res)
		}
	})
}

// disabledStore is the real store, but the endpoint reads as disabled, as it
// does when it is disabled between the delivery's load and a cancel.
type disabledStore struct{ *store.Store }

func (s disabledStore) LoadDelivery(ctx context.Context, appID, eventID, endpointID string) (store.DeliveryJob, error) {
	job, err := s.Store.LoadDelivery(ctx, appID, eventID, endpointID)
	job.Endpoint.Disabled, job.Endpoint.DisabledReason = true, "manual"
	return job, err
}

func TestDeliverToDisabledEndpointCancels(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, nil)
		e.event("evt_d", "t", `{}`, time.Now())
		acts := activities.New(activities.Deps{Store: disabledStore{e.store}, Config: activities.Config{AllowPrivateNetworks: true}})
		res, err := acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_d", EndpointID: ep.ID, NextDelay: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != schemas.OutcomeCancelled || res.Attempt != nil || res.EventStatus != schemas.EventCancelled || !strings.Contains(res.Reason, "disabled (manual)") {
			t.Fatalf("%+v", res)
		}
		if _, d := e.delivery("evt_d", ep.ID); d.Status != schemas.DeliveryCancelled {
			t.Fatalf("delivery %s", d.Status)
		}
		if n := len(rcv.got()); n != 0 {
			t.Fatalf("%d requests", n)
		}
	})
}

func TestDeliverAfterCancelSendsNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		rcv := newReceiver(t, nil)
		ep, _ := e.endpoint(rcv.URL, nil)
		e.event("evt_c", "t", `{}`, time.Now())
		cr, err := e.acts.CancelDeliveries(e.ctx, schemas.CancelRequest{AppID: e.app, EventID: "evt_c"})
		if err != nil || cr.EventStatus != schemas.EventCancelled {
			t.Fatalf("cancel: %+v %v", cr, err)
		}
		res := e.deliver("evt_c", ep.ID, time.Minute)
		if res.Outcome != schemas.OutcomeCancelled || res.Attempt != nil || res.EventStatus != schemas.EventCancelled {
			t.Fatalf("%+v", res)
		}
		if n := len(rcv.got()); n != 0 {
			t.Fatalf("%d requests", n)
		}
	})
}

func TestDeliverAutoDisables(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		now := time.Now()
		e := newEnv(t, open, withClock(func() time.Time { return now }),
			withConfig(func(c *activities.Config) { c.DisableAfter = time.Hour }))
		var hits atomic.Int32
		rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
			hits.Add(1)
			w.WriteHeader(http.StatusBadGateway)
		})
		ep, _ := e.endpoint(rcv.URL, nil)
		e.event("evt_a", "t", `{}`, now)
		if res := e.deliver("evt_a", ep.ID, 2*time.Hour); res.Outcome != schemas.OutcomeRetry {
			t.Fatalf("first %+v", res)
		}
		now = now.Add(2 * time.Hour)
		res := e.deliver("evt_a", ep.ID, 5*time.Hour)
		if res.Outcome != schemas.OutcomeCancelled || res.Attempt == nil || res.Attempt.Attempt != 2 || res.EventStatus != schemas.EventCancelled {
			t.Fatalf("after failing for longer than DisableAfter: %+v", res)
		}
		got, _ := e.store.GetEndpoint(e.ctx, e.app, ep.ID)
		if !got.Disabled || got.DisabledReason != store.DisabledReasonFailing {
			t.Fatalf("endpoint %+v", got)
		}
	})
}

func TestDeliverStoreDownIsAnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, openSQLite)
	rcv := newReceiver(t, nil)
	ep, _ := e.endpoint(rcv.URL, nil)
	e.event("evt_x", "t", `{}`, time.Now())
	e.store.Close()
	_, err := e.acts.Deliver(e.ctx, schemas.DeliverRequest{AppID: e.app, EventID: "evt_x", EndpointID: ep.ID})
	if err == nil {
		t.Fatal("no error with the store closed")
	}
	if n := len(rcv.got()); n != 0 {
		t.Fatalf("%d requests", n)
	}
}

// A success ends the endpoint's failure streak (recorded with the attempt,
// in its transaction): failures before it do not count towards
// auto-disable.
func TestDeliverSuccessEndsFailureStreak(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		now := time.Now()
		e := newEnv(t, open, withClock(func() time.Time { return now }),
			withConfig(func(c *activities.Config) { c.DisableAfter = time.Hour }))
		var answer atomic.Int32
		answer.Store(http.StatusBadGateway)
		rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(answer.Load())) })
		ep, _ := e.endpoint(rcv.URL, nil)
		step := func(id string, code int, want schemas.Outcome) {
			t.Helper()
			answer.Store(int32(code))
			e.event(id, "t", `{}`, now)
			if res := e.deliver(id, ep.ID, 5*time.Hour); res.Outcome != want {
				t.Fatalf("%s answered %d: %+v, want %s", id, code, res, want)
			}
		}
		step("evt_1", http.StatusBadGateway, schemas.OutcomeRetry) // the streak starts
		now = now.Add(30 * time.Minute)
		step("evt_2", http.StatusOK, schemas.OutcomeSucceeded) // and ends
		now = now.Add(40 * time.Minute)
		step("evt_3", http.StatusBadGateway, schemas.OutcomeRetry) // a new one starts
		now = now.Add(40 * time.Minute)
		// 110 minutes after the first failure, 40 after the last success.
		step("evt_4", http.StatusBadGateway, schemas.OutcomeRetry)
		if got, _ := e.store.GetEndpoint(e.ctx, e.app, ep.ID); got.Disabled {
			t.Fatalf("disabled although a success came 40 minutes ago: %+v", got)
		}
		now = now.Add(30 * time.Minute)
		step("evt_5", http.StatusBadGateway, schemas.OutcomeCancelled) // 70 minutes of failures: disabled
	})
}
