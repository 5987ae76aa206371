package api

import (
	"bytes"
	"encoding/json"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/schemas"
)

func (s *server) eventTypeRoutes(r fiber.Router) {
	r.Post("/event-types", s.createEventType)
	r.Get("/event-types", s.listEventTypes)
	r.Get("/event-types/:name", s.getEventType)
	r.Patch("/event-types/:name", s.updateEventType)
	r.Delete("/event-types/:name", s.deleteEventType)
}

type eventTypeRequest struct {
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Schema      json.RawMessage `json:"schema"`
}

func eventTypeOut(t schemas.EventType) schemas.EventType {
	t.CreatedAt = t.CreatedAt.UTC()
	t.UpdatedAt = t.UpdatedAt.UTC()
	if len(t.Schema) == 0 {
		t.Schema = json.RawMessage("null")
	}
	return t
}

// checkSchema compiles a schema given in a request. Absent or null means no
// schema; anything else must be a JSON object that compiles.
func (s *server) checkSchema(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, schemas.E(schemas.KindInvalid, "invalid_schema", "schema must be a JSON Schema object")
	}
	if _, err := s.schemas.compile(raw); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, schemas.E(schemas.KindBadRequest, "invalid_json", "schema is not valid JSON")
	}
	return buf.Bytes(), nil
}

func (s *server) createEventType(c *fiber.Ctx) error {
	var req eventTypeRequest
	if err := s.decode(c, &req, false); err != nil {
		return err
	}
	if req.Name == nil {
		return schemas.E(schemas.KindInvalid, "invalid_name", "name is required")
	}
	if err := checkID("name", *req.Name); err != nil {
		return schemas.Errorf(schemas.KindInvalid, "invalid_name",
			"name must be 1 to 128 letters, digits, '_', '.' or '-' (^[a-zA-Z0-9_.-]{1,128}$), and not \".\" or \"..\"; not %q", *req.Name)
	}
	sch, err := s.checkSchema(req.Schema)
	if err != nil {
		return err
	}
	now := s.now()
	t := schemas.EventType{Name: *req.Name, Schema: sch, CreatedAt: now, UpdatedAt: now}
	if req.Description != nil {
		t.Description = *req.Description
	}
	if err := s.Store.CreateEventType(c.UserContext(), t); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(eventTypeOut(t))
}

func (s *server) listEventTypes(c *fiber.Ctx) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	ts, next, err := s.Store.ListEventTypes(c.UserContext(), p)
	if err != nil {
		return err
	}
	return c.JSON(listOf(ts, next, eventTypeOut))
}

func (s *server) getEventType(c *fiber.Ctx) error {
	t, err := s.Store.GetEventType(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	return c.JSON(eventTypeOut(t))
}

// updateEventType changes what the body names: description, schema (null
// removes it). A name, if given, must be the type's own.
func (s *server) updateEventType(c *fiber.Ctx) error {
	var req eventTypeRequest
	if err := s.decode(c, &req, false); err != nil {
		return err
	}
	t, err := s.Store.GetEventType(c.UserContext(), c.Params("name"))
	if err != nil {
		return err
	}
	if req.Name != nil && *req.Name != t.Name {
		return schemas.E(schemas.KindInvalid, "invalid_name", "an event type cannot be renamed")
	}
	if req.Description != nil {
		t.Description = *req.Description
	}
	if req.Schema != nil {
		if t.Schema, err = s.checkSchema(req.Schema); err != nil {
			return err
		}
	}
	t.UpdatedAt = s.now()
	t, err = s.Store.UpdateEventType(c.UserContext(), t)
	if err != nil {
		return err
	}
	if req.Schema == nil {
		return c.JSON(eventTypeOut(t))
	}
	warnings, err := s.recheckRouting(c.UserContext(), t)
	if err != nil {
		return err
	}
	return c.JSON(eventTypeUpdated{EventType: eventTypeOut(t), Warnings: warnings})
}

// eventTypeUpdated is the PATCH answer: the event type and the endpoints
// whose filter or transform its new schema no longer type-checks.
type eventTypeUpdated struct {
	schemas.EventType
	Warnings []routingWarning `json:"warnings,omitempty"`
}

func (s *server) deleteEventType(c *fiber.Ctx) error {
	if err := s.Store.DeleteEventType(c.UserContext(), c.Params("name")); err != nil {
		return err
	}
	return noContent(c)
}

// schemaCache keeps compiled schemas by their text, so accepting an event
// does not compile its type's schema again.
type schemaCache struct {
	mu sync.Mutex
	m  map[string]*schemas.PayloadSchema
}

const schemaCacheSize = 1024

func newSchemaCache() *schemaCache {
	return &schemaCache{m: map[string]*schemas.PayloadSchema{}}
}

func (sc *schemaCache) compile(raw json.RawMessage) (*schemas.PayloadSchema, error) {
	key := string(raw)
	sc.mu.Lock()
	p, ok := sc.m[key]
	sc.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := schemas.CompileSchema(raw)
	if err != nil {
		return nil, err
	}
	sc.mu.Lock()
	if len(sc.m) >= schemaCacheSize {
		clear(sc.m)
	}
	sc.m[key] = p
	sc.mu.Unlock()
	return p, nil
}
