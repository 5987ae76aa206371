//go:build !nodev

package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/herald-hq/herald/devserver"
)

type devCmd struct{}

// Run starts the embedded Temporal server and its Web UI, the store, a
// worker and the API, and stops them in reverse order when the context ends.
func (devCmd) Run(e *env) error {
	start := time.Now()
	cfg, err := loadConfig(e.getenv, modeDev)
	if err != nil {
		return err
	}
	logger := newFormatLogger(e.stderr, cfg.LogLevel, cfg.LogFormat)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("HERALD_DATA_DIR: create %s: %w", cfg.DataDir, err)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	// The token is printed only when Herald made it: an operator's own
	// token would end up in terminal scrollback and log collectors.
	shownToken := "from HERALD_API_TOKEN"
	if cfg.APIToken == "" {
		if cfg.APIToken, err = devToken(cfg.DataDir); err != nil {
			return err
		}
		shownToken = cfg.APIToken
	}
	if cfg.EncryptionKeys, err = devKeys(cfg); err != nil {
		return err
	}
	// Bind the API's port first: a taken port should fail before the
	// Temporal server spends seconds starting.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HERALD_HTTP_ADDR: listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	// The embedded server's ports too: its own error would be a Temporal
	// log line that names no variable.
	for _, a := range []struct{ name, addr string }{
		{"HERALD_DEV_TEMPORAL_ADDR", cfg.DevTemporalAddr}, {"HERALD_DEV_UI_ADDR", cfg.DevUIAddr},
	} {
		if err := checkFree(a.addr); err != nil {
			return fmt.Errorf("%s: %s is taken (%v); set %s to a free host:port", a.name, a.addr, err, a.name)
		}
	}
	if err := serveDebug(e.ctx, cfg.DebugAddr, logger); err != nil {
		return err
	}

	srv, err := devserver.Start(e.ctx, devserver.Config{
		DataDir:      cfg.DataDir,
		FrontendAddr: cfg.DevTemporalAddr,
		UIAddr:       cfg.DevUIAddr,
		Namespace:    cfg.TemporalNamespace,
		Logger:       logger,
		Retention:    cfg.DevTemporalRetention,
	})
	if err != nil {
		return fmt.Errorf("start embedded Temporal: %w", err)
	}
	defer srv.Stop()

	dsn := cfg.DatabaseURL
	if dsn == "" {
		dsn = "sqlite:" + filepath.Join(cfg.DataDir, "herald.db")
	}
	s, stop, err := startStack(e.ctx, cfg, logger, stackSpec{dsn: dsn, temporalAddr: srv.FrontendAddr(), worker: true, sole: true})
	if err != nil {
		return err
	}
	defer stop()

	fmt.Fprintf(e.stdout, "Herald %s is running (ready in %s)\n", shortVersion(), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(e.stdout, "  API:          http://%s   (token: %s)\n", ln.Addr(), shownToken)
	fmt.Fprintf(e.stdout, "  API docs:     http://%s/docs\n", ln.Addr())
	fmt.Fprintf(e.stdout, "  Temporal:     %s   (namespace %s)\n", srv.FrontendAddr(), cfg.TemporalNamespace)
	if srv.UIAddr() != "" {
		fmt.Fprintf(e.stdout, "  Temporal UI:  http://%s\n", srv.UIAddr())
	}
	fmt.Fprintf(e.stdout, "  Data dir:     %s\n", cfg.DataDir)

	err = serveHTTP(e.ctx, s.apiApp(), ln)
	logger.Info("shutting down")
	return err
}

// devToken returns the API token kept in the data dir, making it on first use.
func devToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "api-token")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read API token %s: %w", path, err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("make API token: %w", err)
	}
	token := "hrld_" + hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write API token %s: %w", path, err)
	}
	return token, nil
}

// checkFree reports an error if addr cannot be listened on now.
func checkFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			return op.Err
		}
		return err
	}
	return ln.Close()
}
