package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/herald-hq/herald/internal/proc"
)

// system is Herald as a run sees it: where its API and its Temporal
// frontend are, and the crashes it suffers. `herald dev` is one process;
// the production shape (-shape prod) is `herald api` and two `herald
// worker`s on Postgres and a Temporal server of their own.
type system interface {
	apiURL() string
	temporalAddr() string
	// crash kills one of Herald's processes with SIGKILL and names it;
	// restart starts it again and waits until it is ready.
	crash(rng *rand.Rand) (name string, restart func(context.Context) error)
	stop() error
	// logTail is the last lines of every Herald process's output.
	logTail(n int) string
	// raceReport is the first data race the race detector wrote ("" when
	// none): a killed process never exits with its code.
	raceReport() string
	// metricsURLs are the /metrics of every Herald process.
	metricsURLs() []string
}

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
	*proc.Proc
	api      string // http://host:port
	temporal string // the embedded Temporal frontend
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
		Proc: proc.New("herald dev", bin, []string{"dev"}, env, filepath.Join(filepath.Dir(dataDir), "herald.log")),
		api:  "http://" + addrs[0], temporal: addrs[1],
	}, nil
}

// start starts the process and waits until /readyz answers 200.
func (p *devProcess) start(ctx context.Context) error {
	if err := p.Start(); err != nil {
		return err
	}
	return p.WaitHTTP(ctx, p.api+"/readyz")
}

func (p *devProcess) apiURL() string        { return p.api }
func (p *devProcess) temporalAddr() string  { return p.temporal }
func (p *devProcess) stop() error           { return p.Stop(time.Minute) }
func (p *devProcess) logTail(n int) string  { return p.LogTail(n) }
func (p *devProcess) raceReport() string    { return raceIn(p.Log()) }
func (p *devProcess) metricsURLs() []string { return []string{p.api + "/metrics"} }

func (p *devProcess) crash(*rand.Rand) (string, func(context.Context) error) {
	p.Kill()
	return p.Name, p.start
}

// raceIn is the first data race report in a process's output, or "".
func raceIn(s string) string {
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
