package chaos

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildHerald builds ./cmd/herald into dir, with the race detector when
// -herald-race asks. It is off by default: a race-built Herald is several
// times slower, and under that slowness some seeds (5) leave a lane's head
// livelocked by turn signals (UNHANDLED_COMMAND task failures) — a defect
// of the lane protocol still open (docs/testing.md). cmd/herald's tests
// run Herald under the race detector meanwhile.
func buildHerald(ctx context.Context, dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "herald")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "github.com/herald-hq/herald/cmd/herald")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/herald: %w\n%s", err, out)
	}
	return bin, nil
}

// freeAddr is a 127.0.0.1 address that is free now (not reserved: a clash
// shows as a start failure naming the port).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// devProcess is `herald dev` as a subprocess: started, killed with SIGKILL
// and started again with the same environment, so on the same data dir
// and ports. Its output goes to one log file across restarts.
type devProcess struct {
	bin      string
	env      []string
	logPath  string
	api      string // http://host:port
	temporal string // the embedded Temporal frontend

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	starts int
}

func newDevProcess(bin, dataDir, token string, extra map[string]string) (*devProcess, error) {
	addrs := make([]string, 3)
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	vars := map[string]string{
		"HERALD_DATA_DIR":          dataDir,
		"HERALD_HTTP_ADDR":         addrs[0],
		"HERALD_DEV_TEMPORAL_ADDR": addrs[1],
		"HERALD_DEV_UI_ADDR":       addrs[2],
		"HERALD_API_TOKEN":         token,
		"HERALD_LOG_LEVEL":         "warn",
	}
	for k, v := range extra {
		vars[k] = v
	}
	env := os.Environ()
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return &devProcess{
		bin: bin, env: env, logPath: filepath.Join(filepath.Dir(dataDir), "herald.log"),
		api: "http://" + addrs[0], temporal: addrs[1],
	}, nil
}

// start starts the process and waits until /readyz answers 200.
func (p *devProcess) start(ctx context.Context) error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open herald log: %w", err)
	}
	p.mu.Lock()
	p.starts++
	fmt.Fprintf(logf, "\n--- start %d at %s\n", p.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin, "dev")
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	// The child dies with the test process, so a test stopped by its
	// timeout leaves no server behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		logf.Close()
		return fmt.Errorf("start herald dev: %w", err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.err = cmd, exited, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(exited)
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-exited:
			return fmt.Errorf("herald dev exited before it was ready: %v\n%s", p.exitErr(), p.logTail(30))
		case <-ctx.Done():
			return fmt.Errorf("herald dev not ready: %w\n%s", ctx.Err(), p.logTail(30))
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := client.Get(p.api + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
	}
}

func (p *devProcess) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *devProcess) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// stop asks for a clean stop (SIGTERM) and says whether it was one.
func (p *devProcess) stop(timeout time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("herald dev did not stop within %s of SIGTERM", timeout)
	}
	if err := p.exitErr(); err != nil {
		return fmt.Errorf("herald dev exited: %w", err)
	}
	return nil
}

// logTail is the last n lines Herald wrote, across restarts.
func (p *devProcess) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// raceReport is the first data race the race detector wrote to Herald's
// output ("" when none): a killed process never exits with its code.
func (p *devProcess) raceReport() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.Index(s, "WARNING: DATA RACE")
	if i < 0 {
		return ""
	}
	s = s[i:]
	if end := strings.Index(s, "=================="); end > 0 {
		s = s[:end]
	}
	return s
}
