package main

import (
	"fmt"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/api"
	"github.com/herald-hq/herald/broker"
	"github.com/herald-hq/herald/broker/amqpbroker"
	"github.com/herald-hq/herald/broker/natsbroker"
	"github.com/herald-hq/herald/outbound"
	"github.com/herald-hq/herald/worker"
)

// brokers are the message-broker transports, shared by the sources'
// consumers and the deliveries to broker endpoints (one connection pool
// per transport).
type brokers struct {
	amqp *amqpbroker.Broker
	nats *natsbroker.Broker
}

func newBrokers(s *stack) *brokers {
	cfg := broker.Config{Timeout: s.cfg.DeliveryTimeout, AllowPrivateNetworks: s.cfg.AllowPrivateNetworks}
	return &brokers{amqp: amqpbroker.New(cfg), nats: natsbroker.New(cfg)}
}

func (b *brokers) close() {
	_ = b.amqp.Close()
	_ = b.nats.Close()
}

func (b *brokers) consumers() broker.Consumers {
	return broker.Consumers{"amqp": b.amqp, "amqps": b.amqp, "nats": b.nats}
}

// sender sends each delivery by its endpoint URL's scheme: HTTP(S), or a
// broker publish.
func (s *stack) sender() outbound.Mux {
	h := outbound.NewHTTP(outbound.HTTPConfig{Timeout: s.cfg.DeliveryTimeout, AllowPrivateNetworks: s.cfg.AllowPrivateNetworks})
	return outbound.Mux{
		"http":  h,
		"https": h,
		"amqp":  s.brokers.amqp,
		"amqps": s.brokers.amqp,
		"nats":  s.brokers.nats,
	}
}

// startSourceWorker starts the worker that runs sources in this process:
// each source is one long-running activity, placed by Temporal on one of
// the fleet's workers. No broker needs to be up for it to start.
func (s *stack) startSourceWorker() (sdkworker.Worker, error) {
	acts := activities.NewSources(activities.SourceDeps{
		Store: s.store,
		Acceptor: api.NewAcceptor(api.Deps{Store: s.store, Dispatcher: s.dispatcher, Metrics: s.metrics,
			Logger: s.logger, Config: api.Config{MaxPayloadBytes: s.cfg.MaxPayloadBytes}}),
		Consumer:  s.brokers.consumers(),
		Heartbeat: s.temporal,
		Metrics:   s.metrics,
		Logger:    s.logger,
	})
	w := worker.NewSources(s.temporal, acts)
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start sources worker: %w", err)
	}
	return w, nil
}
