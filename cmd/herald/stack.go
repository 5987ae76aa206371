package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"go.temporal.io/sdk/client"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/api"
	"github.com/herald-hq/herald/dispatch"
	"github.com/herald-hq/herald/lanewake"
	"github.com/herald-hq/herald/metrics"
	"github.com/herald-hq/herald/portal"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
	"github.com/herald-hq/herald/worker"
)

func newLogger(w io.Writer, level string) *slog.Logger {
	return newFormatLogger(w, level, "text")
}

// newFormatLogger logs at level (loadConfig has checked it) as text or as
// JSON, one object a line, for log collectors.
func newFormatLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens the database and brings its schema up to date.
func openStore(ctx context.Context, dsn string, opts ...store.Option) (*store.Store, error) {
	st, err := store.Open(ctx, dsn, opts...)
	if err != nil {
		return nil, fmt.Errorf("HERALD_DATABASE_URL: open database: %s", oneLine(err))
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("HERALD_DATABASE_URL: migrate database: %s", oneLine(err))
	}
	return st, nil
}

// stack is the part of Herald shared by `dev`, `api` and `worker`: the store,
// a Temporal client, the dispatcher and the metrics.
type stack struct {
	cfg        Config
	logger     *slog.Logger
	store      *store.Store
	temporal   client.Client
	dispatcher *dispatch.Dispatcher
	metrics    *metrics.Metrics
	brokers    *brokers
	// wakes carries lane wakes to the other processes on the same Postgres
	// store; nil in `herald dev`, or when it could not start.
	wakes *lanewake.Bus
	// acts are the activities of this process's worker; nil without one.
	acts *activities.Activities
}

// stackSpec says where the stack's parts are and which of them run.
type stackSpec struct {
	dsn          string
	temporalAddr string
	// production: the Temporal service is someone else's. Connect with the
	// TLS and API key settings, and check the namespace and Herald's
	// search attributes before serving.
	production bool
	// worker: run a Temporal worker in this process (always in dev and
	// worker; in api when eager start is on).
	worker bool
	// sole: no other process delivers from this store (`herald dev`, which
	// holds its data dir's lock). What a killed process left in flight is
	// put on record before the worker starts, and the lanes it was
	// delivering are woken at once (store.RecoverAfterCrash).
	sole bool
}

// startStack opens the store, connects to Temporal and starts a worker as
// spec says. stop undoes all of it, in reverse order; on error everything
// started is undone already and stop is nil.
func startStack(ctx context.Context, cfg Config, logger *slog.Logger, spec stackSpec) (*stack, func(), error) {
	var undo []func()
	stop := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	fail := func(err error) (*stack, func(), error) {
		stop()
		return nil, nil, err
	}
	sealing, err := sealOption(cfg, logger)
	if err != nil {
		return fail(err)
	}
	opts := sealing
	if spec.worker && !spec.sole {
		opts = append(opts, store.WithProcess(processID()))
	}
	st, err := openStore(ctx, spec.dsn, opts...)
	if err != nil {
		return fail(err)
	}
	undo = append(undo, func() { st.Close() })
	m := metrics.New(st.Backlog, logger)
	conn := TemporalConn{}
	if spec.production {
		conn = cfg.Temporal
	}
	tc, err := dialTemporal(ctx, spec.temporalAddr, cfg.TemporalNamespace, conn, logger, m.TemporalHandler())
	if err != nil {
		return fail(err)
	}
	undo = append(undo, tc.Close)
	if spec.production {
		if err := checkNamespace(ctx, tc, spec.temporalAddr, cfg.TemporalNamespace, conn.RegisterSearchAttributes, logger); err != nil {
			return fail(err)
		}
	}
	var crashed []store.Lane
	if spec.sole {
		if crashed, err = st.RecoverAfterCrash(ctx, time.Now()); err != nil {
			return fail(err)
		}
	}
	s := newStack(cfg, logger, st, tc, m)
	s.brokers = newBrokers(s)
	undo = append(undo, s.brokers.close)
	if !spec.sole && st.Dialect() == store.DialectPostgres {
		s.wakes = startWakes(ctx, spec.dsn, logger)
		if s.wakes != nil {
			undo = append(undo, func() { s.wakes.Close() })
		}
	}
	if spec.worker {
		// The first beat comes before the worker starts, so that this
		// process's notes are never taken for a dead one's; the last
		// comes after its stop, which records what it cut off. `herald
		// dev` is the only process on its store and does not beat.
		if _, err := st.Beat(ctx); err != nil {
			return fail(fmt.Errorf("HERALD_DATABASE_URL: %w", err))
		}
		stopBeats := func() {}
		undo = append(undo, func() { stopBeats() })
		stopWorker, err := s.startWorker()
		if err != nil {
			return fail(err)
		}
		undo = append(undo, stopWorker)
		if !spec.sole {
			stopBeats = s.beat(s.acts)
		}
		sw, err := s.startSourceWorker()
		if err != nil {
			return fail(err)
		}
		undo = append(undo, sw.Stop)
		if err := startRetention(ctx, tc); err != nil {
			return fail(err)
		}
		// The outbox sweep starts what a process killed between its store
		// commit and its Temporal call left unstarted.
		sweep := dispatch.NewSweeper(s.dispatcher, st, dispatch.SweepConfig{}, logger)
		sweep.Start()
		undo = append(undo, sweep.Stop)
		s.wakeLanes(ctx, crashed)
	}
	if s.wakes != nil {
		// A process without a worker only publishes: no waiter waits in it.
		h := lanewake.Handler{Wake: func(lanewake.Wake) {}, Lost: func() {}}
		if s.acts != nil {
			h = lanewake.Handler{Wake: s.acts.WakeTurn, Lost: s.acts.WakeAllTurns}
		}
		s.wakes.Start(h)
	}
	return s, stop, nil
}

