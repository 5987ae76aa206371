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
// schema (422, the check bounded by work); the store fixes the event and
// its targets, then its workflow starts. created is false for a repeat of
// an id the app has.
func (s *server) accept(ctx, work context.Context, in schemas.EventIn) (created bool, ev schemas.Event, err error) {
	t, err := s.checkEvent(ctx, work, in.AppID, in.EventType, in.Payload)
	if err != nil {
		return false, ev, err
	}
	now := s.now()
	if in.ID == "" {
		in.ID = schemas.NewID(schemas.PrefixEvent, now)
	}
	ne := store.NewEvent{AppID: in.AppID, ID: in.ID, EventType: in.EventType, Payload: in.Payload, CreatedAt: now}
	ne.Filter = s.filterFor(ctx, ne, t)
	created, ev, targets, err := s.Store.AcceptEvent(ctx, ne)
	if err != nil {
		return false, ev, err
	}
	if created {
		if err := s.Dispatcher.Start(ctx, ne, targets); err != nil {
			return false, ev, unavailable(err)
		}
		if s.Metrics != nil {
			s.Metrics.EventAccepted(ev.EventType)
		}
		return true, ev, nil
	}
	// A repeat: the first request may have stored the event and failed to
	// start its workflow, so start it again (Start is idempotent) while
	// deliveries are still to be made.
	if ev.Status == schemas.EventPending {
		stored, targets, err := s.Store.EventInput(ctx, in.AppID, in.ID)
		if err != nil {
			return false, ev, err
		}
		if err := s.Dispatcher.Start(ctx, stored, targets); err != nil {
			return false, ev, unavailable(err)
		}
	}
	return false, ev, nil
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

// Accept accepts one event. Its errors carry the kind the API would answer
// with: KindInvalid, KindBadRequest and KindTooLarge mean the event can
// never be accepted; others may pass on a later try.
func (a *Acceptor) Accept(ctx context.Context, in schemas.EventIn) (created bool, err error) {
	if len(in.Payload) > a.s.Config.MaxPayloadBytes {
		return false, errTooLarge
	}
	if !json.Valid(in.Payload) {
		return false, schemas.E(schemas.KindBadRequest, "invalid_json", "the payload is not valid JSON")
	}
	if in.ID != "" {
		if err := checkID("id", in.ID); err != nil {
			return false, err
		}
	}
	created, _, err = a.s.accept(ctx, ctx, in)
	return created, err
}
