// Package netcut is a TCP proxy on 127.0.0.1 whose link tests can cut, to
// see what a client does when the server behind it goes away (a database
// restarting, failing over, or unreachable) while the server itself keeps
// running for everything else.
package netcut

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
)

// Mode is what the proxy does with connections.
type Mode int

const (
	// Pass forwards every connection to the target.
	Pass Mode = iota
	// Refuse closes every connection at once, as a server that is down or
	// restarting: the client reads end of file.
	Refuse
	// Hold accepts connections and lets them hang, reading what comes and
	// answering nothing, as a host that is unreachable or frozen.
	Hold
)

// Proxy forwards connections on Addr to a target while in Pass.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  Mode
	conns map[net.Conn]struct{} // every open connection on either side
	wg    sync.WaitGroup
}

// New listens on a free port of 127.0.0.1 and forwards to target until
// Close.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("netcut: %w", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Start is New for a test: the proxy closes when tb ends.
func Start(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := New(target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set changes the mode. A change closes every open connection, so that a
// client's pooled connections break as they would when the server
// restarts; a connection made in Pass later is forwarded again.
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m == p.mode {
		return
	}
	for c := range p.conns {
		c.Close()
	}
	p.mode = m
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode == Refuse {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.drop(c)
			if mode == Hold {
				_, _ = io.Copy(io.Discard, c)
				return
			}
			p.forward(c)
		}()
	}
}

// forward pipes c to a new connection to the target, both ways, until
// either side closes.
func (p *Proxy) forward(c net.Conn) {
	t, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(t) {
		return
	}
	defer p.drop(t)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(t, c)
	go pipe(c, t)
	<-done
	<-done
}

// track adds t to the open connections, unless the mode left Pass since c
// was accepted.
func (p *Proxy) track(t net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode != Pass {
		t.Close()
		return false
	}
	p.conns[t] = struct{}{}
	return true
}

func (p *Proxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.ln.Close()
	p.Set(Refuse)
	p.wg.Wait()
}
