// Package natsbroker is Herald's NATS JetStream transport (through
// github.com/nats-io/nats.go and its jetstream package): it consumes a
// durable pull consumer of a stream and publishes deliveries to a subject
// with an acknowledged JetStream publish.
package natsbroker

import (
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herald-hq/herald/broker"
	"github.com/herald-hq/herald/netguard"
)

// Config tunes the transport; a zero field takes the default.
type Config struct {
	// Timeout bounds dialling and one publish, sent to acknowledged
	// (HERALD_DELIVERY_TIMEOUT). Default 15s.
	Timeout time.Duration
	// IdleTimeout closes a publishing connection unused for that long.
	// Default 2m.
	IdleTimeout time.Duration
	// AllowPrivateNetworks lets Herald publish to servers on loopback,
	// private and reserved addresses. Consuming is not guarded: a source is
	// usually the operator's own internal bus.
	AllowPrivateNetworks bool
	Logger               *slog.Logger
}

// Broker consumes and publishes over NATS JetStream. Publishing
// connections are pooled per server (URL without its query) and closed
// when idle.
type Broker struct {
	cfg  Config
	log  *slog.Logger
	mu   sync.Mutex
	pool map[string]*pooledConn

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// New makes the transport and starts its idle-connection reaper; Close stops it.
func New(cfg Config) *Broker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 2 * time.Minute
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, pool: map[string]*pooledConn{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	go b.reap()
	return b
}

// Close closes every pooled connection and stops the reaper.
func (b *Broker) Close() error {
	b.stopOnce.Do(func() { close(b.stop) })
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	for key, pc := range b.pool {
		pc.nc.Close()
		delete(b.pool, key)
	}
	return nil
}

// dial connects to the server of u (query ignored), without reconnecting:
// a lost connection is reported, and the caller dials again, so that a
// source shows failing and a publish fails while the server is away.
func (b *Broker) dial(u *url.URL, guard bool, name string) (*nats.Conn, error) {
	d := netguard.Dialer(min(b.cfg.Timeout, 10*time.Second), !guard || b.cfg.AllowPrivateNetworks)
	nc, err := nats.Connect(broker.Base(u),
		nats.Name(name),
		nats.NoReconnect(),
		nats.Timeout(d.Timeout),
		nats.SetCustomDialer(d),
		nats.PingInterval(10*time.Second),
		nats.MaxPingsOutstanding(2),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", broker.Redact(broker.Base(u)), err)
	}
	return nc, nil
}

// reap closes pooled connections idle for longer than IdleTimeout.
func (b *Broker) reap() {
	defer close(b.done)
	t := time.NewTicker(max(b.cfg.IdleTimeout/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			b.mu.Lock()
			for key, pc := range b.pool {
				if pc.idleSince(now) > b.cfg.IdleTimeout || pc.nc.IsClosed() {
					pc.nc.Close()
					delete(b.pool, key)
				}
			}
			b.mu.Unlock()
		}
	}
}
