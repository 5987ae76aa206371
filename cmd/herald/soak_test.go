package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	soakFor      = flag.Duration("soak", 0, "run TestSoak for this long (e.g. 15m): herald dev at a steady rate, RSS and data dir sampled")
	soakRate     = flag.Int("soak.rate", 10, "events per second in TestSoak")
	soakEvery    = flag.Duration("soak.every", 30*time.Second, "how often TestSoak samples RSS, heap and files")
	soakProfiles = flag.String("soak.profiles", "", "a dir where TestSoak saves herald dev's heap profile at each sample (compare with go tool pprof -top -diff_base)")
)

// soakSenders is how many requests the soak has in flight at most: enough to
// hold the rate when the API answers slowly on a loaded machine.
const soakSenders = 8

// soakSample is one reading of the process and its data dir.
type soakSample struct {
	at         time.Duration
	rss        memSize // VmRSS
	rssAnon    memSize // RssAnon: the Go heap, stacks and SQLite's page caches (modernc's allocator)
	heap       memSize // Go's HeapInuse
	heapLive   memSize // Go's HeapAlloc
	dir        memSize
	files      map[string]int64
	goroutines int
	sent       int64
	ordered    int // received by the ordered endpoint
	unordered  int
}

type memSize float64 // MB

func (m memSize) String() string { return strconv.FormatFloat(float64(m), 'f', 1, 64) }

// TestSoak runs `herald dev` at a steady rate for -soak, with retentions
// short enough (a quarter of the run, 1 to 5 minutes) that removal keeps up
// within the run, and samples the process's RSS, its Go heap and the data
// dir's files. After warm-up (the first half) RSS and the data dir must stay
// flat: within 25% of their value at half time. Run:
//
//	go test ./cmd/herald -run 'TestSoak$' -timeout 30m -v -args -soak 15m
func TestSoak(t *testing.T) {
	if *soakFor <= 0 {
		t.Skip("a soak: run with -soak 15m")
	}
	retention := min(max(*soakFor/4, time.Minute), 5*time.Minute)
	dir := t.TempDir()
	debug := freeAddr(t)
	p := startDev(t, dir, map[string]string{
		"HERALD_RETENTION":              retention.String(),
		"HERALD_IDEMPOTENCY_WINDOW":     retention.String(),
		"HERALD_DEV_TEMPORAL_RETENTION": retention.String(),
		"HERALD_RETRY_SCHEDULE":         "1s,2s",
		"HERALD_ALLOW_PRIVATE_NETWORKS": "true",
		"HERALD_DEBUG_ADDR":             debug,
	})
	f := newFixture(t, p.api.withT(t), nil)
	// A receiver each, so that a backlog shows which path it is on.
	ordered, unordered := newReceiver(t, nil), newReceiver(t, nil)
	f.endpoint(t, map[string]any{"url": ordered.URL()})
	f.endpoint(t, map[string]any{"url": unordered.URL(), "ordered": false})

	// Senders post from a queue the ticker fills; a full queue is a tick
	// skipped, so the rate reached is what is reported.
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	queue := make(chan int64, soakSenders)
	var wg sync.WaitGroup
	for range soakSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range queue {
				if err := soakSend(p.api.base, p.api.token, f, n); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				sent.Add(1)
			}
		}()
	}

	var samples []soakSample
	take := func(start time.Time) {
		s := soakSample{at: time.Since(start).Round(time.Second), sent: sent.Load(),
			ordered: ordered.count(), unordered: unordered.count(), files: dirFiles(t, dir)}
		s.rss, s.rssAnon = procMem(t, p.cmd.Process.Pid)
		s.heap, s.heapLive, s.goroutines = goHeap(t, debug, *soakProfiles, s.at)
		for _, n := range s.files {
			s.dir += memSize(float64(n) / (1 << 20))
		}
		samples = append(samples, s)
		t.Logf("t=%-6s rss=%6s MB anon=%6s heap inuse=%6s live=%6s goroutines=%d  data dir=%6s MB %s  sent=%d received ordered=%d unordered=%d",
			s.at, s.rss, s.rssAnon, s.heap, s.heapLive, s.goroutines, s.dir, fileSizes(s.files), s.sent, s.ordered, s.unordered)
	}
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(*soakRate))
	every := time.NewTicker(*soakEvery)
	take(start)
	skipped := 0
	for n := int64(1); time.Since(start) < *soakFor; {
		select {
		case <-tick.C:
			select {
			case queue <- n:
				n++
			default:
				skipped++
			}
		case <-every.C:
			take(start)
		}
	}
	tick.Stop()
	every.Stop()
	close(queue)
	wg.Wait()
	take(start)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d events not accepted; first: %v", n, n+sent.Load(), firstErr.Load())
	}
	t.Logf("rate %.1f events/s over %s (asked %d/s, %d ticks skipped with %d in flight), retention %s",
		float64(sent.Load())/time.Since(start).Seconds(), *soakFor, *soakRate, skipped, soakSenders, retention)

	half := samples[len(samples)/2]
	rest := samples[len(samples)/2:]
	var maxRSS, maxDir memSize
	for _, s := range rest {
		maxRSS, maxDir = max(maxRSS, s.rss), max(maxDir, s.dir)
	}
	t.Logf("after warm-up (from t=%s): RSS %s -> max %s MB (slope %+.2f MB/min), Go heap in use slope %+.2f MB/min, data dir %s -> max %s MB (slope %+.2f MB/min)",
		half.at, half.rss, maxRSS, slope(rest, func(s soakSample) memSize { return s.rss }),
		slope(rest, func(s soakSample) memSize { return s.heap }),
		half.dir, maxDir, slope(rest, func(s soakSample) memSize { return s.dir }))
	// Deliveries behind the events accepted are open workflows and rows
	// the retention cannot remove yet: a backlog that keeps growing means the
	// rate is more than this machine delivers, and growth then is no leak.
	last := samples[len(samples)-1]
	behind := func(s soakSample) int64 { return 2*s.sent - int64(s.ordered+s.unordered) }
	t.Logf("deliveries behind: %d at t=%s, %d at the end", behind(half), half.at, behind(last))
	if b := behind(last); b > behind(half)+int64(*soakRate)*int64(soakEvery.Seconds())*2 {
		t.Logf("the backlog grew: the rate is more than this machine delivers now (see uptime); try a lower -soak.rate")
	}
	if maxRSS > 1.25*half.rss {
		t.Errorf("RSS grew after warm-up: %s -> %s MB", half.rss, maxRSS)
	}
	if maxDir > 1.25*half.dir {
		t.Errorf("data dir grew after warm-up: %s -> %s MB", half.dir, maxDir)
	}
}

