package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

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

// snapshot is a copy of the log. Call it once sending is over.
func (l *sendLog) snapshot() map[string]sent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.sends)
}

// progress prints a line to w every second, "<name>: <status(elapsed)>,
// elapsed Xs", until the returned stop is called (any number of times).
// A nil w prints nothing.
func progress(w io.Writer, name string, status func(elapsed time.Duration) string) (stop func()) {
	if w == nil {
		return func() {}
	}
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
				elapsed := time.Since(start)
				fmt.Fprintf(w, "%s: %s, elapsed %s\n", name, status(elapsed), elapsed.Round(time.Second))
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			elapsed := time.Since(start)
			line := fmt.Sprintf("%s: %s, took %s\n", name, status(elapsed), elapsed.Round(100*time.Millisecond))
			if pw, ok := w.(*progressWriter); ok {
				pw.final(line)
			} else {
				fmt.Fprint(w, line)
			}
		})
	}
}
