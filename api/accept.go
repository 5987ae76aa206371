package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// accept validates an event and accepts it, as POST .../events does: an
// unknown app first (404), then the id, the event type and the payload's
// schema (422, the check bounded by a context from work); the store fixes the event and
// its targets, then its workflow starts. created is false for a repeat of
// an id the app has.
func (s *server) accept(ctx context.Context, work workFunc, in schemas.EventIn) (created bool, ev schemas.Event, err error) {
	created, ev, start, err := s.admit(ctx, work, in)
	if err == nil && start != nil {
		err = start(ctx)
	}
	return created, ev, err
}

// admit is accept up to the store: the event is checked and stored, its
// place in every ordered endpoint's order fixed. start, nil when there is
// nothing to start, starts its workflow; until it has, the event is not
// accepted (a repeat of its id starts it).
func (s *server) admit(ctx context.Context, work workFunc, in schemas.EventIn) (created bool, ev schemas.Event, start func(context.Context) error, err error) {
	if in.OrderingKey != "" { // the API checked its own; a source's comes from a message header
		if err := checkOrderingKey(&in.OrderingKey); err != nil {
			return false, ev, nil, err
		}
	}
	t, err := s.checkEvent(ctx, work, in.AppID, in.EventType, in.Payload)
	if err != nil {
		return false, ev, nil, err
	}
	now := s.now()
	if in.ID == "" {
		in.ID = schemas.NewID(schemas.PrefixEvent, now)
	}
	ne := store.NewEvent{AppID: in.AppID, ID: in.ID, EventType: in.EventType, Payload: in.Payload, CreatedAt: now,
		OrderingKey: in.OrderingKey}
	ne.Filter = s.filterFor(ctx, ne, t)
	created, ev, targets, err := s.Store.AcceptEvent(ctx, ne)
	if err != nil {
		return false, ev, nil, err
	}
	if created {
		return true, ev, func(ctx context.Context) error {
			if err := s.Dispatcher.Start(ctx, ne, targets); err != nil {
				// Stored and noted in the outbox: the workers' sweep starts it.
				return unavailable(err)
			}
			s.dispatched(ctx, in.AppID, in.ID, store.DispatchStart)
			if s.Metrics != nil {
				s.Metrics.EventAccepted(ev.EventType)
			}
			return nil
		}, nil
	}
	// A repeat: the first request may have stored the event and failed to
	// start its workflow, so start it again (Start is idempotent) while
	// deliveries are still to be made.
	if ev.Status != schemas.EventPending {
		return false, ev, nil, nil
	}
	return false, ev, func(ctx context.Context) error {
		stored, targets, err := s.Store.EventInput(ctx, in.AppID, in.ID)
		if err != nil {
			return err
		}
		if err := s.Dispatcher.Start(ctx, stored, targets); err != nil {
			return unavailable(err)
		}
		s.dispatched(ctx, in.AppID, in.ID, store.DispatchStart)
		return nil
	}, nil
}

// Acceptor accepts events that do not come through HTTP (a source's
// messages) by the very path POST .../events takes.
type Acceptor struct{ s *server }

// NewAcceptor makes an Acceptor of the API's dependencies (Store,
// Dispatcher, Metrics, Now, Config.MaxPayloadBytes).
func NewAcceptor(d Deps) *Acceptor {
	if d.Config.MaxPayloadBytes <= 0 {
		d.Config.MaxPayloadBytes = 1 << 20
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Acceptor{s: &server{Deps: d, schemas: newSchemaCache(), router: newRouter(d)}}
}

// Admit checks and stores one event, fixing its place in order; start
// (nil when there is nothing to start) then starts its workflow, which
// makes it accepted. Splitting the two lets a caller admit in order and
// start concurrently. Errors carry the kind the API would answer with:
// KindInvalid, KindBadRequest and KindTooLarge mean the event can never be
// accepted; others may pass on a later try.
func (a *Acceptor) Admit(ctx context.Context, in schemas.EventIn) (created bool, start func(context.Context) error, err error) {
	if len(in.Payload) > a.s.Config.MaxPayloadBytes {
		return false, nil, errTooLarge
	}
	if !json.Valid(in.Payload) {
		return false, nil, schemas.E(schemas.KindBadRequest, "invalid_json", "the payload is not valid JSON")
	}
	if in.ID != "" {
		if err := checkID("id", in.ID); err != nil {
			return false, nil, err
		}
	}
	created, _, start, err = a.s.admit(ctx, func() (context.Context, context.CancelFunc) { return ctx, func() {} }, in)
	return created, start, err
}

// Accept admits one event and starts it.
func (a *Acceptor) Accept(ctx context.Context, in schemas.EventIn) (created bool, err error) {
	created, start, err := a.Admit(ctx, in)
	if err == nil && start != nil {
		err = start(ctx)
	}
	return created, err
}
