package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/herald-hq/herald/broker"
	"github.com/herald-hq/herald/metrics"
	"github.com/herald-hq/herald/schemas"
)

// SourceStore is the part of *store.Store a source's consumer uses.
type SourceStore interface {
	GetSource(ctx context.Context, appID, id string) (schemas.Source, error)
	SetSourceStatus(ctx context.Context, appID, id, status, lastError string, now time.Time) error
}

// Acceptor accepts an event as POST .../events does (*api.Acceptor), in
// two steps: Admit checks and stores it (its place in order is then
// fixed), start starts its workflow (nil: nothing to start).
type Acceptor interface {
	Admit(ctx context.Context, in schemas.EventIn) (created bool, start func(context.Context) error, err error)
}

// Heartbeater records an activity's heartbeat and says whether Temporal
// got it (client.Client). The SDK's own heartbeat does not say, and a
// consumer must know that it still holds its source.
type Heartbeater interface {
	RecordActivityHeartbeat(ctx context.Context, taskToken []byte, details ...any) error
}

// SourceConfig tunes consumption; a zero field takes the default.
type SourceConfig struct {
	Prefetch       int           // messages held unsettled at once; default 64
	Lanes          int           // messages accepted at once (per ordering key); default 8
	HeartbeatEvery time.Duration // default 2s
	RunFor         time.Duration // one run's length before handing back; default 1h
	MaxBackoff     time.Duration // longest wait between reconnects; default 30s
}

// SourceDeps are a source consumer's dependencies.
type SourceDeps struct {
	Store     SourceStore
	Acceptor  Acceptor
	Consumer  broker.Consumer
	Heartbeat Heartbeater      // nil: the SDK's heartbeat, without the lease check (tests)
	Metrics   *metrics.Metrics // may be nil
	Logger    *slog.Logger
	Now       func() time.Time
	Config    SourceConfig
}

// Sources is the activity that consumes sources. Safe for concurrent use.
type Sources struct {
	d SourceDeps
}

// NewSources makes the source activity from its dependencies.
func NewSources(d SourceDeps) *Sources {
	c := &d.Config
	if c.Prefetch <= 0 {
		c.Prefetch = 64
	}
	if c.Lanes <= 0 {
		c.Lanes = 8
	}
	if c.HeartbeatEvery <= 0 {
		c.HeartbeatEvery = 2 * time.Second
	}
	if c.RunFor <= 0 {
		c.RunFor = time.Hour
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Sources{d: d}
}

// Why a run stops.
var (
	errSourceGone = errors.New("the source was deleted")
	errRunOver    = errors.New("the run's time is up")
	errLeaseLost  = errors.New("heartbeats stopped getting through to Temporal: another worker may take the source over")
	errCancelled  = errors.New("the source's workflow was cancelled")
)

// ConsumeSource consumes one source until it is deleted (Gone), the run's
// time is up (nil: the workflow starts the next run), or the workflow is
// cancelled. A broker that is down or refuses makes the source failing,
// with its error, and is retried here with backoff, not by failing the
// activity. The activity fails only when it cannot be sure it still holds
// the source, so that Temporal gives it to another worker.
func (s *Sources) ConsumeSource(ctx context.Context, in schemas.SourceInput) (schemas.SourceResult, error) {
	src, err := s.d.Store.GetSource(ctx, in.AppID, in.SourceID)
	if schemas.IsNotFound(err) {
		return schemas.SourceResult{Gone: true}, nil
	}
	if err != nil {
		return schemas.SourceResult{}, err
	}
	log := s.d.Logger.With("app", in.AppID, "source", in.SourceID)
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go s.hold(runCtx, stop, in)

	backoff := time.Second
	for runCtx.Err() == nil {
		ready := func() {
			backoff = time.Second
			s.setStatus(in, schemas.SourceRunning, "", log)
			log.Info("source consuming")
		}
		err := s.consume(runCtx, src, ready, log)
		if runCtx.Err() != nil {
			break
		}
		s.setStatus(in, schemas.SourceFailing, err.Error(), log)
		log.Warn("source failing; retrying", "err", err, "in", backoff)
		select {
		case <-runCtx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.d.Config.MaxBackoff)
	}
	switch cause := context.Cause(runCtx); {
	case errors.Is(cause, errSourceGone):
		log.Info("source deleted: consumer stopped")
		return schemas.SourceResult{Gone: true}, nil
	case errors.Is(cause, errRunOver):
		return schemas.SourceResult{}, nil
	case ctx.Err() != nil:
		return schemas.SourceResult{}, ctx.Err()
	case errors.Is(cause, errCancelled):
		// The SDK's own heartbeat carries the cancellation to ctx (within
		// its throttle interval); the activity must end with ctx for
		// Temporal to see it cancelled.
		select {
		case <-ctx.Done():
			return schemas.SourceResult{}, ctx.Err()
		case <-time.After(time.Minute):
			return schemas.SourceResult{}, cause
		}
	default:
		log.Warn("source consumer stopped", "cause", cause)
		return schemas.SourceResult{}, cause
	}
}

// hold heartbeats and watches the source until runCtx ends, stopping the
// run when the source is deleted, the run's time is up, the workflow is
// cancelled, or heartbeats stop getting through for half the heartbeat
// timeout (Temporal hands the source to another worker after all of it).
func (s *Sources) hold(runCtx context.Context, stop context.CancelCauseFunc, in schemas.SourceInput) {
	info := activity.GetInfo(runCtx)
	runFor := s.d.Config.RunFor
	if !info.Deadline.IsZero() {
		runFor = min(runFor, time.Until(info.Deadline)-time.Minute)
	}
	end := time.NewTimer(max(runFor, time.Second))
	defer end.Stop()
	every := s.d.Config.HeartbeatEvery
	if hb := info.HeartbeatTimeout; hb > 0 {
		every = min(every, hb/4)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-runCtx.Done():
			return
		case <-end.C:
			stop(errRunOver)
			return
		case <-tick.C:
		}
		if _, err := s.d.Store.GetSource(runCtx, in.AppID, in.SourceID); schemas.IsNotFound(err) {
			stop(errSourceGone)
			return
		}
		// The SDK's heartbeat (throttled) is what cancels ctx when the
		// workflow is cancelled; the client's below says whether it got through.
		activity.RecordHeartbeat(runCtx)
		if s.d.Heartbeat == nil {
			continue
		}
		hctx, cancel := context.WithTimeout(runCtx, every)
		err := s.d.Heartbeat.RecordActivityHeartbeat(hctx, info.TaskToken)
		cancel()
		var canceled *temporal.CanceledError
		var notFound *serviceerror.NotFound
		switch {
		case err == nil:
			lastOK = time.Now()
		case errors.As(err, &canceled):
			stop(errCancelled)
			return
		case errors.As(err, &notFound):
			stop(fmt.Errorf("%w (%v)", errLeaseLost, err))
			return
		case info.HeartbeatTimeout > 0 && time.Since(lastOK) > info.HeartbeatTimeout/2:
			stop(fmt.Errorf("%w (%v)", errLeaseLost, err))
			return
		}
	}
}

func (s *Sources) setStatus(in schemas.SourceInput, status, lastError string, log *slog.Logger) {
	// Recorded even while the run stops, so that a failing source says so.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.d.Store.SetSourceStatus(ctx, in.AppID, in.SourceID, status, lastError, s.d.Now().UTC())
	if err != nil && !schemas.IsNotFound(err) {
		log.Warn("record source status", "status", status, "err", err)
	}
}
