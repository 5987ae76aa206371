package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// StatsStore is the part of the store endpoint stats need.
type StatsStore interface {
	Stats(ctx context.Context, appID, endpointID string, since, until time.Time) (store.EndpointStats, error)
}

const (
	defaultStatsWindow = 24 * time.Hour
	// maxStatsWindow bounds what one stats request reads (every attempt in it).
	maxStatsWindow = 31 * 24 * time.Hour
)

func (s *server) statsRoutes(r fiber.Router) {
	r.Get("/apps/:app/endpoints/:ep/stats", s.endpointStats)
	r.Post("/apps/:app/endpoints/:ep/test", s.testEndpoint)
}

// endpointStats answers an endpoint's delivery counts, attempt outcomes,
// latency and hourly buckets over [since, until), by default the last 24h.
func (s *server) endpointStats(c *fiber.Ctx) error {
	since, err := queryTime(c, "since")
	if err != nil {
		return err
	}
	until, err := queryTime(c, "until")
	if err != nil {
		return err
	}
	if until == nil {
		now := s.now()
		until = &now
	}
	if since == nil {
		t := until.Add(-defaultStatsWindow)
		since = &t
	}
	if !until.After(*since) {
		return schemas.E(schemas.KindBadRequest, "invalid_time_range", "until must be after since")
	}
	if until.Sub(*since) > maxStatsWindow {
		return schemas.E(schemas.KindBadRequest, "invalid_time_range", "the window from since to until is at most 31 days")
	}
	appID := c.Params("app")
	if err := s.requireApp(c, appID); err != nil {
		return err
	}
	st, err := s.Store.Stats(c.UserContext(), appID, c.Params("ep"), *since, *until)
	if err != nil {
		return err
	}
	for i := range st.Buckets {
		st.Buckets[i].Start = st.Buckets[i].Start.UTC()
	}
	return c.JSON(st)
}
