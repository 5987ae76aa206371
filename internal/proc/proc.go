// Package proc runs a test's subprocess the way a crash test needs it:
// started, stopped, killed with SIGKILL as a crash would be, and started
// again with the same command line, its output in one log file across
// restarts. The production-shape tests (internal/prodtest) and the chaos
// test run their servers with it.
package proc

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one subprocess, across its restarts.
type Proc struct {
	Name string

	bin     string
	args    []string
	env     []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	starts int
}

// New describes a process that runs bin with args and env (KEY=value, the
// whole environment) and appends its output to logPath; Start runs it.
func New(name, bin string, args, env []string, logPath string) *Proc {
	return &Proc{Name: name, bin: bin, args: args, env: env, logPath: logPath}
}

// Start starts the process, for the first time or again after it ended
// (Kill or Stop). A process that is still running is an error.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !p.doneLocked() {
		return fmt.Errorf("%s: already running", p.Name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("%s: open log: %w", p.Name, err)
	}
	p.starts++
	fmt.Fprintf(logf, "\n--- %s start %d at %s\n", p.Name, p.starts, time.Now().Format(time.RFC3339Nano))
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

// ExitErr is how the last run ended (nil while it runs, or for a clean exit).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
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
	if err := p.ExitErr(); err != nil {
		return fmt.Errorf("%s exited: %w", p.Name, err)
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
	if err := p.ExitErr(); err != nil {
		return fmt.Errorf("%s: %w\n%s", p.Name, err, p.LogTail(20))
	}
	return nil
}

// Log is the process's output so far, across restarts.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// LogTail is the last n lines of Log.
func (p *Proc) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitHTTP polls url until it answers 200, the process ends or ctx does.
func (p *Proc) WaitHTTP(ctx context.Context, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		if !p.Running() {
			return fmt.Errorf("%s exited (%v) before %s answered:\n%s", p.Name, p.ExitErr(), url, p.LogTail(30))
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
			return fmt.Errorf("%s: %s not ready: %w\n%s", p.Name, url, ctx.Err(), p.LogTail(30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}
