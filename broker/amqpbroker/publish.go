package amqpbroker

import (
	"context"
	"errors"
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

	mu   sync.Mutex
	idle []*pubChannel
}

// pubChannel is a channel in confirm mode, used by one publish at a time so
// that its return and its confirm belong to that publish.
type pubChannel struct {
	ch      *amqp.Channel
	returns chan amqp.Return
	closes  chan *amqp.Error
}

func (pc *pooledConn) IsClosed() bool { return pc.conn.IsClosed() }
func (pc *pooledConn) Close()         { _ = pc.conn.Close() }

func (b *Broker) dialPublisher(u *url.URL) (*pooledConn, error) {
	conn, err := b.dial(u, true, "herald publisher")
	if err != nil {
		return nil, err
	}
	return &pooledConn{conn: conn}, nil
}

// Send implements outbound.Sender: it publishes the delivery to the
// endpoint's exchange with its routing key, mandatory (a message no queue
// takes is a failure, not a silent drop) and persistent, and waits for the
// broker's confirm. The webhook-* and custom headers travel as message
// headers (names lowercased). A nack, a return, a missing exchange or an
// unreachable broker is a failed attempt with the broker's words.
func (b *Broker) Send(ctx context.Context, req outbound.Request) (outbound.Answer, error) {
	return b.Publish(ctx, req, func(ctx context.Context, pc *pooledConn, u *url.URL) (outbound.Answer, error) {
		return pc.publish(ctx, u, req)
	})
}

func (pc *pooledConn) publish(ctx context.Context, u *url.URL, req outbound.Request) (outbound.Answer, error) {
	exchange, key := broker.Param(u, "exchange"), broker.Param(u, "routing_key")
	pch, err := pc.take()
	if err != nil {
		return outbound.Answer{}, err
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
	conf, err := pch.ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, pub)
	if err != nil {
		return outbound.Answer{}, fmt.Errorf("publish to exchange %q: %w", exchange, err)
	}
	select {
	case <-conf.Done():
	case <-ctx.Done():
		return outbound.Answer{}, fmt.Errorf("wait for the confirm: %w", ctx.Err())
	}
	select {
	case r, returned := <-pch.returns:
		if !returned { // closed with the channel: the broker's reason is in closes
			break
		}
		ok = true // a return leaves the channel usable
		return outbound.Answer{}, fmt.Errorf("exchange %q routed the message to no queue (routing key %q): %d %s",
			exchange, key, r.ReplyCode, r.ReplyText)
	default:
	}
	if !conf.Acked() {
		select {
		case e := <-pch.closes:
			if e != nil {
				return outbound.Answer{}, fmt.Errorf("publish to exchange %q: %w", exchange, e)
			}
		default:
		}
		if pch.ch.IsClosed() {
			return outbound.Answer{}, fmt.Errorf("publish to exchange %q: the channel closed before the confirm", exchange)
		}
		ok = true
		return outbound.Answer{}, errors.New("the broker refused the message (nack)")
	}
	ok = true
	return outbound.Answer{Status: 200}, nil
}

// take hands out an idle channel or opens one in confirm mode.
func (pc *pooledConn) take() (*pubChannel, error) {
	pc.mu.Lock()
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
	if err != nil {
		return nil, fmt.Errorf("open a channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("put a channel in confirm mode: %w", err)
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
	if reusable && !pch.ch.IsClosed() && len(pc.idle) < maxIdleChannels {
		pc.idle = append(pc.idle, pch)
		return
	}
	_ = pch.ch.Close()
}
