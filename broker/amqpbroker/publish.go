package amqpbroker

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/herald-hq/herald/broker"
	"github.com/herald-hq/herald/outbound"
)

// maxIdleChannels is how many confirm-mode channels a pooled connection
// keeps open between publishes.
const maxIdleChannels = 32

// pooledConn is one publishing connection and its idle channels.
type pooledConn struct {
	conn *amqp.Connection

	mu       sync.Mutex
	idle     []*pubChannel
	inUse    int
	lastUsed time.Time
}

// pubChannel is a channel in confirm mode, used by one publish at a time so
// that its return and its confirm belong to that publish.
type pubChannel struct {
	ch      *amqp.Channel
	returns chan amqp.Return
	closes  chan *amqp.Error
}

func (pc *pooledConn) idleSince(now time.Time) time.Duration {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.inUse > 0 {
		return 0
	}
	return now.Sub(pc.lastUsed)
}

func (pc *pooledConn) close() { _ = pc.conn.Close() }

// Send implements outbound.Sender: it publishes the delivery to the
// endpoint's exchange with its routing key, mandatory (a message no queue
// takes is a failure, not a silent drop) and persistent, and waits for the
// broker's confirm. The webhook-* and custom headers travel as message
// headers (names lowercased). A nack, a return, a missing exchange or an
// unreachable broker is a failed attempt with the broker's words.
func (b *Broker) Send(ctx context.Context, req outbound.Request) (outbound.Answer, error) {
	u, err := broker.CheckDestinationURL(req.Endpoint.URL)
	if err != nil {
		return outbound.Answer{Err: err.Error()}, nil
	}
	exchange, key := broker.Param(u, "exchange"), broker.Param(u, "routing_key")
	pc, err := b.conn(u)
	if err != nil {
		return outbound.Answer{Err: err.Error()}, nil
	}
	pch, err := pc.take()
	if err != nil {
		return outbound.Answer{Err: err.Error()}, nil
	}
	ok := false
	defer func() { pc.give(pch, ok) }()

	pub := amqp.Publishing{Headers: amqp.Table{}, ContentType: "application/json",
		DeliveryMode: amqp.Persistent, Timestamp: time.Now(), Body: req.Body}
	for name, vs := range req.Header {
		switch lower := strings.ToLower(name); {
		case len(vs) == 0:
		case lower == "content-type":
			pub.ContentType = vs[0]
		default:
			pub.Headers[lower] = strings.Join(vs, ", ")
		}
	}
	if id, ok := pub.Headers["webhook-id"].(string); ok {
		pub.MessageId = id
	}
	pctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	conf, err := pch.ch.PublishWithDeferredConfirmWithContext(pctx, exchange, key, true, false, pub)
	if err != nil {
		return outbound.Answer{Err: fmt.Sprintf("publish to exchange %q: %v", exchange, err)}, nil
	}
	select {
	case <-conf.Done():
	case <-pctx.Done():
		if ctx.Err() != nil {
			return outbound.Answer{}, fmt.Errorf("publish to %s: %w", req.Endpoint.ID, ctx.Err())
		}
		return outbound.Answer{Err: fmt.Sprintf("no confirm within the delivery timeout of %s", b.cfg.Timeout)}, nil
	}
	select {
	case r, returned := <-pch.returns:
		if !returned { // closed with the channel: the broker's reason is in closes
			break
		}
		ok = true // a return leaves the channel usable
		return outbound.Answer{Err: fmt.Sprintf("exchange %q routed the message to no queue (routing key %q): %d %s",
			exchange, key, r.ReplyCode, r.ReplyText)}, nil
	default:
	}
	if !conf.Acked() {
		select {
		case e := <-pch.closes:
			if e != nil {
				return outbound.Answer{Err: fmt.Sprintf("publish to exchange %q: %s", exchange, e.Error())}, nil
			}
		default:
		}
		if pch.ch.IsClosed() {
			return outbound.Answer{Err: fmt.Sprintf("publish to exchange %q: the channel closed before the confirm", exchange)}, nil
		}
		ok = true
		return outbound.Answer{Err: "the broker refused the message (nack)"}, nil
	}
	ok = true
	return outbound.Answer{Status: 200}, nil
}

// conn returns the pooled connection to u's broker, dialling one when
// there is none or it has closed.
func (b *Broker) conn(u *url.URL) (*pooledConn, error) {
	key := broker.Base(u)
	b.mu.Lock()
	defer b.mu.Unlock()
	if pc, ok := b.pool[key]; ok && !pc.conn.IsClosed() {
		return pc, nil
	}
	// Dialling under the lock makes concurrent first publishes to one
	// broker share one connection; the dial is bounded by the timeout.
	conn, err := b.dial(u, true, "herald publisher")
	if err != nil {
		return nil, err
	}
	pc := &pooledConn{conn: conn, lastUsed: time.Now()}
	b.pool[key] = pc
	return pc, nil
}

// take hands out an idle channel or opens one in confirm mode.
func (pc *pooledConn) take() (*pubChannel, error) {
	pc.mu.Lock()
	pc.inUse++
	for len(pc.idle) > 0 {
		pch := pc.idle[len(pc.idle)-1]
		pc.idle = pc.idle[:len(pc.idle)-1]
		if !pch.ch.IsClosed() {
			pc.mu.Unlock()
			return pch, nil
		}
	}
	pc.mu.Unlock()
	ch, err := pc.conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		pc.give(nil, false)
		return nil, fmt.Errorf("open a channel: %w", err)
	}
	return &pubChannel{ch: ch,
		returns: ch.NotifyReturn(make(chan amqp.Return, 1)),
		closes:  ch.NotifyClose(make(chan *amqp.Error, 1)),
	}, nil
}

// give returns a channel to the pool when reusable, else closes it.
func (pc *pooledConn) give(pch *pubChannel, reusable bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.inUse--
	pc.lastUsed = time.Now()
	if pch == nil {
		return
	}
	if reusable && !pch.ch.IsClosed() && len(pc.idle) < maxIdleChannels {
		pc.idle = append(pc.idle, pch)
		return
	}
	_ = pch.ch.Close()
}

// PooledConnections is how many publishing connections are open.
func (b *Broker) PooledConnections() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pool)
}
