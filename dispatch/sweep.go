package dispatch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// Outbox is the store's record of what event workflows still have to be
// told. *store.Store is one.
type Outbox interface {
	ListUndispatched(ctx context.Context, before time.Time, limit int) ([]store.Undispatched, error)
	ClearDispatch(ctx context.Context, appID, eventID, kind string) error
}

// SweepConfig tunes a Sweeper; zero values take the defaults.
type SweepConfig struct {
	// Every is the time between sweeps (default 1s).
	Every time.Duration
	// Grace is how old a note must be before a sweep acts on it (default
	// 2s): younger ones are most likely being sent by the process that
	// made them.
	Grace time.Duration
	// Batch bounds the notes handled per sweep (default 256).
	Batch int
}

// Sweeper tells Temporal what a process that died between its store
// commit and its Temporal call left in the outbox: starts of accepted
// events, and re-queued deliveries of replays and recovers. Every worker
// runs one; what they do is idempotent (the workflow id is the event's),
// so two sweepers at once only repeat each other.
type Sweeper struct {
	d      *Dispatcher
	outbox Outbox
	cfg    SweepConfig
	log    *slog.Logger
	stop   context.CancelFunc
	done   sync.WaitGroup
}

// NewSweeper makes a Sweeper; Start runs it.
func NewSweeper(d *Dispatcher, outbox Outbox, cfg SweepConfig, log *slog.Logger) *Sweeper {
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 256
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{d: d, outbox: outbox, cfg: cfg, log: log}
}

// Start sweeps at once (a restarted process repairs what its death left
// first) and then every cfg.Every, until Stop.
func (s *Sweeper) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(s.cfg.Every)
		defer t.Stop()
		for {
			if _, err := s.Sweep(ctx, time.Now().Add(-s.cfg.Grace)); err != nil && ctx.Err() == nil {
				s.log.Warn("outbox sweep", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Stop ends the sweeps and waits for the one under way.
func (s *Sweeper) Stop() {
	if s.stop != nil {
		s.stop()
	}
	s.done.Wait()
}

// Sweep handles the notes made before the given time and returns how many
// it cleared. A note it cannot send stays for the next sweep.
func (s *Sweeper) Sweep(ctx context.Context, before time.Time) (int, error) {
	notes, err := s.outbox.ListUndispatched(ctx, before, s.cfg.Batch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range notes {
		if err := s.send(ctx, u); err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			s.log.Warn("outbox: tell an event's workflow (next sweep retries)", "event", u.EventID, "what", u.Dispatch, "err", err)
			continue
		}
		if err := s.outbox.ClearDispatch(ctx, u.AppID, u.EventID, u.Dispatch); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *Sweeper) send(ctx context.Context, u store.Undispatched) error {
	ev, targets, err := s.d.src.EventInput(ctx, u.AppID, u.EventID)
	if schemas.IsNotFound(err) {
		return nil // deleted since: nothing to tell
	}
	if err != nil {
		return err
	}
	if u.Dispatch == store.DispatchStart {
		return s.d.Start(ctx, ev, targets)
	}
	if len(targets) == 0 {
		return nil // already delivered again, or cancelled
	}
	return s.d.Replay(ctx, u.AppID, u.EventID, schemas.ReplaySignal{Targets: targets})
}
