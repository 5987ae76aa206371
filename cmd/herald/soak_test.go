package main

import (
	"bufio"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	soakFor  = flag.Duration("soak", 0, "run TestSoak for this long (e.g. 15m): herald dev at a steady rate, RSS and data dir sampled")
	soakRate = flag.Int("soak.rate", 10, "events per second in TestSoak")
)

// TestSoak runs `herald dev` at a steady rate for -soak, with retentions
// short enough (a quarter of the run, 1 to 5 minutes) that removal keeps up
// within the run, and samples the process's RSS and the data dir's size.
// After warm-up (the first half) both must stay flat: within 25% of their
// value at half time. Run: go test ./cmd/herald -run Soak -soak 15m -v
func TestSoak(t *testing.T) {
	if *soakFor <= 0 {
		t.Skip("a soak: run with -soak 15m")
	}
	retention := min(max(*soakFor/4, time.Minute), 5*time.Minute)
	dir := t.TempDir()
	p := startDev(t, dir, map[string]string{
		"HERALD_RETENTION":              retention.String(),
		"HERALD_IDEMPOTENCY_WINDOW":     retention.String(),
		"HERALD_DEV_TEMPORAL_RETENTION": retention.String(),
		"HERALD_RETRY_SCHEDULE":         "1s,2s",
		"HERALD_ALLOW_PRIVATE_NETWORKS": "true",
	})
	f := newFixture(t, p.api.withT(t), nil)
	rc := newReceiver(t, nil)
	f.endpoint(t, map[string]any{"url": rc.URL()}) // ordered
	f.endpoint(t, map[string]any{"url": rc.URL(), "ordered": false})

	type sample struct {
		at       time.Duration
		rssMB    float64
		dirMB    float64
		sent     int
		received int
	}
	var samples []sample
	take := func(start time.Time, sent int) {
		s := sample{at: time.Since(start).Round(time.Second), rssMB: rssMB(t, p.cmd.Process.Pid),
			dirMB: dirMB(t, dir), sent: sent, received: rc.count()}
		samples = append(samples, s)
		t.Logf("t=%-6s rss=%6.1f MB  data dir=%6.1f MB  sent=%d received=%d", s.at, s.rssMB, s.dirMB, s.sent, s.received)
	}
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(*soakRate))
	defer tick.Stop()
	every := time.NewTicker(15 * time.Second)
	defer every.Stop()
	sent := 0
	take(start, 0)
	for time.Since(start) < *soakFor {
		select {
		case <-tick.C:
			sent++
			f.send(t, "", map[string]any{"n": sent, "pad": strings.Repeat("x", 200)})
		case <-every.C:
			take(start, sent)
		}
	}
	take(start, sent)
	t.Logf("rate %.1f events/s over %s, retention %s", float64(sent)/time.Since(start).Seconds(), *soakFor, retention)

	half := samples[len(samples)/2]
	var maxRSS, maxDir float64
	for _, s := range samples[len(samples)/2:] {
		maxRSS, maxDir = max(maxRSS, s.rssMB), max(maxDir, s.dirMB)
	}
	t.Logf("after warm-up (from t=%s): RSS %.1f -> max %.1f MB, data dir %.1f -> max %.1f MB",
		half.at, half.rssMB, maxRSS, half.dirMB, maxDir)
	if maxRSS > 1.25*half.rssMB {
		t.Errorf("RSS grew after warm-up: %.1f -> %.1f MB", half.rssMB, maxRSS)
	}
	if maxDir > 1.25*half.dirMB {
		t.Errorf("data dir grew after warm-up: %.1f -> %.1f MB", half.dirMB, maxDir)
	}
}

// rssMB is a process's resident set size.
func rssMB(t *testing.T, pid int) float64 {
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// dirMB is the size of the files under dir.
func dirMB(t *testing.T, dir string) float64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // a journal that went away meanwhile
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return float64(n) / (1 << 20)
}
