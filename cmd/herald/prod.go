package main

import (
	"fmt"
	"net"
)

type apiCmd struct{}

// Run serves the API. It also runs a worker in-process (so that event
// workflows start eagerly, without a round trip through matching); more
// workers scale with `herald worker`.
func (apiCmd) Run(e *env) error {
	cfg, err := loadConfig(e.getenv, modeAPI)
	if err != nil {
		return err
	}
	logger := newLogger(e.stderr, cfg.LogLevel)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HERALD_HTTP_ADDR: listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	if err := serveDebug(e.ctx, cfg.DebugAddr, logger); err != nil {
		return err
	}
	s, stop, err := startStack(e.ctx, cfg, logger, cfg.DatabaseURL, cfg.TemporalAddress)
	if err != nil {
		return err
	}
	defer stop()
	logger.Info("API listening", "addr", ln.Addr().String())
	return serveHTTP(e.ctx, s.apiApp(), ln)
}

type workerCmd struct{}

// Run polls Herald's task queue until the context ends.
func (workerCmd) Run(e *env) error {
	cfg, err := loadConfig(e.getenv, modeWorker)
	if err != nil {
		return err
	}
	logger := newLogger(e.stderr, cfg.LogLevel)
	if err := serveDebug(e.ctx, cfg.DebugAddr, logger); err != nil {
		return err
	}
	_, stop, err := startStack(e.ctx, cfg, logger, cfg.DatabaseURL, cfg.TemporalAddress)
	if err != nil {
		return err
	}
	defer stop()
	logger.Info("worker running", "temporal", cfg.TemporalAddress, "namespace", cfg.TemporalNamespace)
	<-e.ctx.Done()
	return nil
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
