package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/herald-hq/herald/broker"
)

// Consume implements broker.Consumer for nats://…?stream=S&consumer=C. It
// binds to the durable consumer C of stream S, creating it as a pull
// consumer with explicit acks when it does not exist.
func (b *Broker) Consume(ctx context.Context, rawURL string, prefetch int, ready func(), handle func(broker.Delivery)) error {
	u, err := broker.CheckSourceURL(rawURL)
	if err != nil {
		return err
	}
	stream, name := broker.Param(u, "stream"), broker.Param(u, "consumer")
	nc, err := b.dial(u, false, "herald source "+stream+"/"+name)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	cons, err := js.Consumer(ctx, stream, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = js.CreateConsumer(ctx, stream, jetstream.ConsumerConfig{
			Durable: name, AckPolicy: jetstream.AckExplicitPolicy})
	}
	if err != nil {
		return fmt.Errorf("consumer %s of stream %s: %w", name, stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(max(prefetch, 1)))
	if err != nil {
		return fmt.Errorf("consume %s/%s: %w", stream, name, err)
	}
	defer it.Stop()
	ready()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if ctx.Err() != nil {
			return nil // unacked messages are redelivered after the consumer's AckWait
		}
		if err != nil {
			return fmt.Errorf("consume %s/%s: %w", stream, name, err)
		}
		handle(delivery(msg, stream))
	}
}

func delivery(m jetstream.Msg, stream string) broker.Delivery {
	h := make(map[string]string, len(m.Headers()))
	var id string
	for k, vs := range m.Headers() {
		if len(vs) == 0 {
			continue
		}
		lower := strings.ToLower(k)
		h[lower] = vs[0]
		if lower == "nats-msg-id" {
			id = vs[0]
		}
	}
	msg := broker.Message{ID: id, Header: h, Body: m.Data()}
	if meta, err := m.Metadata(); err == nil {
		msg.Key = stream + "/" + strconv.FormatUint(meta.Sequence.Stream, 10)
		msg.Time = meta.Timestamp
	}
	return broker.Delivery{Message: msg, Ack: m.Ack, Reject: m.Term}
}
