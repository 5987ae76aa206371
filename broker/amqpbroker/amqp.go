// Package amqpbroker is Herald's RabbitMQ transport (AMQP 0-9-1, through
// github.com/rabbitmq/amqp091-go): it consumes a source queue and publishes
// deliveries to an exchange with publisher confirms.
package amqpbroker

import (
	"fmt"
	"net"
	"net/url"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/herald-hq/herald/broker"
)

// Broker consumes and publishes over AMQP. Publishing connections are
// pooled per broker (URL without its query) and closed when idle.
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

// dial opens a connection to the broker of u (query ignored). guard applies
// the private-network rule to every address dialled.
func (b *Broker) dial(u *url.URL, guard bool, name string) (*amqp.Connection, error) {
	d := b.cfg.Dialer(guard)
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
			if err := c.SetDeadline(time.Now().Add(d.Timeout)); err != nil {
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
