package api

import (
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/internal/jsonexample"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

const (
	// prefixTestEvent marks test events, so that receivers and lists tell them apart.
	prefixTestEvent = "test_"
	// testEventType is the type of a test event to an endpoint that names
	// no event type, when the request names none either.
	testEventType = "herald.test"
)

var testEventPayload = json.RawMessage(`{"message":"A test event from Herald"}`)

// testEndpoint sends a test event to one endpoint only: of the type asked
// for, else the endpoint's first event type, with the payload given, else
// the type's schema example.
func (s *server) testEndpoint(c *fiber.Ctx) error {
	var req struct {
		EventType *string         `json:"event_type"`
		Payload   json.RawMessage `json:"payload"`
	}
	if err := s.decode(c, &req, true); err != nil {
		return err
	}
	e, err := s.endpoint(c)
	if err != nil {
		return err
	}
	if e.Disabled {
		return schemas.E(schemas.KindInvalid, "endpoint_disabled", "the endpoint is disabled: enable it to send it a test event")
	}
	ctx := c.UserContext()
	typ, payload := testEventType, testEventPayload
	switch {
	case req.EventType != nil:
		typ = *req.EventType
	case len(e.EventTypes) > 0:
		typ = e.EventTypes[0]
	}
	if len(req.Payload) > 0 {
		payload = req.Payload
	}
	if typ != testEventType || req.EventType != nil {
		t, err := s.Store.GetEventType(ctx, typ)
		if schemas.IsNotFound(err) {
			return schemas.Errorf(schemas.KindInvalid, "unknown_event_type", "event type %q does not exist", typ)
		}
		if err != nil {
			return err
		}
		if len(req.Payload) == 0 {
			payload = jsonexample.FromSchema(t.Schema)
		} else {
			if _, err := s.checkEvent(ctx, s.workFor(c), e.AppID, typ, payload); err != nil {
				return err
			}
		}
	}
	now := s.now()
	ne := store.NewEvent{AppID: e.AppID, ID: schemas.NewID(prefixTestEvent, now), EventType: typ,
		Payload: payload, CreatedAt: now, OnlyEndpoint: e.ID}
	_, ev, targets, err := s.Store.AcceptEvent(ctx, ne)
	if err != nil {
		return err
	}
	if err := s.Dispatcher.Start(ctx, ne, targets); err != nil {
		return unavailable(err)
	}
	s.dispatched(ctx, e.AppID, ne.ID, store.DispatchStart)
	return c.Status(fiber.StatusAccepted).JSON(eventOut(ev))
}
