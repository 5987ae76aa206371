package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// heraldTarget is a running Herald: its API, and its Temporal frontend for
// reading histories (empty: not read).
type heraldTarget struct {
	URL, Token, TemporalAddr string
	name                     string // how the report names it
}

// heraldPhase is what the Herald measurement found beyond a phase's figures.
type heraldPhase struct {
	phase
	target          string
	outOfOrder      int
	dups            int
	historyPerEvent float64
	historySample   int
}

// phaseNames route each phase's deliveries to its own recorder.
const (
	phaseHerald = "herald"
	phaseRaw    = "raw"
	phaseFloor  = "floor"
)

// runHerald sets up an app with E endpoints at the receivers, POSTs M
// events at concurrency C, and waits for every delivery.
func runHerald(ctx context.Context, o Options, t heraldTarget, recv *Receivers, stderr io.Writer) (heraldPhase, error) {
	api := newAPIClient(t.URL, t.Token, o.Concurrency)
	urls := make([]string, o.Endpoints)
	for i := range urls {
		urls[i] = recv.URL(phaseHerald, i)
	}
	app, secrets, err := api.setup(ctx, urls, o.Ordered)
	if err != nil {
		return heraldPhase{}, fmt.Errorf("set up app and endpoints: %w", err)
	}
	if o.Target != "" {
		// Leave nothing behind on somebody else's Herald.
		defer func() {
			if err := api.deleteApp(context.WithoutCancel(ctx), app); err != nil {
				o.Logger.Warn("deleting the bench app", "app", app, "error", err)
			}
		}()
	}
	rec := recv.Record(phaseHerald, secrets)

	run, err := runID()
	if err != nil {
		return heraldPhase{}, err
	}
	ids := make([]string, o.Events)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench_%s_%07d", run, i)
	}
	log := newSendLog(o.Events)
	var accepted atomic.Int64
	want := o.Events * o.Endpoints
	stop := progress(stderr, "herald", func() string {
		return fmt.Sprintf("accepted %d/%d, delivered %d/%d", accepted.Load(), o.Events, rec.Delivered(), want)
	})
	defer stop()

	err = pool(ctx, o.Events, o.Concurrency, func(ctx context.Context, i int) error {
		sendAt := time.Now()
		if err := api.postEvent(ctx, app, ids[i], benchPayload(i)); err != nil {
			return err
		}
		log.add(ids[i], sent{sendAt: sendAt, acceptAt: time.Now()})
		accepted.Add(1)
		return nil
	})
	if err != nil {
		return heraldPhase{}, fmt.Errorf("send events: %w", err)
	}
	firstSend, lastAccept := log.span()
	if err := rec.Wait(ctx, want, o.Timeout); err != nil {
		return heraldPhase{}, err
	}
	stop()

	h := heraldPhase{
		phase:  measure(rec, log.sends, firstSend, o.Events),
		target: t.name,
		dups:   rec.Duplicates(),
	}
	h.eventsPerS = perSecond(o.Events, lastAccept.Sub(firstSend).Seconds())
	if o.Ordered {
		for _, eps := range rec.Arrivals() {
			h.outOfOrder += outOfOrder(eps, log.sends)
		}
	}
	if t.TemporalAddr != "" {
		h.historyPerEvent, h.historySample, err = historyPerEvent(ctx, t.TemporalAddr, app, ids, o.Logger)
		if err != nil {
			return h, err
		}
	}
	return h, nil
}

// benchPayload is a small payload that differs per event.
func benchPayload(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"n":%d,"note":"sent by herald bench to measure delivery"}`, i))
}

// runID makes a random id part, so that repeated runs against one target
// never reuse an event id.
func runID() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make run id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// pool runs job(0..n-1) on c goroutines. The first error stops the others
// and is returned.
func pool(ctx context.Context, n, c int, job func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := job(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// sendLog keeps when each webhook id was sent and accepted.
type sendLog struct {
	mu    sync.Mutex
	sends map[string]sent
}

func newSendLog(n int) *sendLog {
	return &sendLog{sends: make(map[string]sent, n)}
}

func (l *sendLog) add(id string, s sent) {
	l.mu.Lock()
	l.sends[id] = s
	l.mu.Unlock()
}

// span is the first send and the last acceptance. Call it once sending is over.
func (l *sendLog) span() (firstSend, lastAccept time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.sends {
		if firstSend.IsZero() || s.sendAt.Before(firstSend) {
			firstSend = s.sendAt
		}
		if s.acceptAt.After(lastAccept) {
			lastAccept = s.acceptAt
		}
	}
	return firstSend, lastAccept
}

// progress prints a line to w every second, "<name>: <status()>, elapsed
// Xs", until the returned stop is called (any number of times).
func progress(w io.Writer, name string, status func() string) (stop func()) {
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				fmt.Fprintf(w, "%s: %s, elapsed %s\n", name, status(), time.Since(start).Round(time.Second))
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}
