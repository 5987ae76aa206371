package broker

import (
	"net/url"
	"sync"
	"time"
)

// Conn is a publishing connection a Publisher keeps: the transport's connection
// and whatever it keeps with it (channels, a JetStream handle).
type Conn interface {
	// IsClosed reports whether the connection has failed or been closed;
	// the pool then dials a new one.
	IsClosed() bool
	Close()
}

// pool keeps one publishing connection per broker (the URL without its
// query: user, password, host, vhost), dials it on first use, and closes
// it once unused for the idle timeout.
type pool[C Conn] struct {
	idle time.Duration
	dial func(*url.URL) (C, error)

	mu    sync.Mutex
	conns map[string]*pooled[C]

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

type pooled[C Conn] struct {
	conn C

	mu       sync.Mutex
	inUse    int
	lastUsed time.Time
}

// newPool makes a pool that dials with dial and closes connections idle
// for longer than idle; it starts the reaper that shutdown stops.
func newPool[C Conn](idle time.Duration, dial func(*url.URL) (C, error)) *pool[C] {
	p := &pool[C]{idle: idle, dial: dial, conns: map[string]*pooled[C]{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.reap()
	return p
}

// get returns the connection to u's broker, dialling one when there is
// none or it has closed. The connection is in use, never reaped, until
// release is called, exactly once.
func (p *pool[C]) get(u *url.URL) (conn C, release func(), err error) {
	key := Base(u)
	p.mu.Lock()
	defer p.mu.Unlock()
	pc, ok := p.conns[key]
	if !ok || pc.conn.IsClosed() {
		// Dialling under the lock makes concurrent first publishes to one
		// broker share one connection; the dial is bounded by its timeout.
		c, err := p.dial(u)
		if err != nil {
			return conn, nil, err
		}
		pc = &pooled[C]{conn: c}
		p.conns[key] = pc
	}
	// Counted under p.mu, so the reaper cannot close it in between.
	pc.use(1)
	return pc.conn, func() { pc.use(-1) }, nil
}

func (pc *pooled[C]) use(delta int) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.inUse += delta
	pc.lastUsed = time.Now()
}

func (pc *pooled[C]) idleSince(now time.Time) time.Duration {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.inUse > 0 {
		return 0
	}
	return now.Sub(pc.lastUsed)
}

// size is how many connections are open.
func (p *pool[C]) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// shutdown stops the reaper and closes every connection, in use or not.
func (p *pool[C]) shutdown() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, pc := range p.conns {
		pc.conn.Close()
		delete(p.conns, key)
	}
}

// reap closes connections idle for longer than the idle timeout, and
// forgets closed ones.
func (p *pool[C]) reap() {
	defer close(p.done)
	t := time.NewTicker(max(p.idle/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			for key, pc := range p.conns {
				if pc.idleSince(now) > p.idle || pc.conn.IsClosed() {
					pc.conn.Close()
					delete(p.conns, key)
				}
			}
			p.mu.Unlock()
		}
	}
}
