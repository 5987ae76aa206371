package natsbroker

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald-hq/herald/broker"
	"github.com/herald-hq/herald/outbound"
)

// pooledConn is one publishing connection.
type pooledConn struct {
	nc *nats.Conn
	js jetstream.JetStream

	mu       sync.Mutex
	inUse    int
	lastUsed time.Time
}

func (pc *pooledConn) idleSince(now time.Time) time.Duration {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.inUse > 0 {
		return 0
	}
	return now.Sub(pc.lastUsed)
}

func (pc *pooledConn) use(delta int) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.inUse += delta
	pc.lastUsed = time.Now()
}

// Send implements outbound.Sender: it publishes the delivery to the
// endpoint's subject through JetStream and waits for the stream's ack. The
// webhook-* and custom headers travel as message headers. No stream on
// the subject, a refusal or an unreachable server is a failed attempt with
// the server's words.
func (b *Broker) Send(ctx context.Context, req outbound.Request) (outbound.Answer, error) {
	u, err := broker.CheckDestinationURL(req.Endpoint.URL)
	if err != nil {
		return outbound.Answer{Err: err.Error()}, nil
	}
	subject := broker.Param(u, "subject")
	pc, err := b.conn(u)
	if err != nil {
		return outbound.Answer{Err: err.Error()}, nil
	}
	pc.use(1)
	defer pc.use(-1)

	msg := nats.NewMsg(subject)
	for name, vs := range req.Header {
		if len(vs) > 0 {
			msg.Header[strings.ToLower(name)] = []string{strings.Join(vs, ", ")}
		}
	}
	msg.Data = req.Body
	pctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	ack, err := pc.js.PublishMsg(pctx, msg)
	if err != nil {
		if ctx.Err() != nil {
			return outbound.Answer{}, fmt.Errorf("publish to %s: %w", req.Endpoint.ID, ctx.Err())
		}
		if pctx.Err() != nil {
			return outbound.Answer{Err: fmt.Sprintf("no ack within the delivery timeout of %s", b.cfg.Timeout)}, nil
		}
		return outbound.Answer{Err: fmt.Sprintf("publish to subject %q: %v", subject, err)}, nil
	}
	return outbound.Answer{Status: 200, Body: fmt.Sprintf(`{"stream":%q,"seq":%d}`, ack.Stream, ack.Sequence)}, nil
}

// conn returns the pooled connection to u's server, dialling one when
// there is none or it has closed.
func (b *Broker) conn(u *url.URL) (*pooledConn, error) {
	key := broker.Base(u)
	b.mu.Lock()
	defer b.mu.Unlock()
	if pc, ok := b.pool[key]; ok && !pc.nc.IsClosed() {
		return pc, nil
	}
	// Dialling under the lock makes concurrent first publishes to one
	// server share one connection; the dial is bounded by the timeout.
	nc, err := b.dial(u, true, "herald publisher")
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	pc := &pooledConn{nc: nc, js: js, lastUsed: time.Now()}
	b.pool[key] = pc
	return pc, nil
}

// PooledConnections is how many publishing connections are open.
func (b *Broker) PooledConnections() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pool)
}
