package broker

import (
	"context"
	"fmt"
	"net/url"

	"github.com/herald-hq/herald/outbound"
)

// Publisher is what every transport's outbound.Sender shares: a pool of
// publishing connections (one per broker, closed when idle) and the way a
// publish becomes an attempt's answer. A transport embeds it, says how to
// dial a connection and how to publish on one.
type Publisher[C Conn] struct {
	cfg  Config
	pool *pool[C]
}

// NewPublisher starts the pool of connections dial makes; Close stops it.
// cfg must have its defaults (Config.WithDefaults).
func NewPublisher[C Conn](cfg Config, dial func(*url.URL) (C, error)) *Publisher[C] {
	return &Publisher[C]{cfg: cfg, pool: newPool(cfg.IdleTimeout, dial)}
}

// Close closes every pooled connection.
func (p *Publisher[C]) Close() error {
	p.pool.shutdown()
	return nil
}

// PooledConnections is how many publishing connections are open.
func (p *Publisher[C]) PooledConnections() int { return p.pool.size() }

// Publish makes one attempt's publish on the pooled connection to the
// endpoint's broker and says how it went, the same way for every broker.
// publish gets a context bounded by the delivery timeout, the connection
// and the endpoint's checked URL; it returns the successful answer, or an
// error in the broker's words.
//
// The error is classified here: the attempt's own context ending (the
// worker stops, the activity times out) is Send's error, so the attempt is
// not on record and is made again; the delivery timeout passing or any
// other error (a nack, an unroutable message, a missing exchange or
// stream, an unreachable broker, refused credentials) is a failed attempt
// with the reason recorded, retried by the endpoint's schedule.
func (p *Publisher[C]) Publish(ctx context.Context, req outbound.Request,
	publish func(ctx context.Context, conn C, u *url.URL) (outbound.Answer, error)) (outbound.Answer, error) {
	u, err := CheckDestinationURL(req.Endpoint.URL)
	if err != nil {
		return outbound.Answer{Err: err.Error()}, nil
	}
	pctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	ans, err := p.publish(pctx, u, publish)
	switch {
	case err == nil:
		return ans, nil
	case ctx.Err() != nil:
		return outbound.Answer{}, fmt.Errorf("publish to %s: %w", req.Endpoint.ID, ctx.Err())
	case pctx.Err() != nil:
		return outbound.Answer{Err: fmt.Sprintf("no answer from the broker within the delivery timeout of %s", p.cfg.Timeout)}, nil
	default:
		return outbound.Answer{Err: err.Error()}, nil
	}
}

func (p *Publisher[C]) publish(ctx context.Context, u *url.URL,
	publish func(ctx context.Context, conn C, u *url.URL) (outbound.Answer, error)) (outbound.Answer, error) {
	conn, release, err := p.pool.get(u)
	if err != nil {
		return outbound.Answer{}, err
	}
	defer release()
	return publish(ctx, conn, u)
}