// soakSend posts event n to the fixture's app.
func soakSend(base, token string, f fixture, n int64) error {
	body, err := json.Marshal(map[string]any{"event_type": f.eventType, "payload": map[string]any{"n": n, "pad": strings.Repeat("x", 200)}})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, base+"/v1/apps/"+f.app+"/events", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("status %d: %s", resp.StatusCode, answer)
	}
	return nil
}

// slope is the least-squares slope of y over the samples, per minute.
func slope(ss []soakSample, y func(soakSample) memSize) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, s := range ss {
		x, v := s.at.Minutes(), float64(y(s))
		n, sx, sy, sxx, sxy = n+1, sx+x, sy+v, sxx+x*x, sxy+x*v
	}
	if d := n*sxx - sx*sx; d != 0 {
		return (n*sxy - sx*sy) / d
	}
	return 0
}

// procMem is a process's resident set size and its anonymous part.
func procMem(t *testing.T, pid int) (rss, anon memSize) {
	fh, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	kb := func(rest string) memSize {
		n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
		return memSize(float64(n) / 1024)
	}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			rss = kb(rest)
		} else if rest, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			anon = kb(rest)
		}
	}
	if rss == 0 {
		t.Fatal("no VmRSS")
	}
	return rss, anon
}

// goHeap reads Go's heap figures and goroutine count from herald dev's pprof
// endpoint and, when dir is set, saves the heap profile there as
// heap-<seconds>.pb.gz.
func goHeap(t *testing.T, debugAddr, dir string, at time.Duration) (inuse, live memSize, goroutines int) {
	get := func(path string) []byte {
		resp, err := http.Get("http://" + debugAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return b
	}
	if dir != "" {
		name := filepath.Join(dir, fmt.Sprintf("heap-%04d.pb.gz", int(at.Seconds())))
		if err := os.WriteFile(name, get("/debug/pprof/heap?gc=1"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	first, _, _ := bytes.Cut(get("/debug/pprof/goroutine?debug=1"), []byte("\n"))
	goroutines, _ = strconv.Atoi(string(bytes.TrimPrefix(first, []byte("goroutine profile: total "))))
	sc := bufio.NewScanner(bytes.NewReader(get("/debug/pprof/heap?debug=1")))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		for _, f := range []struct {
			prefix string
			to     *memSize
		}{{"# HeapInuse = ", &inuse}, {"# HeapAlloc = ", &live}} {
			if rest, ok := strings.CutPrefix(sc.Text(), f.prefix); ok {
				n, _ := strconv.ParseFloat(rest, 64)
				*f.to = memSize(n / (1 << 20))
			}
		}
	}
	return inuse, live, goroutines
}

// dirFiles is the size of each file under dir, by path relative to it.
func dirFiles(t *testing.T, dir string) map[string]int64 {
	files := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // a journal that went away meanwhile
		}
		if fi, err := d.Info(); err == nil {
			rel, _ := filepath.Rel(dir, path)
			files[rel] = fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// fileSizes lists the files of more than 64 KiB, in MB.
func fileSizes(files map[string]int64) string {
	var parts []string
	for name, n := range files {
		if n > 64<<10 {
			parts = append(parts, fmt.Sprintf("%s=%.1f", name, float64(n)/(1<<20)))
		}
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, " ") + "]"
}
