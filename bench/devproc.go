package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// devReadyTimeout bounds how long `herald dev` may take to answer /readyz.
const devReadyTimeout = 3 * time.Minute

// devStopTimeout is how long `herald dev` gets to stop after SIGTERM before
// it is killed.
const devStopTimeout = 30 * time.Second

// devProc is a process the bench started (`herald dev`, or the floor's
// `herald bench-floor`) on a data dir of its own.
type devProc struct {
	URL          string // http://host:port of its HTTP API
	Token        string
	TemporalAddr string // its embedded Temporal frontend

	cmd     *exec.Cmd
	dataDir string
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
	output  *lockedBuffer // its stdout and stderr, for error messages
}

// startDev runs `exe dev` on a temporary data dir and free 127.0.0.1 ports,
// with the HERALD_* variables of environ replaced, and waits until its
// /readyz answers 200.
func startDev(ctx context.Context, exe string, environ []string, logger *slog.Logger) (*devProc, error) {
	return startProc(ctx, exe, "dev", environ, logger)
}

// startFloor runs `exe bench-floor` the same way: the Temporal floor in a
// process of its own, measured like `herald dev`.
func startFloor(ctx context.Context, exe string, environ []string, logger *slog.Logger) (*devProc, error) {
	return startProc(ctx, exe, floorCommand, environ, logger)
}

// floorCommand is the hidden herald command that runs ServeFloor.
const floorCommand = "bench-floor"

func startProc(ctx context.Context, exe, command string, environ []string, logger *slog.Logger) (*devProc, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "herald-bench-"+command+"-")
	if err != nil {
		return nil, fmt.Errorf("make temp dir: %w", err)
	}
	d := &devProc{
		URL:          "http://" + ports[0],
		Token:        token,
		TemporalAddr: ports[1],
		dataDir:      dir,
		exited:       make(chan struct{}),
		output:       &lockedBuffer{},
	}
	var env []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HERALD_DATA_DIR="+dir,
		"HERALD_HTTP_ADDR="+ports[0],
		"HERALD_DEV_TEMPORAL_ADDR="+ports[1],
		"HERALD_DEV_UI_ADDR="+ports[2],
		"HERALD_API_TOKEN="+token,
		"HERALD_LOG_LEVEL=warn",
	)
	// Not CommandContext: the process is stopped with SIGTERM in Stop, even
	// when ctx has ended, so that it shuts down cleanly.
	d.cmd = exec.Command(exe, command)
	d.cmd.Env = env
	d.cmd.Stdout = d.output
	d.cmd.Stderr = d.output
	if err := d.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s %s: %w", exe, command, err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	logger.Debug("process started", "command", command, "pid", d.cmd.Process.Pid, "url", d.URL, "data_dir", dir)
	if err := d.waitReady(ctx); err != nil {
		if stopErr := d.Stop(); stopErr != nil {
			logger.Warn("stopping "+command, "error", stopErr)
		}
		return nil, err
	}
	return d, nil
}

// PID is the process id, for its CPU and memory counters.
func (d *devProc) PID() int { return d.cmd.Process.Pid }

// waitReady polls GET /readyz until it answers 200, the process exits, or
// devReadyTimeout passes.
func (d *devProc) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, devReadyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("herald dev readiness: %w", err)
		}
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s/readyz: %w; its output:\n%s", d.cmd.Args[1], d.URL, ctx.Err(), d.output.tail(4096))
		case <-d.exited:
			return fmt.Errorf("%s exited before it was ready (%v); its output:\n%s", d.cmd.Args[1], d.waitErr, d.output.tail(4096))
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM, waits for the process to exit (killing it after
// devStopTimeout), and removes its data dir.
func (d *devProc) Stop() error {
	defer os.RemoveAll(d.dataDir)
	select {
	case <-d.exited:
		return nil
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", d.cmd.Args[1], err)
	}
	select {
	case <-d.exited:
		return nil
	case <-time.After(devStopTimeout):
		if err := d.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("kill %s: %w", d.cmd.Args[1], err)
		}
		<-d.exited
		return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed", d.cmd.Args[1], devStopTimeout)
	}
}

// freePorts returns n distinct free 127.0.0.1 addresses. The ports are free
// when chosen; another process could take one before `herald dev` binds it.
func freePorts(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		// Kept open until all are chosen, so the n ports differ.
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make API token: %w", err)
	}
	return "hrld_bench_" + hex.EncodeToString(b), nil
}

// outputKeep bounds what lockedBuffer keeps of a process's output.
const outputKeep = 64 << 10

// lockedBuffer collects the end of a process's output from two goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len()+len(p) > outputKeep {
		keep := b.buf.Bytes()[max(0, b.buf.Len()-outputKeep/2):]
		b.buf = *bytes.NewBuffer(append([]byte(nil), keep...))
	}
	return b.buf.Write(p)
}

// tail is the last n bytes written.
func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.buf.Bytes()
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return string(out)
}
