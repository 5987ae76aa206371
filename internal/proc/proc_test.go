package proc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A process killed with SIGKILL starts again with the same command line,
// its output appended to the same log; Stop after a clean SIGTERM exit is
// no error, and a second Start while running is refused.
func TestKillStartStopKeepsOneLog(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	log := filepath.Join(t.TempDir(), "p.log")
	p := New("sleeper", "/bin/sh", []string{"-c", `trap 'exit 0' TERM; echo "up $N"; while :; do sleep 0.05; done`},
		append(os.Environ(), "N=1"), log)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "up 1", 1)
	if err := p.Start(); err == nil {
		t.Fatal("a second Start while running succeeded")
	}
	if p.Pid() == 0 || !p.Running() {
		t.Fatalf("running = %v, pid = %d", p.Running(), p.Pid())
	}
	p.Kill()
	if p.Running() || p.ExitErr() == nil {
		t.Fatalf("after Kill: running = %v, exit = %v", p.Running(), p.ExitErr())
	}
	p.SetEnv("N=2")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "up 2", 1)
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if got := strings.Count(p.Log(), "--- sleeper start"); got != 2 {
		t.Fatalf("log has %d start lines, want 2:\n%s", got, p.Log())
	}
	if !strings.Contains(p.Log(), "up 1") {
		t.Fatalf("the first run's output is gone:\n%s", p.Log())
	}
}

func TestWaitReportsAFailedRun(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	p := New("failing", "/bin/sh", []string{"-c", "echo broken; exit 3"}, os.Environ(), filepath.Join(t.TempDir(), "p.log"))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := p.Wait(ctx)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Wait = %v, want exit status 3 with the log's tail", err)
	}
	if err := p.WaitHTTP(ctx, "http://127.0.0.1:1/"); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("WaitHTTP of an ended process = %v", err)
	}
}

// waitLog polls p's log until it contains s n times.
func waitLog(t *testing.T, p *Proc, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(p.Log(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("log never had %q:\n%s", s, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
