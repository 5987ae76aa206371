package natsbroker

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald-hq/herald/broker"
	"github.com/herald-hq/herald/outbound"
)

// pooledConn is one publishing connection and its JetStream handle.
type pooledConn struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func (pc *pooledConn) IsClosed() bool { return pc.nc.IsClosed() }
func (pc *pooledConn) Close()         { pc.nc.Close() }

func (b *Broker) dialPublisher(u *url.URL) (*pooledConn, error) {
	nc, err := b.dial(u, true, "herald publisher")
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &pooledConn{nc: nc, js: js}, nil
}

// Send implements outbound.Sender: it publishes the delivery to the
// endpoint's subject through JetStream and waits for the stream's ack. The
// webhook-* and custom headers travel as message headers. No stream on
// the subject, a refusal or an unreachable server is a failed attempt with
// the server's words.
func (b *Broker) Send(ctx context.Context, req outbound.Request) (outbound.Answer, error) {
	return b.Publish(ctx, req, func(ctx context.Context, pc *pooledConn, u *url.URL) (outbound.Answer, error) {
		subject := broker.Param(u, "subject")
		msg := nats.NewMsg(subject)
		for name, vs := range req.Header {
			if len(vs) > 0 {
				msg.Header[strings.ToLower(name)] = []string{strings.Join(vs, ", ")}
			}
		}
		msg.Data = req.Body
		ack, err := pc.js.PublishMsg(ctx, msg)
		if err != nil {
			return outbound.Answer{}, fmt.Errorf("publish to subject %q: %w", subject, err)
		}
		return outbound.Answer{Status: 200, Body: fmt.Sprintf(`{"stream":%q,"seq":%d}`, ack.Stream, ack.Sequence)}, nil
	})
}
