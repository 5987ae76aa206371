package api

import (
	"context"
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/lanewake"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

func (s *server) eventRoutes(r fiber.Router) {
	r.Post("/apps/:app/events", s.createEvent)
	r.Get("/apps/:app/events", s.listEvents)
	r.Get("/apps/:app/events/:id", s.getEvent)
	r.Post("/apps/:app/events/:id/cancel", s.cancelEvent)
	r.Post("/apps/:app/events/:id/replay", s.replayEvent)
}

// unavailable is the answer when Temporal cannot be reached.
func unavailable(err error) error {
	return &schemas.Error{Kind: schemas.KindUnavailable, Code: "temporal_unavailable",
		Message: "the workflow service is unavailable; retry the request", Err: err}
}

func eventOut(ev schemas.Event) schemas.Event {
	ev.CreatedAt = ev.CreatedAt.UTC()
	ds := make([]schemas.Delivery, len(ev.Deliveries))
	for i, d := range ev.Deliveries {
		if d.NextAttemptAt != nil {
			t := d.NextAttemptAt.UTC()
			d.NextAttemptAt = &t
		}
		as := make([]schemas.Attempt, len(d.Attempts))
		for j, a := range d.Attempts {
			a.StartedAt = a.StartedAt.UTC()
			as[j] = a
		}
		d.Attempts = as
		ds[i] = d
	}
	ev.Deliveries = ds
	return ev
}

type eventRequest struct {
	ID          *string         `json:"id"`
	EventType   *string         `json:"event_type"`
	Payload     json.RawMessage `json:"payload"`
	OrderingKey *string         `json:"ordering_key"`
}

// checkOrderingKey enforces the contract's 1 to 256 printable ASCII characters.
func checkOrderingKey(k *string) error {
	if k == nil {
		return nil
	}
	bad := len(*k) < 1 || len(*k) > 256
	for i := 0; i < len(*k) && !bad; i++ {
		bad = (*k)[i] < 0x20 || (*k)[i] > 0x7e
	}
	if bad {
		return schemas.E(schemas.KindInvalid, "invalid_ordering_key",
			"ordering_key must be 1 to 256 printable ASCII characters")
	}
	return nil
}

// eventID is the event's id: the body's id, else the Idempotency-Key
// header, else a new one. When both are given they must agree.
func eventID(c *fiber.Ctx, req eventRequest) (string, bool, error) {
	key := c.Get("Idempotency-Key")
	switch {
	case req.ID != nil && key != "" && *req.ID != key:
		return "", false, schemas.E(schemas.KindInvalid, "idempotency_key_mismatch",
			"the Idempotency-Key header and the body's id differ; send one, or the same value in both")
	case req.ID != nil:
		return *req.ID, true, checkID("id", *req.ID)
	case key != "":
		return key, true, checkID("Idempotency-Key", key)
	}
	return "", false, nil
}

func (s *server) createEvent(c *fiber.Ctx) error {
	var req eventRequest
	if err := s.decode(c, &req, false); err != nil {
		return err
	}
	appID := c.Params("app")
	id, given, err := eventID(c, req)
	if err != nil {
		return err
	}
	in := schemas.EventIn{AppID: appID, Payload: req.Payload}
	if given {
		in.ID = id
	}
	if req.EventType != nil {
		in.EventType = *req.EventType
	}
	if req.OrderingKey != nil {
		if err := checkOrderingKey(req.OrderingKey); err != nil {
			return s.appFirst(c, appID, err)
		}
		in.OrderingKey = *req.OrderingKey
	}
	created, ev, err := s.accept(c.UserContext(), s.workFor(c), in)
	if err != nil {
		return err
	}
	if created {
		return c.Status(fiber.StatusAccepted).JSON(eventOut(ev))
	}
	return c.Status(fiber.StatusOK).JSON(eventOut(ev))
}

// checkEvent checks the event type and the payload against its schema, and
// returns the type. An unknown app answers 404 before any of that. The
// schema check runs under a context from work (the client leaving or the
// server stopping ends it).
func (s *server) checkEvent(ctx context.Context, work workFunc, appID, eventType string, payload json.RawMessage) (schemas.EventType, error) {
	appFirst := func(err error) error {
		if _, aerr := s.Store.GetApp(ctx, appID); aerr != nil {
			return aerr
		}
		return err
	}
	if eventType == "" {
		return schemas.EventType{}, appFirst(schemas.E(schemas.KindInvalid, "unknown_event_type", "event_type is required"))
	}
	if len(payload) == 0 {
		return schemas.EventType{}, appFirst(schemas.E(schemas.KindInvalid, "invalid_payload", "payload is required"))
	}
	t, err := s.Store.GetEventType(ctx, eventType)
	if schemas.IsNotFound(err) {
		return t, appFirst(schemas.Errorf(schemas.KindInvalid, "unknown_event_type",
			"event type %q does not exist", eventType))
	}
	if err != nil {
		return t, err
	}
	if len(t.Schema) == 0 || string(t.Schema) == "null" {
		return t, nil
	}
	ps, err := s.schemas.compile(t.Schema)
	if err != nil {
		return t, errorf(err, "stored schema of event type %s", t.Name)
	}
	wctx, cancel := work()
	defer cancel()
	if err := ps.Check(wctx, payload); err != nil {
		if schemas.KindOf(err) == schemas.KindInvalid {
			return t, appFirst(err)
		}
		return t, workStopped(err)
	}
	return t, nil
}

// appFirst answers app_not_found when the app does not exist, else err.
func (s *server) appFirst(c *fiber.Ctx, appID string, err error) error {
	if aerr := s.requireApp(c, appID); aerr != nil {
		return aerr
	}
	return err
}

func (s *server) getEvent(c *fiber.Ctx) error {
	appID := c.Params("app")
	ev, err := s.Store.GetEvent(c.UserContext(), appID, c.Params("id"))
	if schemas.IsNotFound(err) {
		return s.appFirst(c, appID, err)
	}
	if err != nil {
		return err
	}
	return c.JSON(eventOut(ev))
}

func (s *server) listEvents(c *fiber.Ctx) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := store.EventFilter{Status: schemas.EventStatus(c.Query("status")), EventType: c.Query("event_type"), EndpointID: c.Query("endpoint_id"),
		OrderingKey: c.Query("ordering_key")}
	if f.Status != "" && !f.Status.Valid() {
		return schemas.Errorf(schemas.KindBadRequest, "invalid_status",
			"status must be one of pending, delivered, failed, cancelled, not %q", f.Status)
	}
	if f.Since, err = queryTime(c, "since"); err != nil {
		return err
	}
	if f.Until, err = queryTime(c, "until"); err != nil {
		return err
	}
	appID := c.Params("app")
	if err := s.requireApp(c, appID); err != nil {
		return err
	}
	evs, next, err := s.Store.ListEvents(c.UserContext(), appID, f, p)
	if err != nil {
		return err
	}
	return c.JSON(listOf(evs, next, eventOut))
}

