package amqpbroker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/herald-hq/herald/broker"
)

// Consume implements broker.Consumer for amqp://…?queue=Q. The consumer is
// exclusive: RabbitMQ refuses a second consumer on the queue, so two Herald
// workers can never consume one source at once, even for the moments when
// Temporal has given it to a new worker and an old one has not noticed yet.
func (b *Broker) Consume(ctx context.Context, rawURL string, prefetch int, ready func(), handle func(broker.Delivery)) error {
	u, err := broker.CheckSourceURL(rawURL)
	if err != nil {
		return err
	}
	queue := broker.Param(u, "queue")
	conn, err := b.dial(u, false, "herald source "+queue)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Qos(max(prefetch, 1), 0, false); err != nil {
		return fmt.Errorf("set prefetch: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	msgs, err := ch.ConsumeWithContext(ctx, queue, "", false, true, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume queue %s: %w", queue, err)
	}
	ready()
	for {
		select {
		case <-ctx.Done():
			// Closing the connection (deferred) returns every unsettled
			// message to the queue.
			return nil
		case e := <-closed:
			if e == nil {
				return errors.New("the channel was closed")
			}
			return fmt.Errorf("queue %s: %w", queue, e)
		case d, ok := <-msgs:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("queue %s: the broker ended the subscription", queue)
			}
			handle(delivery(d))
		}
	}
}

func delivery(d amqp.Delivery) broker.Delivery {
	h := make(map[string]string, len(d.Headers))
	for k, v := range d.Headers {
		if s, ok := tableString(v); ok {
			h[strings.ToLower(k)] = s
		}
	}
	return broker.Delivery{
		Message: broker.Message{ID: d.MessageId, Header: h, Body: d.Body, Time: d.Timestamp},
		Ack:     func() error { return d.Ack(false) },
		Reject:  func() error { return d.Reject(false) },
	}
}
