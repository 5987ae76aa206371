package activities_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// An attempt whose process dies (kill -9) or is stopped (SIGINT: the
// activity's context ends) during its POST is on record as interrupted once
// the attempt runs again, and the delivery is attempted again; it is not
// missing though the endpoint may have received it.

// hangFirst answers 200, except that its first request hangs until the
// client goes away; arrived is closed when that request came.
func hangFirst(t *testing.T) (*receiver, chan struct{}) {
	arrived := make(chan struct{})
	var n atomic.Int32
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			close(arrived)
			<-r.Context().Done()
			return
		}
		io.WriteString(w, "ok")
	})
	return rcv, arrived
}

// interruptible is an env with one event for one endpoint whose first
// request hangs, and the request of that delivery's first attempt.
func interruptible(t *testing.T, open opener) (*env, *receiver, chan struct{}, schemas.DeliverRequest) {
	e := newEnv(t, open)
	rcv, arrived := hangFirst(t)
	ep, _ := e.endpoint(rcv.URL, nil)
	e.event("evt_1", "t", `{}`, time.Now())
	return e, rcv, arrived, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: ep.ID, Key: "run/0/0",
		NextDelay: time.Second}
}

func wantInterruptedThenOK(t *testing.T, e *env, endpointID string) {
	t.Helper()
	ev, d := e.delivery("evt_1", endpointID)
	if ev.Status != schemas.EventDelivered || len(d.Attempts) != 2 {
		t.Fatalf("event %s, attempts %+v", ev.Status, d.Attempts)
	}
	if a := d.Attempts[0]; a.Attempt != 1 || a.Error != schemas.InterruptedError || a.ResponseStatus != 0 {
		t.Fatalf("first attempt %+v, want interrupted", a)
	}
	if a := d.Attempts[1]; a.Attempt != 2 || a.ResponseStatus != 200 {
		t.Fatalf("second attempt %+v", a)
	}
}

func TestAttemptInterruptedByKill(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e, rcv, arrived, req := interruptible(t, open)

		// The first process POSTs and hangs there: it is as good as dead.
		dead, kill := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() { _, err := e.acts.Deliver(dead, req); done <- err }()
		<-arrived
		if _, d := e.delivery("evt_1", req.EndpointID); d.Status != schemas.DeliveryDelivering || len(d.Attempts) != 0 {
			t.Fatalf("during the POST: %s, attempts %+v (an attempt in flight is not shown)", d.Status, d.Attempts)
		}

		// After the restart, the workflow runs the same attempt again in
		// another process. Its note in flight may be a live process's (the
		// first run's workflow task timed out): while the POST could still
		// be going on, the re-run waits and sends nothing.
		now := time.Now()
		restarted := activities.New(activities.Deps{Store: e.store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Now:    func() time.Time { return now },
			Config: activities.Config{DeliveryTimeout: 5 * time.Second, AllowPrivateNetworks: true, UserAgent: "Herald/test"}})
		res, err := restarted.Deliver(e.ctx, req)
		if err != nil || res.Outcome != schemas.OutcomeThrottled || res.RetryIn <= 5*time.Second || res.RetryIn > 8*time.Second {
			t.Fatalf("re-run while the first may be under way: %+v %v, want throttled for the delivery timeout and slack", res, err)
		}
		if n := len(rcv.got()); n != 1 {
			t.Fatalf("the endpoint got %d requests, want 1", n)
		}
		// Once it cannot be, the note is a dead process's: interrupted, and
		// the attempt is made again.
		now = now.Add(res.RetryIn)
		res, err = restarted.Deliver(e.ctx, req)
		if err != nil || res.Outcome != schemas.OutcomeSucceeded || res.Attempt == nil || res.Attempt.Attempt != 2 {
			t.Fatalf("re-run: %+v %v", res, err)
		}
		wantInterruptedThenOK(t, e, req.EndpointID)

		kill()
		if err := <-done; err == nil {
			t.Fatal("the dead process's attempt ended without an error")
		}
		wantInterruptedThenOK(t, e, req.EndpointID) // its late end changes nothing
		if n := len(rcv.got()); n != 2 {
			t.Fatalf("the endpoint got %d requests, want 2", n)
		}
	})
}

func TestAttemptInterruptedByStop(t *testing.T) {
	eachStore(t, func(t *testing.T, open opener) {
		e, rcv, arrived, req := interruptible(t, open)

		// SIGINT: the worker stops, and the activity's context ends.
		stopping, stop := context.WithCancel(e.ctx)
		go func() { <-arrived; stop() }()
		if _, err := e.acts.Deliver(stopping, req); err == nil {
			t.Fatal("an attempt cut short by its context ended without an error")
		}
		_, d := e.delivery("evt_1", req.EndpointID)
		if len(d.Attempts) != 1 || d.Attempts[0].Error != schemas.InterruptedError || d.Attempts[0].DurationMS <= 0 {
			t.Fatalf("after the stop: attempts %+v, want one interrupted", d.Attempts)
		}
		res, err := e.acts.Deliver(e.ctx, req) // the re-run after the restart
		if err != nil || res.Outcome != schemas.OutcomeSucceeded {
			t.Fatalf("re-run: %+v %v", res, err)
		}
		wantInterruptedThenOK(t, e, req.EndpointID)
		if n := len(rcv.got()); n != 2 {
			t.Fatalf("the endpoint got %d requests, want 2", n)
		}
	})
}

// In production a note in flight names the process that made it, which
// beats while it lives (store.WithProcess, store.Beat). A re-run in another
// process takes a note over as soon as its process is gone, instead of
// waiting until its POST must have ended; while that process beats, it
// asks again within a lapse, not after the whole delivery timeout.
func TestAttemptOfAGoneProcessTakenOverAtOnce(t *testing.T) {
	for name, dsn := range map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "herald.db") },
		"postgres": func(t *testing.T) string { return pgtest.DSN(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn := dsn(t)
			open := func(process string) *store.Store {
				st, err := store.Open(context.Background(), dsn, store.WithProcess(process))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				if err := st.Migrate(context.Background()); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Beat(context.Background()); err != nil {
					t.Fatal(err)
				}
				return st
			}
			first := open("first")
			e, rcv, arrived, req := interruptible(t, func(testing.TB) *store.Store { return first })
			dead, kill := context.WithCancel(e.ctx)
			defer kill()
			go func() { _, _ = e.acts.Deliver(dead, req) }()
			<-arrived

			second := activities.New(activities.Deps{Store: open("second"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Config: activities.Config{DeliveryTimeout: 5 * time.Second, AllowPrivateNetworks: true, UserAgent: "Herald/test"}})
			res, err := second.Deliver(e.ctx, req)
			if err != nil || res.Outcome != schemas.OutcomeThrottled || res.RetryIn > store.ProcessLapse {
				t.Fatalf("re-run while the first process beats: %+v %v, want throttled for at most %s", res, err, store.ProcessLapse)
			}
			if err := first.Forget(e.ctx); err != nil { // as a lapse of its beats would
				t.Fatal(err)
			}
			res, err = second.Deliver(e.ctx, req)
			if err != nil || res.Outcome != schemas.OutcomeSucceeded || res.Attempt == nil || res.Attempt.Attempt != 2 {
				t.Fatalf("re-run once the first process is gone: %+v %v, want the attempt made again at once", res, err)
			}
			wantInterruptedThenOK(t, e, req.EndpointID)
			if n := len(rcv.got()); n != 2 {
				t.Fatalf("the endpoint got %d requests, want 2", n)
			}
		})
	}
}
