package api

import (
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxConnsPerClient is how many connections one client (an IPv4
// address, an IPv6 /64) may hold open at once: far more than an API client
// pools, few enough that one host cannot take every socket.
const DefaultMaxConnsPerClient = 256

const (
	lingerTimeout = 2 * time.Second // how long a lingering close reads before closing
	lingerMax     = 16 << 20        // and how much it reads at most
)

// tooManyConns is the answer on a connection over the per-client cap, in
// the contract's error shape.
var tooManyConns = func() []byte {
	body := `{"error":{"code":"too_many_connections","message":"this client has too many connections open to Herald; reuse them"}}`
	return []byte("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

// Listener wraps the API's listener: it caps the connections each client
// holds and lets the API close a connection lingeringly (see guardedConn).
type Listener struct {
	net.Listener
	max int

	mu     sync.Mutex
	open   map[netip.Prefix]int
	active atomic.Int64
	read   atomic.Int64

	closed    chan struct{} // closed when the server shuts down
	closeOnce sync.Once
}

// GuardListener wraps ln; maxPerClient <= 0 means DefaultMaxConnsPerClient.
func GuardListener(ln net.Listener, maxPerClient int) *Listener {
	if maxPerClient <= 0 {
		maxPerClient = DefaultMaxConnsPerClient
	}
	return &Listener{Listener: ln, max: maxPerClient, open: map[netip.Prefix]int{}, closed: make(chan struct{})}
}

// Close closes the listener: the server is shutting down, and request work
// still running on its connections stops (see workContext).
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// Accept returns the next connection within its client's cap; a connection
// over it is answered 429 and closed, off the accept loop.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		l.mu.Lock()
		n := l.open[key]
		if n >= l.max {
			l.mu.Unlock()
			go refuse(c)
			continue
		}
		l.open[key] = n + 1
		l.mu.Unlock()
		l.active.Add(1)
		return &guardedConn{Conn: c, l: l, key: key}, nil
	}
}

// Active is the number of connections open; BytesRead counts every byte
// read from clients so far. Both are for metrics and tests.
func (l *Listener) Active() int64    { return l.active.Load() }
func (l *Listener) BytesRead() int64 { return l.read.Load() }

func (l *Listener) release(key netip.Prefix) {
	l.mu.Lock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
	l.mu.Unlock()
	l.active.Add(-1)
}

// clientKey is the client a connection counts against: its IPv4 address,
// or the /64 of its IPv6 address (one host usually holds a whole /64).
func clientKey(a net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

func refuse(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(tooManyConns)
	lingerClose(c)
}

// guardedConn is a connection of the API. When the API answers before
// reading the whole request body it asks for a lingering close: stop
// writing, read and discard what the client still sends for a while, then
// close. Closing with unread data would send a reset, which makes the
// client's kernel drop the answer it has not read yet (the 413 lost).
type guardedConn struct {
	net.Conn
	l      *Listener
	key    netip.Prefix
	linger atomic.Bool
	once   sync.Once
}

func (c *guardedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.read.Add(int64(n))
	return n, err
}

func (c *guardedConn) lingerOnClose() { c.linger.Store(true) }

func (c *guardedConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		c.l.release(c.key)
		if c.linger.Load() {
			lingerClose(c.Conn)
			err = nil
			return
		}
		err = c.Conn.Close()
	})
	return err
}

func lingerClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		_ = c.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.CopyN(io.Discard, c, lingerMax) // until EOF, the deadline or the bound
	}
	_ = c.Close()
}

// Unwrap returns the connection underneath (for the client-gone check).
func (c *guardedConn) Unwrap() net.Conn { return c.Conn }
