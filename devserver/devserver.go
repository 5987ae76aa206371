// Package devserver runs a Temporal server and its Web UI inside the `herald
// dev` process: all four services in one process on one history shard,
// persisted to a SQLite file so that workflows survive restarts and crashes.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/server/temporal"
)

// Config says where the dev server keeps its data and listens.
type Config struct {
	DataDir      string       // SQLite files live at DataDir/temporal.db and DataDir/temporal-visibility.db (dir created if missing)
	FrontendAddr string       // host:port of the gRPC frontend, e.g. 127.0.0.1:7233; port 0 picks a free one
	UIAddr       string       // host:port of the Web UI; empty = no UI; port 0 picks a free one
	Namespace    string       // created if missing (default "default")
	Logger       *slog.Logger // gets Temporal's own logs at WARN and above; nil discards them
	// Retention is how long closed workflows are kept (0: a day); set on
	// the namespace at every start.
	Retention time.Duration

	tuning *tuning // nil: defaultTuning(); set only by the measurement in tuning_test.go
}

// DBFile is the name of the SQLite file inside Config.DataDir.
const DBFile = "temporal.db"

// VisibilityFile is the name of the SQLite file of Temporal's visibility
// store (the listing of workflows) inside Config.DataDir. A data dir made
// before it existed keeps visibility in DBFile.
const VisibilityFile = "temporal-visibility.db"

// DefaultNamespace is the namespace used when Config.Namespace is empty.
const DefaultNamespace = "default"

// How long Start waits for the server to answer when ctx has no deadline.
const readyTimeout = 2 * time.Minute

// Server is a running dev server.
type Server struct {
	temporal     temporal.Server
	ui           *webUI // nil without UI
	frontendAddr string
	logLevel     *slog.LevelVar // of Temporal's logs

	stopOnce sync.Once
	stopErr  error
}

// Start starts the server and returns once the frontend answers, and the
// namespace and Herald's search attributes exist.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("devserver: DataDir is required")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	tn := defaultTuning()
	if cfg.tuning != nil {
		tn = *cfg.tuning
	}
	level := new(slog.LevelVar)
	level.Set(tn.logLevel)
	logger := slog.New(slog.DiscardHandler)
	if cfg.Logger != nil {
		logger = quiet(cfg.Logger, level)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readyTimeout)
		defer cancel()
	}

	host, frontendPort, err := splitAddr(cfg.FrontendAddr)
	if err != nil {
		return nil, fmt.Errorf("devserver: frontend address: %w", err)
	}
	var uiHost string
	var uiPort int
	if cfg.UIAddr != "" {
		if uiHost, uiPort, err = splitAddr(cfg.UIAddr); err != nil {
			return nil, fmt.Errorf("devserver: web UI address: %w", err)
		}
	}
	p, err := pickPorts(host, frontendPort)
	if err != nil {
		return nil, fmt.Errorf("devserver: choosing ports: %w", err)
	}
	if cfg.UIAddr != "" && uiPort == 0 {
		free, err := freePorts(uiHost, 1)
		if err != nil {
			return nil, fmt.Errorf("devserver: choosing web UI port: %w", err)
		}
		uiPort = free[0]
	}
	frontendAddr := net.JoinHostPort(host, strconv.Itoa(p.frontend))

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("devserver: creating data dir: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, DBFile)
	visPath, err := visibilityPath(cfg.DataDir, tn)
	if err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	if err := ensureSchema(dbPath); err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	if visPath != "" {
		if err := ensureSchema(visPath); err != nil {
			return nil, fmt.Errorf("devserver: %w", err)
		}
	}
	if cfg.Retention <= 0 {
		cfg.Retention = namespaceRetention
	}
	dc := dynamicConfig(tn)
	retentionConfig(dc, cfg.Retention)
	if err := ensureNamespace(sqliteConfig(dbPath, tn), cfg.Namespace, cfg.Retention, searchAttributes()); err != nil {
		return nil, fmt.Errorf("devserver: %w", err)
	}
	if tn.trimVisibilityIndexes {
		if err := trimVisibility(dbPath, visPath, cfg.Namespace); err != nil {
			return nil, fmt.Errorf("devserver: %w", err)
		}
	}

	ts, err := temporal.NewServer(
		temporal.WithConfig(serverConfig(host, p, dbPath, visPath, tn)),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(staticHosts(host, p)),
		temporal.WithDynamicConfigClient(dc),
		temporal.WithLogger(serverLogger{l: logger}),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: building Temporal server: %w", err)
	}
	if err := ts.Start(); err != nil {
		stopTemporal(ts, level)
		return nil, fmt.Errorf("devserver: starting Temporal server: %w", err)
	}
	s := &Server{temporal: ts, frontendAddr: frontendAddr, logLevel: level}

	if err := waitReady(ctx, frontendAddr, cfg.Namespace, cfg.Retention, logger); err != nil {
		stopTemporal(ts, level)
		return nil, fmt.Errorf("devserver: %w", err)
	}
	if cfg.UIAddr != "" {
		if s.ui, err = startUI(ctx, uiHost, uiPort, frontendAddr, cfg.Namespace); err != nil {
			stopTemporal(ts, level)
			return nil, fmt.Errorf("devserver: %w", err)
		}
	}
	return s, nil
}

// FrontendAddr is the host:port of the gRPC frontend, for SDK clients.
func (s *Server) FrontendAddr() string { return s.frontendAddr }

// UIAddr is the host:port of the Web UI, or "" when there is none.
func (s *Server) UIAddr() string {
	if s.ui == nil {
		return ""
	}
	return s.ui.addr
}

// Stop shuts down the Web UI, then the server. Calls after the first return
// the first call's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		// Shutting down makes every internal poller and client warn about
		// its connection going away; only errors are worth showing now.
		s.logLevel.Set(slog.LevelError)
		if s.ui != nil {
			s.ui.stop()
		}
		if err := s.temporal.Stop(); err != nil {
			s.stopErr = fmt.Errorf("devserver: stopping Temporal server: %w", err)
		}
	})
	return s.stopErr
}

func stopTemporal(ts temporal.Server, level *slog.LevelVar) {
	level.Set(slog.LevelError)
	_ = ts.Stop() // already failing; the first error is the one to report
}

// splitAddr splits host:port. The services bind to an IP, so "" and
// "localhost" mean 127.0.0.1.
func splitAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if host == "" || host == "localhost" {
		host = "127.0.0.1"
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("host %q is not an IP address", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", portStr)
	}
	return host, port, nil
}

// pickPorts takes the frontend port as given (0: a free one) and free ports for
// the other services, so several dev servers can run side by side.
func pickPorts(host string, frontend int) (ports, error) {
	free, err := freePorts(host, 5)
	if err != nil {
		return ports{}, err
	}
	if frontend == 0 {
		frontend = free[4]
	}
	return ports{
		frontend:     frontend,
		frontendHTTP: free[0],
		history:      free[1],
		matching:     free[2],
		worker:       free[3],
	}, nil
}

// freePorts asks the OS for n distinct free ports on host. They are free when
// returned, not reserved: another process could take one before the server
// binds it, which is unlikely enough for a dev server.
func freePorts(host string, n int) ([]int, error) {
	out := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, err
		}
		// Closed when done, so that the next Listen gets a different port.
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
