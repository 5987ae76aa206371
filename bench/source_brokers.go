package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
)

// orderingKeyHeader is the message header a source reads an event's
// ordering key from.
const orderingKeyHeader = "herald-ordering-key"

// amqpBroker publishes to RabbitMQ queues through the default exchange,
// on one channel in confirm mode (publishes from many goroutines share it,
// each waiting for its own confirm).
type amqpBroker struct {
	url  string
	conn *amqp.Connection
	pub  *amqp.Channel

	mu    sync.Mutex // admin: a failed passive declare closes the channel
	admin *amqp.Channel
}

func dialAMQP(rawURL string) (*amqpBroker, error) {
	conn, err := amqp.Dial(rawURL)
	if err != nil {
		return nil, fmt.Errorf("connect to RabbitMQ: %w", err)
	}
	b := &amqpBroker{url: rawURL, conn: conn}
	if b.pub, err = conn.Channel(); err == nil {
		err = b.pub.Confirm(false)
	}
	if err == nil {
		b.admin, err = conn.Channel()
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open RabbitMQ channels: %w", err)
	}
	return b, nil
}

func (b *amqpBroker) prepare(_ context.Context, queue string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.admin.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		return "", err
	}
	return withQuery(b.url, url.Values{"queue": {queue}})
}

func (b *amqpBroker) subscribed(_ context.Context, queue string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, err := b.admin.QueueDeclarePassive(queue, true, false, false, false, nil)
	return err == nil && q.Consumers > 0, err
}

func (b *amqpBroker) publish(ctx context.Context, queue, id, key string, payload json.RawMessage) error {
	m := amqp.Publishing{MessageId: id, ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: payload}
	if key != "" {
		m.Headers = amqp.Table{orderingKeyHeader: key}
	}
	conf, err := b.pub.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, m)
	if err != nil {
		return err
	}
	acked, err := conf.WaitContext(ctx)
	if err != nil {
		return err
	}
	if !acked {
		return errors.New("RabbitMQ refused the message (nack)")
	}
	return nil
}

func (b *amqpBroker) remove(_ context.Context, queue string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, err := b.admin.QueueDelete(queue, false, false, false)
	return err
}

func (b *amqpBroker) close() { b.conn.Close() }

// natsBroker publishes to JetStream: a stream of its own per phase, with
// the durable consumer Herald's source binds to made beforehand, so that
// its waiting pulls show when the source is subscribed.
type natsBroker struct {
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
}

// natsConsumer is the durable consumer of a bench stream.
const natsConsumer = "herald"

func dialNATS(rawURL string) (*natsBroker, error) {
	nc, err := nats.Connect(rawURL)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &natsBroker{url: rawURL, nc: nc, js: js}, nil
}

func (b *natsBroker) prepare(ctx context.Context, name string) (string, error) {
	s, err := b.js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name}})
	if err != nil {
		return "", err
	}
	if _, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: natsConsumer, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		return "", err
	}
	return withQuery(b.url, url.Values{"stream": {name}, "consumer": {natsConsumer}})
}

func (b *natsBroker) subscribed(ctx context.Context, name string) (bool, error) {
	c, err := b.js.Consumer(ctx, name, natsConsumer)
	if err != nil {
		return false, err
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumWaiting > 0, err
}

func (b *natsBroker) publish(ctx context.Context, subject, id, key string, payload json.RawMessage) error {
	m := nats.NewMsg(subject)
	m.Header.Set(jetstream.MsgIDHeader, id)
	if key != "" {
		m.Header.Set(orderingKeyHeader, key)
	}
	m.Data = payload
	_, err := b.js.PublishMsg(ctx, m)
	return err
}

func (b *natsBroker) remove(ctx context.Context, name string) error {
	return b.js.DeleteStream(ctx, name)
}

func (b *natsBroker) close() { b.nc.Close() }
