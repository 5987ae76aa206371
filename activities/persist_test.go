package activities_test

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// signalHandler closes failed at the first record that failed and is tried
// again (activities' persist logs it).
type signalHandler struct {
	slog.Handler
	once   *sync.Once
	failed chan struct{}
}

func (h signalHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "the store failed, trying again") {
		h.once.Do(func() { close(h.failed) })
	}
	return nil
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalHandler) WithGroup(string) slog.Handler            { return h }

// An attempt whose POST was made is recorded even when the store fails for
// a moment after it: here another writer holds SQLite's write lock from
// before the receiver answers until the record has failed once (its busy
// timeout). Without the retry, the activity failed, the attempt stayed
// noted in flight, and the delivery's workflow made it again: a second
// POST of what the receiver had.
func TestAttemptRecordedAfterTheStoreFailed(t *testing.T) {
	for _, together := range []bool{false, true} {
		name := map[bool]string{false: "Deliver", true: "DeliverFirst"}[together]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "herald.db")
			failed := make(chan struct{})
			logger := slog.New(signalHandler{Handler: slog.DiscardHandler, once: &sync.Once{}, failed: failed})
			e := newEnv(t, func(t testing.TB) *store.Store { return openStore(t, "sqlite:"+path) },
				func(d *activities.Deps) { d.Logger = logger })
			other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			conn, err := other.Conn(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var lock sync.Once
			rcv := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
				lock.Do(func() {
					if _, err := conn.ExecContext(e.ctx, "BEGIN IMMEDIATE"); err != nil {
						t.Error(err)
						return
					}
					go func() {
						<-failed
						if _, err := conn.ExecContext(e.ctx, "ROLLBACK"); err != nil {
							t.Error(err)
						}
					}()
				})
			})
			ep1, _ := e.endpoint(rcv.URL, nil)
			var reqs []schemas.DeliverRequest
			ids := []string{ep1.ID}
			if together {
				ep2, _ := e.endpoint(rcv.URL, nil)
				ids = append(ids, ep2.ID)
			}
			e.event("evt_1", "t", `{}`, time.Now())
			for _, id := range ids {
				reqs = append(reqs, schemas.DeliverRequest{AppID: e.app, EventID: "evt_1", EndpointID: id,
					Key: "run/" + id + "/0", NextDelay: time.Minute})
			}
			ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
			defer cancel()
			var results []schemas.DeliverResult
			if together {
				out, err := e.acts.DeliverFirst(ctx, schemas.DeliverFirstRequest{Requests: reqs})
				if err != nil {
					t.Fatal(err)
				}
				for _, item := range out.Results {
					if item.Error != "" {
						t.Fatalf("first attempt: %s", item.Error)
					}
					results = append(results, item.Result)
				}
			} else {
				res, err := e.acts.Deliver(ctx, reqs[0])
				if err != nil {
					t.Fatalf("deliver: %v", err)
				}
				results = append(results, res)
			}
			select {
			case <-failed:
			default:
				t.Fatal("the store never failed: the test did not test")
			}
			for i, res := range results {
				if res.Outcome != schemas.OutcomeSucceeded {
					t.Fatalf("result %d: %+v", i, res)
				}
				if _, d := e.delivery("evt_1", ids[i]); d.Status != schemas.DeliverySucceeded {
					t.Fatalf("delivery %s is %s", ids[i], d.Status)
				}
			}
			if n := len(rcv.got()); n != len(ids) {
				t.Fatalf("%d requests, want %d", n, len(ids))
			}
		})
	}
}