// wakeLanes passes the turn of each lane to its head. The heads of lanes a
// killed process was delivering would otherwise wait for the timeout of
// the workflow task that process held; a failure only leaves them to it.
func (s *stack) wakeLanes(ctx context.Context, lanes []store.Lane) {
	for _, l := range lanes {
		head, ok, err := s.store.HeadDelivery(ctx, l.EndpointID, l.Key)
		if err == nil && ok {
			err = s.dispatcher.Turn(ctx, head.DeliveryRef)
		}
		if err != nil {
			s.logger.Warn("wake a lane after a crash (its workflows resume on their own)", "endpoint", l.EndpointID, "lane", l.Key, "err", err)
		}
	}
}

func newStack(cfg Config, logger *slog.Logger, st *store.Store, tc client.Client, m *metrics.Metrics) *stack {
	return &stack{
		cfg:      cfg,
		logger:   logger,
		store:    st,
		temporal: tc,
		dispatcher: dispatch.New(tc, st, dispatch.Config{
			Namespace:       cfg.TemporalNamespace,
			TaskQueue:       schemas.TaskQueue,
			RetrySchedule:   cfg.RetrySchedule,
			DeliveryTimeout: cfg.DeliveryTimeout,
		}),
		metrics: m,
	}
}

// startWakes connects the lanes' wakes between the processes on one
// Postgres store (package lanewake). Without them every lane still moves:
// a hand-off to another process, or a change made through the API to a
// delivery waiting in another process, only waits for the waiter's 20 s.
// That is not a reason to refuse to start.
func startWakes(ctx context.Context, dsn string, logger *slog.Logger) *lanewake.Bus {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	bus, err := lanewake.New(ctx, dsn, logger)
	if err != nil {
		logger.Warn("ordered lanes' wakes between processes are off: a delivery waiting in another process hears of its turn, or of a cancel, only when its wait ends (up to 20 s)", "err", err)
		return nil
	}
	return bus
}

// startWorker starts a worker on Herald's task queue in this process. In
// `herald dev` it shares the API's client, which lets starts be eager.
func (s *stack) startWorker() (stop func(), err error) {
	var wakes activities.Wakes
	if s.wakes != nil {
		wakes = s.wakes
	}
	acts := activities.New(activities.Deps{
		Store:   s.store,
		Waker:   s.dispatcher,
		Wakes:   wakes,
		Metrics: s.metrics,
		Logger:  s.logger,
		Now:     time.Now,
		Sender:  withReceiverAuth(s.cfg, s.sender()),
		Config: activities.Config{
			DeliveryTimeout:      s.cfg.DeliveryTimeout,
			AllowPrivateNetworks: s.cfg.AllowPrivateNetworks,
			DisableAfter:         s.cfg.DisableAfter,
			UserAgent:            "Herald/" + shortVersion(),
			Retention:            s.cfg.Retention,
			TurnWaiters:          s.cfg.Worker.WorkflowTasks / 2,
			DrainMax:             s.cfg.Worker.DrainMax,
		},
	})
	w := worker.New(s.temporal, acts, s.cfg.Worker.options())
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	s.acts = acts
	return w.Stop, nil
}

