package store

import (
	"context"
	"sync"
)

// writeGate hands SQLite's one write connection to the writers waiting for
// it in the order they came, urgent ones (Urgent) first. database/sql gives
// a freed connection to a random waiter: with the API's accepts queued for
// it, one write could wait behind dozens that came later, and an ordered
// lane's drain, whose writes each wait for the one before, stalled for
// hundreds of milliseconds at a time while unordered deliveries, which
// wait side by side, hid it. A nil gate (Postgres, with its pool of
// connections) lets every writer through.
type writeGate struct {
	mu     sync.Mutex
	held   bool
	queues [2][]chan struct{} // waiting writers: urgent, then the rest
}

type urgentKey struct{}

// Urgent marks ctx's writes to go before the others waiting for SQLite's
// writer: those of an ordered lane's drain, which follow one another, so
// that each one's wait is the whole lane's.
func Urgent(ctx context.Context) context.Context {
	return context.WithValue(ctx, urgentKey{}, true)
}

// acquire waits for the gate; the caller must release it unless an error
// (ctx's) is returned.
func (g *writeGate) acquire(ctx context.Context) error {
	if g == nil {
		return nil
	}
	q := 1
	if urgent, _ := ctx.Value(urgentKey{}).(bool); urgent {
		q = 0
	}
	g.mu.Lock()
	if !g.held {
		g.held = true
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	g.queues[q] = append(g.queues[q], ch)
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	for i, c := range g.queues[q] {
		if c == ch {
			g.queues[q] = append(g.queues[q][:i], g.queues[q][i+1:]...)
			g.mu.Unlock()
			return ctx.Err()
		}
	}
	g.mu.Unlock()
	// Handed the gate as ctx ended: pass it on.
	g.release()
	return ctx.Err()
}

// release hands the gate to the first writer waiting, or frees it.
func (g *writeGate) release() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, q := range g.queues {
		if len(q) > 0 {
			close(q[0])
			g.queues[i] = q[1:]
			return // still held: by the writer woken
		}
	}
	g.held = false
}
