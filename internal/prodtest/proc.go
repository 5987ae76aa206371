package prodtest

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one process of the shape: Temporal's server or a herald command.
// It can be stopped, killed (kill -9, as a crash) and started again with
// the same command line; its output goes to a log file across restarts.
type Proc struct {
	Name string
	// HTTPAddr is where a herald process serves /healthz, /readyz and
	// /metrics (the API, or a worker's operations routes); "" for others.
	HTTPAddr string

	bin     string
	args    []string
	env     []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func newProc(name, bin string, args, env []string, logPath string) *Proc {
	return &Proc{Name: name, bin: bin, args: args, env: env, logPath: logPath}
}

// start starts the process. A process that is still running is an error.
func (p *Proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !p.doneLocked() {
		return fmt.Errorf("%s: already running", p.Name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: open log: %w", p.Name, err)
	}
	fmt.Fprintf(logf, "\n--- %s start %s\n", time.Now().Format(time.RFC3339Nano), p.Name)
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("%s: start: %w", p.Name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.err = cmd, exited, nil
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

func (p *Proc) doneLocked() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Running reports whether the process is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !p.doneLocked()
}

// Pid is the process id of the current run.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Stop asks the process to stop with SIGTERM and waits up to timeout, then
// kills it. It returns an error when the process did not exit cleanly.
func (p *Proc) Stop(timeout time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil // ended before: its exit was someone else's business
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not stop within %s of SIGTERM", p.Name, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return fmt.Errorf("%s exited: %w", p.Name, p.err)
	}
	return nil
}

// SetEnv adds settings (KEY=value, later ones win) for the next start.
func (p *Proc) SetEnv(kv ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.env = append(append([]string{}, p.env...), kv...)
}

// CPUTime is the CPU time (user and system) the current run has used so
// far, read from /proc; 0 where there is no /proc.
func (p *Proc) CPUTime() time.Duration { return procCPU(p.Pid()) }

// CPUOf is the CPU time process pid has used so far (Linux; 0 elsewhere).
func CPUOf(pid int) time.Duration { return procCPU(pid) }

// Restart starts the process again with the same command line; it must
// have ended (Kill or Stop) first.
func (p *Proc) Restart() error { return p.start() }

// Wait waits for the process to end (for one-shot commands like migrate).
func (p *Proc) Wait(ctx context.Context) error {
	p.mu.Lock()
	exited := p.exited
	p.mu.Unlock()
	select {
	case <-exited:
	case <-ctx.Done():
		return fmt.Errorf("%s still running: %w", p.Name, ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return fmt.Errorf("%s: %w\n%s", p.Name, p.err, p.logTail(20))
	}
	return nil
}

// Log is the process's output so far, across restarts.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *Proc) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitHTTP polls url until it answers 200, the process ends or ctx does.
func (p *Proc) waitHTTP(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if !p.Running() {
			return fmt.Errorf("%s exited before %s answered:\n%s", p.Name, url, p.logTail(30))
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s not ready: %w\n%s", p.Name, url, ctx.Err(), p.logTail(30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts returns n distinct ports on 127.0.0.1 that are free now, all
// below 32768: Temporal keeps membership ports in a smallint column.
// They are not reserved; a clash with another process is unlikely enough
// for a test, and shows as a start failure that names the port.
func freePorts(n int) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			return nil, errors.New("prodtest: no free ports below 32768")
		}
		port := 20000 + int(randUint()%12000)
		if seen[port] {
			continue
		}
		seen[port] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		lns = append(lns, l) // held until all are chosen, so none is picked twice
		out = append(out, port)
	}
	return out, nil
}

func randUint() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint32(b[:])
}