// processID names this process in the store's notes of attempts in
// flight: its host and pid, for an operator, and a random part, as pids
// are reused.
func processID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}

// beat keeps this process alive in the store (store.Beat) until stop, when
// it is forgotten, and wakes acts' waiters when another process lapses: a
// delivery a dead process was making may now be made again, and the
// waiter whose turn that is learns of it only by asking.
func (s *stack) beat(acts *activities.Activities) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(store.BeatEvery)
		defer t.Stop()
		known := map[string]bool{} // lapsed processes already woken for
		failing := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			lapsed, err := s.store.Beat(ctx)
			if err != nil && !failing && ctx.Err() == nil {
				s.logger.Warn("note this process alive (others may take over its attempts under way)", "err", err)
			}
			failing = err != nil
			now := map[string]bool{}
			for _, id := range lapsed {
				now[id] = true
				if !known[id] {
					s.logger.Info("a Herald process stopped beating: its attempts under way are taken over", "process", id)
					acts.WakeAllTurns()
				}
			}
			known = now
		}
	}()
	return func() {
		cancel()
		<-done
		fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer fcancel()
		if err := s.store.Forget(fctx); err != nil {
			s.logger.Warn("forget this process in the store", "err", err)
		}
	}
}

// changed wakes the deliveries waiting for their turn that a change made
// through the API touched (a cancel, a replay, a deleted endpoint or app),
// in this process and the others: each asks the store again and ends, so
// that its workflow sees the change's signal now, not when its wait runs
// out.
func (s *stack) changed(w lanewake.Wake) {
	if s.acts != nil {
		s.acts.WakeTurn(w)
	}
	if s.wakes != nil {
		s.wakes.Publish(w)
	}
}

func (s *stack) apiApp() *fiber.App {
	app := api.New(api.Deps{
		Store:      s.store,
		Dispatcher: s.dispatcher,
		Sources:    s.dispatcher,
		Wakes:      s.changed,
		Metrics:    s.metrics,
		Logger:     s.logger,
		Now:        time.Now,
		Ready: func(ctx context.Context) error {
			_, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		},
		Config: api.Config{
			Token:                s.cfg.APIToken,
			MaxPayloadBytes:      s.cfg.MaxPayloadBytes,
			SecretOverlap:        s.cfg.SecretOverlap,
			AllowPrivateNetworks: s.cfg.AllowPrivateNetworks,
			Version:              shortVersion(),
			PublicURL:            s.cfg.PublicURL,
		},
	})
	// The portal calls the API in process, with its user's token. Mounted
	// on /portal and what is under it only: Use would take any path that
	// begins with "/portal", such as /portal-links.
	portalHandler := adaptor.HTTPHandler(api.JSONErrors(portal.New(portal.Deps{
		API: adaptor.FiberApp(app), FrameAncestors: s.cfg.PortalFrameAncestors, Logger: s.logger})))
	app.All("/portal", portalHandler)
	app.All("/portal/*", portalHandler)
	return app
}

// serveDebug serves Go's profiles on addr until ctx ends, when addr is set.
func serveDebug(ctx context.Context, addr string, logger *slog.Logger) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("HERALD_DEBUG_ADDR: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("debug server", "err", err)
		}
	}()
	logger.Info("pprof profiles served", "addr", "http://"+ln.Addr().String()+"/debug/pprof/")
	return nil
}

// serveHTTP serves app on ln until ctx ends, then shuts it down gracefully.
func serveHTTP(ctx context.Context, app *fiber.App, ln net.Listener) error {
	return serveUntilDone(ctx, func() error { return app.Listener(api.GuardListener(ln, api.DefaultMaxConnsPerClient)) },
		app.ShutdownWithContext)
}

// serveUntilDone runs serve until ctx ends, then stops it with shutdown,
// giving requests under way 10s to finish. The error serve returns because
// it was shut down is not one.
func serveUntilDone(ctx context.Context, serve func() error, shutdown func(context.Context) error) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve HTTP: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down HTTP: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) &&
		!strings.Contains(err.Error(), "closed") {
		return fmt.Errorf("serve HTTP: %w", err)
	}
	return nil
}
