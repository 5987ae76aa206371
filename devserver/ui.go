package devserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// webUI is the Temporal Web UI, served from the assets embedded in ui-server.
type webUI struct {
	addr   string
	server *uiserver.Server
	done   chan error // receives the result of the serving goroutine
}

// startUI serves the Web UI on host:port for the frontend at frontendAddr and
// returns once GET / answers 200.
//
// ui-server has no way to hand it a listener and exits the process if it
// cannot bind, so the port is checked to be free just before; only a
// different process taking it in between can still trip that.
func startUI(ctx context.Context, host string, port int, frontendAddr, namespace string) (*webUI, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if err := checkFree(addr); err != nil {
		return nil, fmt.Errorf("web UI address: %w", err)
	}
	cfg := &uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: frontendAddr,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		HideLogs:            true,
		// Plain http on localhost: the CSRF cookie must not require TLS.
		CORS: uiconfig.CORS{CookieInsecure: true},
	}
	ui := &webUI{
		addr:   addr,
		server: uiserver.NewServer(uioptions.WithConfigProvider(cfg)),
		done:   make(chan error, 1),
	}
	go func() { ui.done <- ui.server.Start() }()

	if err := waitHTTPOK(ctx, "http://"+addr+"/", ui.done); err != nil {
		ui.stop()
		return nil, fmt.Errorf("waiting for the web UI on %s: %w", addr, err)
	}
	return ui, nil
}

// stop closes the UI's listener and connections and waits for it to return.
func (u *webUI) stop() {
	u.server.Stop()
	<-u.done
	u.done <- nil // let a second stop return at once
}

// waitHTTPOK polls url until it answers 200, ctx ends, or the server's
// goroutine reports that it stopped.
func waitHTTPOK(ctx context.Context, url string, stopped chan error) error {
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		select {
		case err := <-stopped:
			stopped <- err // keep it for stop
			return fmt.Errorf("server stopped while starting: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("%w (last attempt: %v)", ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkFree reports an error if addr cannot be listened on now.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}
