package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-hq/herald/signing"
)

// Receivers is one local HTTP server standing in for every webhook
// endpoint of a run. Each phase (Herald, raw loop, Temporal floor) gets a
// Recorder of its own, reached at /<phase>/<endpoint index>.
type Receivers struct {
	srv    *http.Server
	ln     net.Listener
	logger *slog.Logger

	mu        sync.RWMutex
	recorders map[string]*Recorder
	strays    atomic.Int64
}

// StartReceivers listens on a free 127.0.0.1 port and serves until Close.
func StartReceivers(logger *slog.Logger) (*Receivers, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for receivers: %w", err)
	}
	r := &Receivers{ln: ln, logger: logger, recorders: map[string]*Recorder{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("receivers stopped", "error", err)
		}
	}()
	return r, nil
}

// URL is the address endpoint i of phase is reached at.
func (r *Receivers) URL(phase string, i int) string {
	return fmt.Sprintf("http://%s/%s/%d", r.ln.Addr(), phase, i)
}

// Record makes the recorder of a phase, whose endpoints verify every
// receipt with secrets (one per endpoint), and routes the phase's requests
// to it.
func (r *Receivers) Record(phase string, secrets []string) (*Recorder, error) {
	rec, err := newRecorder(secrets)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.recorders[phase] = rec
	r.mu.Unlock()
	return rec, nil
}

// Strays is the number of requests to a path no recorder serves.
func (r *Receivers) Strays() int { return int(r.strays.Load()) }

// Close stops the server.
func (r *Receivers) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("stop receivers: %w", err)
	}
	return nil
}

func (r *Receivers) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	phase, idx, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/")
	r.mu.RLock()
	rec := r.recorders[phase]
	r.mu.RUnlock()
	i, err := strconv.Atoi(idx)
	if rec == nil || err != nil || i < 0 || i >= len(rec.endpoints) {
		r.strays.Add(1)
		http.NotFound(w, req)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	rec.arrive(i, req.Header, body, at)
	w.WriteHeader(http.StatusOK)
}

// arrival is the first receipt of one webhook at one endpoint.
type arrival struct {
	id string
	at time.Time
}

type endpointLog struct {
	// verifier is the official Standard Webhooks library, not Herald's
	// own code: the receipt is checked as a user's endpoint would.
	verifier *standardwebhooks.Webhook

	mu       sync.Mutex
	seen     map[string]bool
	arrivals []arrival
	total    int // requests, duplicates included
}

// Recorder keeps, per endpoint, when each webhook id first arrived and in
// which order; it verifies the signature of every receipt and counts
// duplicates and failures.
type Recorder struct {
	endpoints []*endpointLog
	unique    atomic.Int64
	dups      atomic.Int64
	sigFails  atomic.Int64
	verified  atomic.Int64
	changed   chan struct{} // gets a value (without blocking) on each new arrival
}

func newRecorder(secrets []string) (*Recorder, error) {
	rec := &Recorder{changed: make(chan struct{}, 1)}
	for _, s := range secrets {
		v, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			return nil, fmt.Errorf("receiver: endpoint secret: %w", err)
		}
		rec.endpoints = append(rec.endpoints, &endpointLog{verifier: v, seen: map[string]bool{}})
	}
	return rec, nil
}

func (rec *Recorder) arrive(i int, h http.Header, body []byte, at time.Time) {
	ep := rec.endpoints[i]
	id := h.Get(signing.HeaderID)
	ep.mu.Lock()
	ep.total++
	first := !ep.seen[id]
	if first {
		ep.seen[id] = true
		ep.arrivals = append(ep.arrivals, arrival{id: id, at: at})
	}
	ep.mu.Unlock()

	rec.verified.Add(1)
	if err := ep.verifier.Verify(body, h); err != nil {
		rec.sigFails.Add(1)
	}
	if !first {
		rec.dups.Add(1)
		return
	}
	rec.unique.Add(1)
	select {
	case rec.changed <- struct{}{}:
	default:
	}
}

// Delivered is the number of distinct (webhook id, endpoint) receipts.
func (rec *Recorder) Delivered() int { return int(rec.unique.Load()) }

// Duplicates is the number of receipts of a webhook id an endpoint already had.
func (rec *Recorder) Duplicates() int { return int(rec.dups.Load()) }

// SignatureFailures is the number of receipts whose signature did not verify.
func (rec *Recorder) SignatureFailures() int { return int(rec.sigFails.Load()) }

// Verified is the number of receipts whose signature was checked (all).
func (rec *Recorder) Verified() int { return int(rec.verified.Load()) }

// Wait blocks until want distinct receipts arrived, ctx ends, or timeout
// passes.
func (rec *Recorder) Wait(ctx context.Context, want int, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for rec.Delivered() < want {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for deliveries: %w", ctx.Err())
		case <-deadline.C:
			return fmt.Errorf("waiting for deliveries: %d of %d arrived within %s", rec.Delivered(), want, timeout)
		case <-rec.changed:
		}
	}
	return nil
}

// Arrivals returns, per endpoint, the first receipts in arrival order (the
// order the handler took its lock in, which is finer than the clock).
func (rec *Recorder) Arrivals() [][]arrival {
	out := make([][]arrival, len(rec.endpoints))
	for i, ep := range rec.endpoints {
		ep.mu.Lock()
		out[i] = append([]arrival(nil), ep.arrivals...)
		ep.mu.Unlock()
	}
	return out
}

// sent is when the request that made a webhook id was sent and when its
// answer came back, and the event's ordering key.
type sent struct {
	sendAt, acceptAt time.Time
	lane             string
}

// outOfOrder counts the receipts at one endpoint, given in arrival order,
// that broke acceptance order within their ordering key: B counts when some
// A of B's key arrived after B although A had been accepted (its 202
// received) before B was sent. Ids missing from sends are ignored.
func outOfOrder(arrivals []arrival, sends map[string]sent) int {
	lanes := map[string][]arrival{}
	for _, a := range arrivals {
		lane := sends[a.id].lane
		lanes[lane] = append(lanes[lane], a)
	}
	n := 0
	for _, l := range lanes {
		n += outOfOrderInLane(l, sends)
	}
	return n
}

// outOfOrderInLane is outOfOrder for the arrivals of one key: order is
// promised per key.
func outOfOrderInLane(arrivals []arrival, sends map[string]sent) int {
	var (
		n             int
		earliestLater time.Time // smallest accept time among later arrivals
		any           bool
	)
	for i := len(arrivals) - 1; i >= 0; i-- {
		s, ok := sends[arrivals[i].id]
		if !ok {
			continue
		}
		if any && earliestLater.Before(s.sendAt) {
			n++
		}
		if !any || s.acceptAt.Before(earliestLater) {
			earliestLater, any = s.acceptAt, true
		}
	}
	return n
}
