package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/lanewake"
	"github.com/herald-hq/herald/schemas"
)

func (s *server) appRoutes(r fiber.Router) {
	r.Post("/apps", s.createApp)
	r.Get("/apps", s.listApps)
	r.Get("/apps/:app", s.getApp)
	r.Patch("/apps/:app", s.updateApp)
	r.Delete("/apps/:app", s.deleteApp)
}

type appRequest struct {
	ID   *string `json:"id"`
	Name *string `json:"name"`
}

func appOut(a schemas.App) schemas.App {
	a.CreatedAt = a.CreatedAt.UTC()
	a.UpdatedAt = a.UpdatedAt.UTC()
	return a
}

func checkAppName(name *string) error {
	if name == nil || strings.TrimSpace(*name) == "" {
		return schemas.E(schemas.KindInvalid, "invalid_name", "name is required and must not be empty")
	}
	if len(*name) > 256 {
		return schemas.E(schemas.KindInvalid, "invalid_name", "name must be at most 256 bytes")
	}
	return nil
}

func (s *server) createApp(c *fiber.Ctx) error {
	var req appRequest
	if err := s.decode(c, &req, false); err != nil {
		return err
	}
	if err := checkAppName(req.Name); err != nil {
		return err
	}
	now := s.now()
	a := schemas.App{Name: *req.Name, CreatedAt: now, UpdatedAt: now}
	if req.ID != nil {
		if err := checkID("id", *req.ID); err != nil {
			return err
		}
		a.ID = *req.ID
	} else {
		a.ID = schemas.NewID(schemas.PrefixApp, now)
	}
	if err := s.Store.CreateApp(c.UserContext(), a); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(appOut(a))
}

func (s *server) listApps(c *fiber.Ctx) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	apps, next, err := s.Store.ListApps(c.UserContext(), p)
	if err != nil {
		return err
	}
	return c.JSON(listOf(apps, next, appOut))
}

func (s *server) getApp(c *fiber.Ctx) error {
	a, err := s.Store.GetApp(c.UserContext(), c.Params("app"))
	if err != nil {
		return err
	}
	return c.JSON(appOut(a))
}

func (s *server) updateApp(c *fiber.Ctx) error {
	var req struct {
		Name *string `json:"name"`
	}
	if err := s.decode(c, &req, false); err != nil {
		return err
	}
	if err := checkAppName(req.Name); err != nil {
		return err
	}
	a, err := s.Store.UpdateApp(c.UserContext(), c.Params("app"), *req.Name, s.now())
	if err != nil {
		return err
	}
	return c.JSON(appOut(a))
}

func (s *server) deleteApp(c *fiber.Ctx) error {
	if err := s.Store.DeleteApp(c.UserContext(), c.Params("app"), s.now()); err != nil {
		return err
	}
	s.wake(lanewake.Wake{AppID: c.Params("app")})
	return noContent(c)
}
