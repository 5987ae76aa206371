package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/herald-hq/herald/client"
)

// Source kinds: the broker a --source phase publishes to.
const (
	SourceAMQP = "amqp"
	SourceNATS = "nats"
)

// defaultSourceURL is the broker of each kind when Options.SourceURL is empty.
var defaultSourceURL = map[string]string{
	SourceAMQP: "amqp://guest:guest@127.0.0.1:5672/",
	SourceNATS: "nats://127.0.0.1:4222",
}

// sourceReadyTimeout bounds the wait for a new source's consumer to subscribe.
const sourceReadyTimeout = time.Minute

// sourceBroker is the bench's side of one broker: it makes a phase's queue
// or stream, sees Herald's consumer subscribe to it, and publishes.
type sourceBroker interface {
	// prepare makes the queue or stream name and returns the source URL
	// that consumes it.
	prepare(ctx context.Context, name string) (string, error)
	// subscribed reports whether Herald's consumer of name is taking messages.
	subscribed(ctx context.Context, name string) (bool, error)
	// publish sends one message with the event id id (and the ordering
	// key key, unless "") to name and returns once the broker has confirmed
	// it stored the message.
	publish(ctx context.Context, name, id, key string, payload json.RawMessage) error
	// remove deletes the queue or stream name.
	remove(ctx context.Context, name string) error
	close()
}

func dialSourceBroker(kind, rawURL string) (sourceBroker, error) {
	if rawURL == "" {
		rawURL = defaultSourceURL[kind]
	}
	switch kind {
	case SourceAMQP:
		return dialAMQP(rawURL)
	case SourceNATS:
		return dialNATS(rawURL)
	}
	return nil, fmt.Errorf("source must be %q or %q, not %q", SourceAMQP, SourceNATS, kind)
}

// sourceSystem is Herald fed through a broker source: each phase gets an
// app of its own with its endpoints (as the herald system makes them) and
// one source consuming a queue or stream of its own, and the events are
// published to the broker instead of POSTed. It runs in h's process, whose
// CPU it reads over its own phases; the broker's CPU is not counted.
//
// An event's send is its publish and its accept the broker's confirm (AMQP
// publisher confirm, JetStream publish ack): the moment a producer on the
// bus is done with it. Herald accepts it later, when its source has read it.
func sourceSystem(o Options, h *system) (*system, error) {
	b, err := dialSourceBroker(o.Source, o.SourceURL)
	if err != nil {
		return nil, err
	}
	s := &system{name: "source", proc: h.proc, tc: h.tc, borrowed: true}
	type phase struct{ app, source, queue string }
	var last *phase
	// end deletes the last phase's source, then its queue or stream (in
	// that order, so the source does not go failing for want of it).
	end := func(ctx context.Context) error {
		if last == nil {
			return nil
		}
		p := last
		last = nil
		err := h.api.deleteSource(ctx, p.app, p.source)
		return errors.Join(err, b.remove(ctx, p.queue))
	}
	s.begin = func(ctx context.Context, urls []string) (phaseSetup, error) {
		if err := end(ctx); err != nil {
			return phaseSetup{}, err
		}
		setup, err := h.begin(ctx, urls)
		if err != nil {
			return phaseSetup{}, err
		}
		run, err := runID()
		if err != nil {
			return phaseSetup{}, err
		}
		p := &phase{app: setup.app, queue: "herald-bench-" + run}
		srcURL, err := b.prepare(ctx, p.queue)
		if err != nil {
			return phaseSetup{}, fmt.Errorf("make the %s queue: %w", o.Source, err)
		}
		if p.source, err = h.api.createSource(ctx, p.app, srcURL); err != nil {
			_ = b.remove(ctx, p.queue)
			return phaseSetup{}, err
		}
		last = p
		// Published before the consumer stands, the first messages would
		// wait for it and their latency would be the source's start.
		if err := waitSubscribed(ctx, b, p.queue); err != nil {
			return phaseSetup{}, err
		}
		setup.send = func(ctx context.Context, id, key string, payload json.RawMessage) error {
			return b.publish(ctx, p.queue, id, key, payload)
		}
		return setup, nil
	}
	s.stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := end(ctx); err != nil {
			o.Logger.Warn("removing the bench source", "error", err)
		}
		b.close()
	}
	return s, nil
}

func waitSubscribed(ctx context.Context, b sourceBroker, name string) error {
	ctx, cancel := context.WithTimeout(ctx, sourceReadyTimeout)
	defer cancel()
	for {
		ok, err := b.subscribed(ctx, name)
		if ok {
			return nil
		}
		if err == nil {
			err = errors.New("no consumer")
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the source did not subscribe to %s within %s: %w", name, sourceReadyTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// withQuery is rawURL with its query set to q.
func withQuery(rawURL string, q url.Values) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("broker url: %w", err)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// createSource makes a source of app consuming srcURL; it returns its id.
func (h *heraldAPI) createSource(ctx context.Context, app, srcURL string) (string, error) {
	et := benchEventType
	res, err := h.c.CreateSourceWithResponse(ctx, app, client.SourceCreate{URL: srcURL, EventType: &et})
	if err == nil {
		err = client.Expect(res, http.StatusCreated)
	}
	if err != nil {
		return "", fmt.Errorf("create the source: %w", err)
	}
	return res.JSON201.ID, nil
}

// deleteSource stops and removes a source.
func (h *heraldAPI) deleteSource(ctx context.Context, app, id string) error {
	res, err := h.c.DeleteSourceWithResponse(ctx, app, id)
	if err == nil {
		err = client.Expect(res, http.StatusNoContent)
	}
	if err != nil {
		return fmt.Errorf("delete the source: %w", err)
	}
	return nil
}
