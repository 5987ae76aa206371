package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
)

// serveOps serves a worker's operations routes on ln until ctx ends:
// /healthz (the process is up), /readyz (the database and Temporal answer,
// else 503) and /metrics (Herald's and the Temporal SDK's). They are the
// API's operations routes, for a process without the API.
func serveOps(ctx context.Context, s *stack, ln net.Listener, logger *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := s.ready(r.Context()); err != nil {
			logger.Warn("not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"status":"unavailable"}`)
			return
		}
		fmt.Fprintln(w, `{"status":"ready"}`)
	})
	mux.Handle("GET /metrics", s.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return serveUntilDone(ctx, func() error { return srv.Serve(ln) }, srv.Shutdown)
}

// ready reports whether the database and Temporal answer, within 5s.
func (s *stack) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return err
	}
	if _, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	return nil
}

type healthCmd struct {
	Path string `default:"/readyz" help:"Route to check (/healthz: the process is up; /readyz: it can work)."`
}

// Run GETs the route on HERALD_HTTP_ADDR, with a wildcard host meaning
// this host.
func (c healthCmd) Run(e *env) error {
	addr := or(e.getenv("HERALD_HTTP_ADDR"), "127.0.0.1:8080")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("HERALD_HTTP_ADDR: %q is not host:port", addr)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + c.Path
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %s", url, oneLine(err))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = fmt.Fprintln(e.stdout, "ok")
	return err
}
