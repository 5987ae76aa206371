package broker

import (
	"errors"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// conn is a connection that only knows whether it is closed: the pool's
// own logic is under test here; each transport's tests run it against its
// real broker.
type conn struct{ closed atomic.Bool }

func (c *conn) IsClosed() bool { return c.closed.Load() }
func (c *conn) Close()         { c.closed.Store(true) }

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// One connection per broker (the URL without its query); a connection in
// use is never reaped however long it is held; an idle one is closed and
// the next get dials again; a closed one is replaced.
func TestPool(t *testing.T) {
	var dials atomic.Int32
	p := newPool(50*time.Millisecond, func(*url.URL) (*conn, error) {
		dials.Add(1)
		return &conn{}, nil
	})
	defer p.shutdown()

	a, releaseA, err := p.get(mustParse(t, "amqp://u:p@h1/?exchange=x"))
	if err != nil {
		t.Fatal(err)
	}
	a2, releaseA2, _ := p.get(mustParse(t, "amqp://u:p@h1/?exchange=y&routing_key=k"))
	_, releaseB, _ := p.get(mustParse(t, "amqp://u:p@h2/?exchange=x"))
	if a2 != a || p.size() != 2 || dials.Load() != 2 {
		t.Fatalf("same broker shares %v, %d pooled, %d dials; want shared, 2, 2", a2 == a, p.size(), dials.Load())
	}
	releaseB()
	waitFor(t, "the idle connection to h2 was not closed", func() bool { return p.size() == 1 })
	time.Sleep(200 * time.Millisecond) // four idle timeouts with a still in use
	if a.IsClosed() || p.size() != 1 {
		t.Fatalf("a connection in use was reaped (closed %v, %d pooled)", a.IsClosed(), p.size())
	}
	releaseA()
	releaseA2()
	waitFor(t, "the connection to h1 was not closed once idle", a.IsClosed)

	c, release, _ := p.get(mustParse(t, "amqp://u:p@h1/?exchange=x"))
	c.Close() // the broker went away
	release()
	d, release, _ := p.get(mustParse(t, "amqp://u:p@h1/?exchange=x"))
	defer release()
	if d == c || d.IsClosed() || dials.Load() != 4 {
		t.Fatalf("a closed connection was handed out again (dials %d)", dials.Load())
	}
}

func TestPoolDialError(t *testing.T) {
	p := newPool(time.Minute, func(*url.URL) (*conn, error) { return nil, errors.New("refused") })
	defer p.shutdown()
	if _, _, err := p.get(mustParse(t, "nats://h")); err == nil || p.size() != 0 {
		t.Fatalf("err %v, %d pooled", err, p.size())
	}
}
