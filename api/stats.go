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

// OpenAPI schemas of the stats and test routes.
var (
	countsSchema = func(names ...string) obj {
		props := obj{}
		for _, n := range names {
			props[n] = obj{"type": "integer"}
		}
		return obj{"type": "object", "required": names, "properties": props}
	}
	statsSchema = obj{"type": "object", "required": []string{"since", "until", "counts", "attempts", "latency_ms", "buckets"},
		"properties": obj{
			"since":      obj{"type": "string", "format": "date-time"},
			"until":      obj{"type": "string", "format": "date-time"},
			"counts":     countsSchema("succeeded", "failed", "cancelled", "pending"),
			"attempts":   countsSchema("2xx", "4xx", "5xx", "error"),
			"latency_ms": countsSchema("p50", "p95", "p99"),
			"buckets": obj{"type": "array", "items": obj{"type": "object", "required": []string{"start", "succeeded", "failed"},
				"properties": obj{"start": obj{"type": "string", "format": "date-time"}, "succeeded": obj{"type": "integer"},
					"failed": obj{"type": "integer"}, "attempts": obj{"type": "integer"},
					"latency_p50_ms": obj{"type": "integer"}, "latency_p95_ms": obj{"type": "integer"}}}},
		}}
	testEventSchema = obj{"type": "object", "properties": obj{"event_type": obj{"type": "string"}, "payload": obj{}}}
)
