package api

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/broker"
	"github.com/herald-hq/herald/netguard"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// SourceStore is the part of *store.Store the sources routes use.
type SourceStore interface {
	CreateSource(ctx context.Context, src schemas.Source) error
	GetSource(ctx context.Context, appID, id string) (schemas.Source, error)
	ListSources(ctx context.Context, appID string, p store.Page) ([]schemas.Source, string, error)
	DeleteSource(ctx context.Context, appID, id string) error
}

// SourceRunner starts and stops the consumption of sources
// (*dispatch.Dispatcher: one workflow per source).
type SourceRunner interface {
	StartSource(ctx context.Context, appID, id string) error
	StopSource(ctx context.Context, appID, id string) error
}

func (s *server) sourceRoutes(r fiber.Router) {
	r.Post("/apps/:app/sources", s.createSource)
	r.Get("/apps/:app/sources", s.listSources)
	r.Get("/apps/:app/sources/:src", s.getSource)
	r.Delete("/apps/:app/sources/:src", s.deleteSource)
}

// sourceOut is a source as clients see it: the password hidden.
func sourceOut(src schemas.Source) schemas.Source {
	src.URL = broker.Redact(src.URL)
	src.CreatedAt = src.CreatedAt.UTC()
	return src
}

func (s *server) createSource(c *fiber.Ctx) error {
	var req struct {
		URL       *string `json:"url"`
		EventType *string `json:"event_type"`
	}
	if err := s.decode(c, &req, false); err != nil {
		return err
	}
	appID, ctx := c.Params("app"), c.UserContext()
	if err := s.requireApp(c, appID); err != nil {
		return err
	}
	if req.URL == nil {
		return schemas.E(schemas.KindInvalid, "invalid_url", "url is required")
	}
	if _, err := broker.CheckSourceURL(*req.URL); err != nil {
		return schemas.E(schemas.KindInvalid, "invalid_url", err.Error())
	}
	now := s.now()
	src := schemas.Source{ID: schemas.NewID(schemas.PrefixSource, now), AppID: appID, URL: *req.URL,
		Status: schemas.SourceRunning, CreatedAt: now}
	if req.EventType != nil && *req.EventType != "" {
		if _, err := s.Store.GetEventType(ctx, *req.EventType); err != nil {
			if schemas.IsNotFound(err) {
				return schemas.Errorf(schemas.KindInvalid, "unknown_event_type", "event type %q does not exist", *req.EventType)
			}
			return err
		}
		src.EventType = *req.EventType
	}
	if s.Sources == nil {
		return schemas.E(schemas.KindUnavailable, "sources_unavailable", "this server does not run sources")
	}
	if err := s.Store.CreateSource(ctx, src); err != nil {
		return err
	}
	if err := s.Sources.StartSource(ctx, appID, src.ID); err != nil {
		// Without its workflow the source would never run: take it back.
		if derr := s.Store.DeleteSource(ctx, appID, src.ID); derr != nil {
			s.Logger.Error("remove source whose workflow did not start", "source", src.ID, "err", derr)
		}
		return unavailable(err)
	}
	return c.Status(fiber.StatusCreated).JSON(sourceOut(src))
}

func (s *server) listSources(c *fiber.Ctx) error {
	return listInApp(s, c, s.Store.ListSources, sourceOut)
}

func (s *server) getSource(c *fiber.Ctx) error {
	src, err := inApp(s, c, "src", s.Store.GetSource)
	if err != nil {
		return err
	}
	return c.JSON(sourceOut(src))
}

// deleteSource removes the source, then stops its workflow. The consuming
// activity also stops by itself when it finds its source gone, so a
// Temporal outage here delays the stop but does not lose it.
func (s *server) deleteSource(c *fiber.Ctx) error {
	appID, id, ctx := c.Params("app"), c.Params("src"), c.UserContext()
	if err := s.requireApp(c, appID); err != nil {
		return err
	}
	if err := s.Store.DeleteSource(ctx, appID, id); err != nil {
		return err
	}
	if s.Sources != nil {
		if err := s.Sources.StopSource(ctx, appID, id); err != nil {
			s.Logger.Warn("stop source workflow (its activity stops by itself)", "source", id, "err", err)
		}
	}
	return noContent(c)
}

// checkEndpointURL validates an endpoint URL: http(s) by netguard's rules,
// or a broker (amqp://…?exchange=X&routing_key=Y, nats://…?subject=S) by
// the broker package's and netguard's host rule. Broker host names are
// checked again at dial time.
func checkEndpointURL(raw string, allowPrivate bool) error {
	if !broker.IsBrokerURL(raw) {
		return netguard.CheckURL(raw, allowPrivate)
	}
	u, err := broker.CheckDestinationURL(raw)
	if err != nil {
		return err
	}
	return netguard.CheckHost(u, allowPrivate)
}