// cancelEvent makes the event's non-final deliveries cancelled for good,
// then tells its workflow what it cancelled: the generation of each
// delivery, so that a replay or recover accepted after this cancel, which
// re-queues under a newer generation, is not cancelled by the workflow's
// own cancel step when that runs later.
func (s *server) cancelEvent(c *fiber.Ctx) error {
	if err := s.decode(c, &struct{}{}, true); err != nil {
		return err
	}
	appID, id, ctx := c.Params("app"), c.Params("id"), c.UserContext()
	if _, err := s.Store.GetEvent(ctx, appID, id); err != nil {
		if schemas.IsNotFound(err) {
			return s.appFirst(c, appID, err)
		}
		return err
	}
	_, upTo, err := s.Store.CancelDeliveries(ctx, appID, id, nil, s.now())
	if err != nil {
		return err
	}
	if err := s.Dispatcher.Cancel(ctx, appID, id, schemas.CancelSignal{UpTo: upTo}); err != nil {
		return unavailable(err)
	}
	s.wake(lanewake.Wake{AppID: appID, EventID: id})
	ev, err := s.Store.GetEvent(ctx, appID, id)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(eventOut(ev))
}

// replayEvent delivers the event again to one endpoint or to all it was for.
func (s *server) replayEvent(c *fiber.Ctx) error {
	var req struct {
		EndpointID string `json:"endpoint_id"`
	}
	if err := s.decode(c, &req, true); err != nil {
		return err
	}
	appID, id, ctx := c.Params("app"), c.Params("id"), c.UserContext()
	targets, err := s.Store.PrepareReplay(ctx, appID, id, req.EndpointID, s.now())
	if err != nil {
		if schemas.IsNotFound(err) {
			return s.appFirst(c, appID, err)
		}
		return err
	}
	sig := schemas.ReplaySignal{EndpointID: req.EndpointID, Targets: targets}
	if err := s.Dispatcher.Replay(ctx, appID, id, sig); err != nil {
		return unavailable(err)
	}
	s.dispatched(ctx, appID, id, store.DispatchReplay)
	s.wake(lanewake.Wake{AppID: appID, EventID: id, EndpointID: req.EndpointID})
	ev, err := s.Store.GetEvent(ctx, appID, id)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(eventOut(ev))
}

// wake wakes the deliveries w names that wait for their lane's turn: a
// delivery waits inside its workflow's task, which sees a signal only when
// the wait ends (up to 20 s). Woken, it asks the store, finds the change
// and ends, and its workflow takes the signal at once.
func (s *server) wake(w lanewake.Wake) {
	if s.Wakes != nil {
		s.Wakes(w)
	}
}

// dispatched clears the outbox note of what Temporal has just taken. A
// failure costs only a repeat by the workers' sweep, which is idempotent.
func (s *server) dispatched(ctx context.Context, appID, eventID, kind string) {
	if err := s.Store.ClearDispatch(ctx, appID, eventID, kind); err != nil {
		s.Logger.Warn("clear the outbox note of an event (the sweep repeats it)", "event", eventID, "err", err)
	}
}
