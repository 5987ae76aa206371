// Package activities holds Herald's side effects, called by the workflows:
// one delivery attempt (load, sign, POST, classify, record), the turn
// handoff of ordered endpoints, cancels and replays. They are methods of one
// struct holding the injected dependencies; workflows call them by the names
// in schemas (schemas.ActivityDeliver, ...).
package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/herald-hq/herald/lanewake"
	"github.com/herald-hq/herald/metrics"
	"github.com/herald-hq/herald/outbound"
	"github.com/herald-hq/herald/routing"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// Store is the part of *store.Store the activities use.
type Store interface {
	LoadDelivery(ctx context.Context, appID, eventID, endpointID string) (store.DeliveryJob, error)
	LoadDeliveries(ctx context.Context, appID, eventID string) (map[string]store.DeliveryJob, error)
	BeginAttempt(ctx context.Context, appID, eventID, endpointID string, gen int64, key string, startedAt time.Time) (int, bool, error)
	ReleaseInterrupted(ctx context.Context, appID, eventID, endpointID string, n int, durationMS int64) error
	BeginAttempts(ctx context.Context, starts []store.AttemptStart) ([]store.Begun, error)
	RecordAttempts(ctx context.Context, recs []store.AttemptRecord, results []store.EndpointResult) ([]store.Recorded, error)
	RecordAttemptsAndBegin(ctx context.Context, recs []store.AttemptRecord, results []store.EndpointResult, next store.AttemptStart) ([]store.Recorded, store.Begun, error)
	DisableIfFailing(ctx context.Context, endpointID string, at time.Time, disableAfter time.Duration) (bool, error)
	FinishDelivery(ctx context.Context, appID, eventID, endpointID string, gen int64, status schemas.DeliveryStatus, now time.Time) (schemas.EventStatus, bool, error)
	SetDeliveryStatus(ctx context.Context, appID, eventID string, endpointIDs []string, status schemas.DeliveryStatus, now time.Time) (schemas.EventStatus, error)
	CancelDeliveries(ctx context.Context, appID, eventID string, upTo schemas.Generations, now time.Time) (schemas.EventStatus, schemas.Generations, error)
	DisableEndpoint(ctx context.Context, appID, id, reason string, at time.Time) error
	TakeRateToken(ctx context.Context, endpointID string, perSecond int, now time.Time) (time.Duration, error)
	Ahead(ctx context.Context, endpointID, lane string, seq int64) (int, error)
	HeadDelivery(ctx context.Context, endpointID, lane string) (store.LaneHead, bool, error)
	DeliveryState(ctx context.Context, appID, eventID, endpointID string) (schemas.DeliveryStatus, int64, error)
	AttemptByKey(ctx context.Context, appID, eventID, endpointID, key string) (store.RecordedAttempt, bool, error)
	AdoptAttempt(ctx context.Context, r store.AttemptRecord, fromKey string) (schemas.Attempt, schemas.EventStatus, bool, error)
	NextFresh(ctx context.Context, endpointID, lane string, seq int64) (store.DeliveryRef, bool, error)
	QueuedBehind(ctx context.Context, appID, endpointID, lane string, seq int64, limit int) (store.LaneBatch, error)
	PrepareReplay(ctx context.Context, appID, eventID, endpointID string, now time.Time) ([]schemas.Target, error)
	GetEventType(ctx context.Context, name string) (schemas.EventType, error)
	PurgeBefore(ctx context.Context, cutoff time.Time, limit int) (int, error)
	ClearDispatch(ctx context.Context, appID, eventID, kind string) error
}

// Waker tells the event workflow of an ordered endpoint's head delivery that
// its turn may have come (SignalWithStart "turn").
type Waker interface {
	Turn(ctx context.Context, ref store.DeliveryRef) error
}

// Wakes carries a lane's wakes to the other processes running Herald's
// workflows on the same store (lanewake.Bus).
type Wakes interface {
	Publish(w lanewake.Wake)
}

