// Package amqpbroker is Herald's RabbitMQ transport (AMQP 0-9-1, through
// github.com/rabbitmq/amqp091-go): it consumes a source queue and publishes
// deliveries to an exchange with publisher confirms.
package amqpbroker

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/herald-hq/herald/broker"
	"github.com/herald-hq/herald/netguard"
)

// Config tunes the transport; a zero field takes the default.
type Config struct {
	// Timeout bounds dialling and one publish, sent to confirmed
	// (HERALD_DELIVERY_TIMEOUT). Default 15s.
	Timeout time.Duration
	// IdleTimeout closes a publishing connection unused for that long.
	// Default 2m.
	IdleTimeout time.Duration
	// AllowPrivateNetworks lets Herald publish to brokers on loopback,
	// private and reserved addresses. Consuming is not guarded: a source is
	// usually the operator's own internal bus.
	AllowPrivateNetworks bool
	Logger               *slog.Logger
}

// Broker consumes and publishes over AMQP. Publishing connections are
// pooled per broker (URL without its query) and closed when idle.
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
		pc.close()
		delete(b.pool, key)
	}
	return nil
}

// dial opens a connection to the broker of u (query ignored). guard applies
// the private-network rule to every address dialled.
func (b *Broker) dial(u *url.URL, guard bool, name string) (*amqp.Connection, error) {
	timeout := min(b.cfg.Timeout, 10*time.Second)
	d := netguard.Dialer(timeout, !guard || b.cfg.AllowPrivateNetworks)
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	conn, err := amqp.DialConfig(broker.Base(u), amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := d.Dial(network, addr)
			if err != nil {
				return nil, err
			}
			// A deadline for the TLS and AMQP handshakes, which the
			// library clears once the connection is open.
			if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redacted(u), err)
	}
	return conn, nil
}

func redacted(u *url.URL) string { return broker.Redact(broker.Base(u)) }

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
				if pc.idleSince(now) > b.cfg.IdleTimeout || pc.conn.IsClosed() {
					pc.close()
					delete(b.pool, key)
				}
			}
			b.mu.Unlock()
		}
	}
}

// tableString reads a header value as a string: AMQP headers are typed and
// producers send text as either a string or bytes.
func tableString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}
