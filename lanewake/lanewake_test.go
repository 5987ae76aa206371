package lanewake

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/internal/pgtest"
)

// got is what a Bus's Handler was given.
type got struct {
	mu    sync.Mutex
	wakes []Wake
	lost  int
}

func (g *got) handler() Handler {
	return Handler{
		Wake: func(w Wake) { g.mu.Lock(); g.wakes = append(g.wakes, w); g.mu.Unlock() },
		Lost: func() { g.mu.Lock(); g.lost++; g.mu.Unlock() },
	}
}

func (g *got) counts() (int, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.wakes), g.lost
}

func open(t *testing.T, dsn string) (*Bus, *got) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(ctx, dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	g := &got{}
	b.Start(g.handler())
	return b, g
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A wake reaches the other processes on the schema, whole and in order,
// however many are published at once, and never its own process or
// another schema's.
func TestWakesReachTheOtherProcesses(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, fromA := open(t, dsn)
	_, atB := open(t, dsn)
	_, elsewhere := open(t, pgtest.DSN(t))

	// Long ids, so that they take many notifications of 8,000 bytes.
	long := strings.Repeat("x", 200)
	var sent []Wake
	for i := range 300 {
		w := Wake{AppID: "app-" + long, EventID: fmt.Sprintf("evt-%d-\"quoted\"", i), EndpointID: "ep-" + long, Seq: int64(1<<40 + i)}
		sent = append(sent, w)
		a.Publish(w)
	}
	waitFor(t, "300 wakes at the other process", func() bool { n, _ := atB.counts(); return n >= len(sent) })
	atB.mu.Lock()
	for i, w := range atB.wakes {
		if i >= len(sent) || w != sent[i] {
			t.Fatalf("wake %d = %+v, want %+v", i, w, sent[min(i, len(sent)-1)])
		}
	}
	atB.mu.Unlock()
	if n, _ := fromA.counts(); n != 0 {
		t.Errorf("the publishing process got %d of its own wakes", n)
	}
	if n, _ := elsewhere.counts(); n != 0 {
		t.Errorf("a process on another schema got %d wakes", n)
	}
}

// When its listening connection is cut, a process is told that wakes may
// have been missed (it wakes all its waiters), and it hears the later ones.
func TestACutConnectionIsALoss(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, _ := open(t, dsn)
	b, atB := open(t, dsn)
	admin, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	res, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN "' || $1 || '"'`, b.channel)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Fatalf("cut %d listening connections, want the 2 of this schema", n)
	}
	waitFor(t, "a loss noted", func() bool { _, lost := atB.counts(); return lost > 0 })
	// Published until heard: the first may go out before the reconnect.
	waitFor(t, "a wake after the reconnect", func() bool {
		a.Publish(Wake{AppID: "a", EventID: "e", EndpointID: "p", Seq: 1})
		time.Sleep(50 * time.Millisecond)
		n, _ := atB.counts()
		return n > 0
	})
}
