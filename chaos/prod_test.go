package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/herald-hq/herald/internal/netcut"
	"github.com/herald-hq/herald/internal/prodtest"
)

// prodSystem is Herald in production shape (internal/prodtest): a crash
// is a kill -9 of `herald api` or of one of the two workers, or Postgres
// taken away from all three (their connections closed, new ones refused or
// left hanging, as a database restarting or unreachable), drawn at random,
// while the Temporal server stays up.
type prodSystem struct {
	*prodtest.Shape
}

// startProd starts the shape with bin as every herald process and env
// added to their settings; dir keeps the processes' logs.
func startProd(ctx context.Context, bin, dir, token string, env map[string]string, logf func(string, ...any)) (*prodSystem, error) {
	var extra []string
	for k, v := range env {
		extra = append(extra, k+"="+v)
	}
	s, err := prodtest.Start(ctx, prodtest.Options{Herald: bin, HeraldEnv: extra, Dir: dir, Token: token, Logf: logf,
		CuttableDatabase: true})
	if err != nil {
		return nil, fmt.Errorf("start the production shape: %w", err)
	}
	return &prodSystem{s}, nil
}

func (s *prodSystem) apiURL() string       { return s.APIURL() }
func (s *prodSystem) temporalAddr() string { return s.Temporal.Addr }

func (s *prodSystem) crash(rng *rand.Rand) (string, func(context.Context) error) {
	procs := s.Procs()
	i := rng.IntN(len(procs) + 1)
	if i == len(procs) {
		name, mode := "database (refused)", netcut.Refuse
		if rng.IntN(2) == 0 {
			name, mode = "database (hanging)", netcut.Hold
		}
		// Longer than a process's restart takes, and past the 5 s a new
		// connection may take before it gives up.
		away := time.Second + time.Duration(rng.Int64N(int64(6*time.Second)))
		s.DatabaseLink.Set(mode)
		return name, func(ctx context.Context) error {
			select {
			case <-time.After(away):
			case <-ctx.Done():
			}
			s.DatabaseLink.Set(netcut.Pass)
			return nil
		}
	}
	p := procs[i]
	p.Kill()
	return p.Name, func(ctx context.Context) error { return s.Restart(ctx, p) }
}

func (s *prodSystem) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return s.Stop(ctx)
}

func (s *prodSystem) logTail(n int) string {
	var b strings.Builder
	for _, p := range s.Procs() {
		fmt.Fprintf(&b, "--- %s:\n%s\n", p.Name, p.LogTail(n))
	}
	return b.String()
}

func (s *prodSystem) raceReport() string {
	for _, p := range s.Procs() {
		if r := raceIn(p.Log()); r != "" {
			return p.Name + ": " + r
		}
	}
	return ""
}

func (s *prodSystem) metricsURLs() []string {
	var urls []string
	for _, p := range s.Procs() {
		urls = append(urls, "http://"+p.HTTPAddr+"/metrics")
	}
	return urls
}
