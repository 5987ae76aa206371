// Package natsbroker is Herald's NATS JetStream transport (through
// github.com/nats-io/nats.go and its jetstream package): it consumes a
// durable pull consumer of a stream and publishes deliveries to a subject
// with an acknowledged JetStream publish.
package natsbroker

import (
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/herald-hq/herald/broker"
)

// Broker consumes and publishes over NATS JetStream. Publishing
// connections are pooled per server (URL without its query) and closed
// when idle.
type Broker struct {
	cfg broker.Config
	// The publishing side: Close and PooledConnections come from it.
	*broker.Publisher[*pooledConn]
}

// New makes the transport and starts its connection pool; Close stops it.
func New(cfg broker.Config) *Broker {
	b := &Broker{cfg: cfg.WithDefaults()}
	b.Publisher = broker.NewPublisher(b.cfg, b.dialPublisher)
	return b
}

// dial connects to the server of u (query ignored), without reconnecting:
// a lost connection is reported, and the caller dials again, so that a
// source shows failing and a publish fails while the server is away.
func (b *Broker) dial(u *url.URL, guard bool, name string) (*nats.Conn, error) {
	d := b.cfg.Dialer(guard)
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
