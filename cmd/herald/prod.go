package main

import (
	"fmt"
	"net"
)

// registerFlag lets an operator who allows it have Herald add its search
// attributes to the namespace, like HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES.
type registerFlag struct {
	RegisterSearchAttributes bool `name:"register-search-attributes" help:"Add Herald's search attributes to the namespace when missing, instead of stopping with the command to run (same as HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES=true)."`
}

type apiCmd struct{ registerFlag }

// Run serves the API. With eager start on (the default) it also runs a
// worker in-process, so that event workflows start eagerly, without a round
// trip through matching; more workers scale with `herald worker`.
func (c apiCmd) Run(e *env) error {
	cfg, err := loadConfig(e.getenv, modeAPI)
	if err != nil {
		return err
	}
	cfg.Temporal.RegisterSearchAttributes = cfg.Temporal.RegisterSearchAttributes || c.RegisterSearchAttributes
	logger := newFormatLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HERALD_HTTP_ADDR: listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	if err := serveDebug(e.ctx, cfg.DebugAddr, logger); err != nil {
		return err
	}
	s, stop, err := startStack(e.ctx, cfg, logger, stackSpec{
		dsn: cfg.DatabaseURL, temporalAddr: cfg.TemporalAddress, production: true, worker: cfg.Worker.EagerStart,
	})
	if err != nil {
		return err
	}
	defer stop()
	logger.Info("API listening", "addr", ln.Addr().String(), "version", versionString(), "eager_start", cfg.Worker.EagerStart)
	return serveHTTP(e.ctx, s.apiApp(), ln)
}

type workerCmd struct{ registerFlag }

// Run polls Herald's task queue until the context ends, and serves
// /healthz, /readyz and /metrics on HERALD_HTTP_ADDR.
func (c workerCmd) Run(e *env) error {
	cfg, err := loadConfig(e.getenv, modeWorker)
	if err != nil {
		return err
	}
	cfg.Temporal.RegisterSearchAttributes = cfg.Temporal.RegisterSearchAttributes || c.RegisterSearchAttributes
	logger := newFormatLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HERALD_HTTP_ADDR: listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	if err := serveDebug(e.ctx, cfg.DebugAddr, logger); err != nil {
		return err
	}
	s, stop, err := startStack(e.ctx, cfg, logger, stackSpec{
		dsn: cfg.DatabaseURL, temporalAddr: cfg.TemporalAddress, production: true, worker: true,
	})
	if err != nil {
		return err
	}
	defer stop()
	logger.Info("worker running", "temporal", cfg.TemporalAddress, "namespace", cfg.TemporalNamespace,
		"http", ln.Addr().String(), "version", versionString())
	return serveOps(e.ctx, s, ln, logger)
}

type migrateCmd struct{}

// Run applies the embedded migrations and exits.
func (migrateCmd) Run(e *env) error {
	cfg, err := loadConfig(e.getenv, modeMigrate)
	if err != nil {
		return err
	}
	st, err := openStore(e.ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = fmt.Fprintln(e.stdout, "database is up to date")
	return err
}
