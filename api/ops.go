package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/swaggest/swgui/v5emb"

	"github.com/herald-hq/herald/schemas"
)

// opsRoutes are the operations routes; they need no token.
func (s *server) opsRoutes(app *fiber.App) {
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", s.readyz)
	if s.Metrics != nil {
		app.Get("/metrics", adaptor.HTTPHandler(s.Metrics.Handler()))
	}
	app.Get("/openapi.json", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(s.openapi)
	})
	docs := adaptor.HTTPHandler(JSONErrors(v5emb.New("Herald API", "/openapi.json", "/docs")))
	app.Get("/docs", docs)
	app.Get("/docs/:asset", docs)
}

// readyz checks that the database and Temporal answer.
func (s *server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	failed := map[string]string{}
	if err := s.Store.Ping(ctx); err != nil {
		failed["database"] = err.Error()
	}
	if err := s.Ready(ctx); err != nil {
		failed["temporal"] = err.Error()
	}
	if len(failed) > 0 {
		msg := "not ready:"
		for _, dep := range []string{"database", "temporal"} {
			if _, ok := failed[dep]; ok {
				msg += " " + dep + " unreachable;"
			}
		}
		return &schemas.Error{Kind: schemas.KindUnavailable, Code: "not_ready", Message: msg[:len(msg)-1], Details: failed}
	}
	return c.JSON(fiber.Map{"status": "ok"})
}
