// Package api is Herald's HTTP API (the contract is docs/api.md):
// a Fiber app with the routes, request decoding and validation, the one
// table that maps error kinds to HTTP statuses, and the OpenAPI document.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/lanewake"
	"github.com/herald-hq/herald/metrics"
	"github.com/herald-hq/herald/routing"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// Store is the part of *store.Store the API uses.
type Store interface {
	Ping(ctx context.Context) error

	CreateApp(ctx context.Context, a schemas.App) error
	GetApp(ctx context.Context, id string) (schemas.App, error)
	ListApps(ctx context.Context, p store.Page) ([]schemas.App, string, error)
	UpdateApp(ctx context.Context, id, name string, now time.Time) (schemas.App, error)
	DeleteApp(ctx context.Context, id string, now time.Time) error

	CreateEventType(ctx context.Context, t schemas.EventType) error
	GetEventType(ctx context.Context, name string) (schemas.EventType, error)
	ListEventTypes(ctx context.Context, p store.Page) ([]schemas.EventType, string, error)
	UpdateEventType(ctx context.Context, t schemas.EventType) (schemas.EventType, error)
	DeleteEventType(ctx context.Context, name string) error

	CreateEndpoint(ctx context.Context, e schemas.Endpoint, sec schemas.EndpointSecrets) error
	GetEndpoint(ctx context.Context, appID, id string) (schemas.Endpoint, error)
	ListEndpoints(ctx context.Context, appID string, p store.Page) ([]schemas.Endpoint, string, error)
	UpdateEndpoint(ctx context.Context, e schemas.Endpoint) (schemas.Endpoint, error)
	DeleteEndpoint(ctx context.Context, appID, id string, now time.Time) error
	GetEndpointSecrets(ctx context.Context, appID, id string) (schemas.EndpointSecrets, error)
	RotateEndpointSecret(ctx context.Context, appID, id, newKey string, overlapUntil time.Time) error
	RoutedEndpoints(ctx context.Context, eventType string) ([]schemas.Endpoint, error)

	AcceptEvent(ctx context.Context, ev store.NewEvent) (bool, schemas.Event, []schemas.Target, error)
	EventInput(ctx context.Context, appID, id string) (store.NewEvent, []schemas.Target, error)
	GetEvent(ctx context.Context, appID, id string) (schemas.Event, error)
	ListEvents(ctx context.Context, appID string, f store.EventFilter, p store.Page) ([]schemas.Event, string, error)
	CancelDeliveries(ctx context.Context, appID, eventID string, upTo schemas.Generations, now time.Time) (schemas.EventStatus, schemas.Generations, error)
	PrepareReplay(ctx context.Context, appID, eventID, endpointID string, now time.Time) ([]schemas.Target, error)
	RecoverFailed(ctx context.Context, appID, endpointID string, since, until, now time.Time) ([]store.ReplayedDelivery, error)

	PortalStore
	StatsStore
	SourceStore
	ClearDispatch(ctx context.Context, appID, eventID, kind string) error
}

// Dispatcher starts and steers event workflows (*dispatch.Dispatcher).
type Dispatcher interface {
	Start(ctx context.Context, ev store.NewEvent, targets []schemas.Target) error
	Cancel(ctx context.Context, appID, eventID string, sig schemas.CancelSignal) error
	Replay(ctx context.Context, appID, eventID string, sig schemas.ReplaySignal) error
}

// Config are the API's settings.
type Config struct {
	Token                string        // bearer token of every /v1 route
	MaxPayloadBytes      int           // largest request body; default 1 MiB
	SecretOverlap        time.Duration // how long a rotated-out key keeps signing; default 24h
	AllowPrivateNetworks bool          // endpoint URLs may name private addresses
	Version              string        // shown in the OpenAPI document
	PublicURL            string        // base of portal links; default: the request's own base URL
	// ReadTimeout bounds reading one request, headers and body; default
	// 30s. A client that drips its request is cut off after it.
	ReadTimeout time.Duration
}

// Deps is what the API needs.
type Deps struct {
	Store      Store
	Dispatcher Dispatcher
	Sources    SourceRunner // nil: the sources routes answer 503
	// Wakes wakes the deliveries waiting for their lane's turn that a
	// cancel, a replay or a deletion touched (lanewake.Waiters.Wake names
	// them); nil: they learn of it when their waits end.
	Wakes   func(lanewake.Wake)
	Metrics *metrics.Metrics
	Router  *routing.Router // endpoint filters and transforms; nil: one of the API's own
	Logger  *slog.Logger
	// Ready reports whether Temporal is reachable (for /readyz, beside Store.Ping).
	Ready  func(ctx context.Context) error
	Now    func() time.Time
	Config Config
}

// server holds the dependencies the handlers share.
type server struct {
	Deps
	schemas *schemaCache
	router  *routing.Router
	openapi []byte
}

// New builds the Fiber app with every route.
func New(d Deps) *fiber.App {
	if d.Config.MaxPayloadBytes <= 0 {
		d.Config.MaxPayloadBytes = 1 << 20
	}
	if d.Config.ReadTimeout <= 0 {
		d.Config.ReadTimeout = 30 * time.Second
	}
	if d.Config.SecretOverlap <= 0 {
		d.Config.SecretOverlap = 24 * time.Hour
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Ready == nil {
		d.Ready = func(context.Context) error { return nil }
	}
	s := &server{Deps: d, schemas: newSchemaCache(), router: newRouter(d)}
	app := fiber.New(fiber.Config{
		AppName: "herald",
		// Bodies are read by readBody after auth, bounded, into a buffer
		// that grows with what arrives (see body.go).
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    d.Config.MaxPayloadBytes,
		ReadTimeout:                  d.Config.ReadTimeout,
		WriteTimeout:                 30 * time.Second,
		IdleTimeout:                  time.Minute,
		Immutable:                    true,
		CaseSensitive:                true,
		DisableStartupMessage:        true,
		ErrorHandler:                 s.handleError,
		JSONEncoder:                  json.Marshal,
		JSONDecoder:                  json.Unmarshal,
	})
	app.Server().HeaderReceived = s.headerReceived
	app.Server().ErrorHandler = headErrors(app.Server().ErrorHandler)
	app.Use(s.recoverPanic, s.finishBody)
	s.opsRoutes(app)
	v1 := app.Group("/v1", s.auth, s.readBody, s.checkParams)
	s.appRoutes(v1)
	s.eventTypeRoutes(v1)
	s.endpointRoutes(v1)
	s.secretRoutes(v1)
	s.eventRoutes(v1)
	s.portalRoutes(v1)
	s.statsRoutes(v1)
	s.sourceRoutes(v1)
	s.openapi = openAPIDocument(d.Config.Version)
	return app
}

// now is the current time in UTC, to the microsecond the store keeps.
func (s *server) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }
