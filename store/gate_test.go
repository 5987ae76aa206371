package store

import (
	"context"
	"testing"
	"time"
)

// The gate goes to its waiters in the order they came, urgent ones first,
// and a waiter that gives up neither takes it nor loses it for the rest.
func TestWriteGateOrder(t *testing.T) {
	g := &writeGate{}
	ctx := context.Background()
	if err := g.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 8)
	queued := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			g.mu.Lock()
			got := len(g.queues[0]) + len(g.queues[1])
			g.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiting, want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	wait := func(name string, ctx context.Context) {
		go func() {
			if err := g.acquire(ctx); err != nil {
				order <- name + ": " + err.Error()
				return
			}
			order <- name
			g.release()
		}()
	}
	wait("a", ctx)
	queued(1)
	wait("b", ctx)
	queued(2)
	gaveUp, giveUp := context.WithCancel(ctx)
	wait("c", gaveUp)
	queued(3)
	wait("urgent", Urgent(ctx))
	queued(4)
	giveUp()
	if got := <-order; got != "c: context canceled" {
		t.Fatalf("first out: %q", got)
	}
	g.release()
	for _, want := range []string{"urgent", "a", "b"} {
		if got := <-order; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if err := g.acquire(ctx); err != nil { // free again
		t.Fatal(err)
	}
	g.release()
}