// Config is what the activities need of Herald's configuration.
type Config struct {
	// DeliveryTimeout bounds one attempt, request sent to answer read
	// (HERALD_DELIVERY_TIMEOUT). Zero means DefaultDeliveryTimeout.
	DeliveryTimeout time.Duration
	// AllowPrivateNetworks lets deliveries reach loopback, private and
	// reserved addresses (HERALD_ALLOW_PRIVATE_NETWORKS).
	AllowPrivateNetworks bool
	// DisableAfter disables an endpoint whose every delivery failed for
	// that long (HERALD_DISABLE_AFTER); 0 never disables.
	DisableAfter time.Duration
	// UserAgent is sent with every delivery, "Herald/<version>".
	UserAgent string
	// Retention is how long events are kept (HERALD_RETENTION); zero means
	// DefaultRetention.
	Retention time.Duration
	// TurnWaiters bounds the ordered deliveries waiting in AcquireTurn at
	// once. Each holds a workflow task slot and a local activity slot of
	// its worker, so it must stay well below the worker's workflow task
	// slots, which other events need too. Zero: DefaultTurnWaiters.
	TurnWaiters int
	// DrainMax bounds the deliveries one drain of an ordered lane makes;
	// from half of them on it chooses an heir (lanes.go). Zero: DefaultDrainMax.
	DrainMax int
}

// DefaultTurnWaiters is half of worker.DefaultWorkflowTasks.
const DefaultTurnWaiters = 512

// DefaultDeliveryTimeout is the contract's default HERALD_DELIVERY_TIMEOUT.
const DefaultDeliveryTimeout = 15 * time.Second

// Deps are the activities' dependencies.
type Deps struct {
	Store   Store
	Waker   Waker            // needed by PassTurn only
	Wakes   Wakes            // other processes' turn waiters; nil in herald dev
	Metrics *metrics.Metrics // may be nil
	Logger  *slog.Logger     // nil: discard
	Now     func() time.Time // nil: time.Now
	Config  Config
	// Sender sends the deliveries; nil: HTTP(S) only, with
	// outbound.NewHTTP(Config's timeout and private-network rule).
	Sender outbound.Sender
	// Router runs endpoint transforms; nil: one of the activities' own.
	Router *routing.Router
}

// Activities are Herald's activities. Safe for concurrent use.
type Activities struct {
	store   Store
	waker   Waker
	metrics *metrics.Metrics
	log     *slog.Logger
	now     func() time.Time
	cfg     Config
	sender  outbound.Sender
	router  func() (*routing.Router, error)
	waiters *lanewake.Waiters // deliveries waiting for their turn in this process
	wakes   Wakes
	drains  drainLimits
}

// New makes the activities from their dependencies.
func New(d Deps) *Activities {
	if d.Config.DeliveryTimeout <= 0 {
		d.Config.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if d.Config.TurnWaiters <= 0 {
		d.Config.TurnWaiters = DefaultTurnWaiters
	}
	if d.Config.UserAgent == "" {
		d.Config.UserAgent = "Herald"
	}
	if d.Config.DrainMax <= 0 {
		d.Config.DrainMax = DefaultDrainMax
	}
	a := &Activities{store: d.Store, waker: d.Waker, wakes: d.Wakes, metrics: d.Metrics, log: d.Logger,
		now: d.Now, cfg: d.Config, sender: d.Sender, router: newRouter(d), waiters: lanewake.NewWaiters(d.Config.TurnWaiters),
		drains: drainLimits{max: d.Config.DrainMax, heirFrom: d.Config.DrainMax / 2}}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.sender == nil {
		h := outbound.NewHTTP(outbound.HTTPConfig{Timeout: a.cfg.DeliveryTimeout, AllowPrivateNetworks: a.cfg.AllowPrivateNetworks})
		a.sender = outbound.Mux{"http": h, "https": h}
	}
	return a
}

// envelope is the body an endpoint receives: {"type", "timestamp", "data"}
// with the payload's bytes verbatim.
func envelope(ev store.NewEvent) ([]byte, error) {
	typ, err := json.Marshal(ev.EventType)
	if err != nil {
		return nil, fmt.Errorf("encode event type: %w", err)
	}
	data := ev.Payload
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	ts := ev.CreatedAt.UTC().Format(time.RFC3339Nano)
	b := make([]byte, 0, len(typ)+len(ts)+len(data)+40)
	b = append(b, `{"type":`...)
	b = append(b, typ...)
	b = append(b, `,"timestamp":"`...)
	b = append(b, ts...)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}'), nil
}
