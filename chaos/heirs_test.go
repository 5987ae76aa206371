package chaos

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// heirTally counts, from every Herald process's /metrics, the heirs its
// drains chose (herald_lane_heirs_total), so that a run says whether it
// put lanes through that hand-off at all. A process killed with SIGKILL
// starts again from zero: what it had counted at the last scrape is kept,
// so the tally may miss the heirs of the moments before a kill.
type heirTally struct {
	urls func() []string
	hc   *http.Client

	mu   sync.Mutex
	last map[string]heirCounts // per process, at its last scrape
	gone heirCounts            // processes' counts before they were killed
}

// heirCounts are the heirs handed the lane and those finished by their drain.
type heirCounts struct{ handed, finished int }

func (c heirCounts) add(o heirCounts) heirCounts {
	return heirCounts{c.handed + o.handed, c.finished + o.finished}
}

func newHeirTally(urls func() []string) *heirTally {
	return &heirTally{urls: urls, hc: &http.Client{Timeout: 2 * time.Second}, last: map[string]heirCounts{}}
}

// run scrapes every process every interval until ctx ends.
func (h *heirTally) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		for _, u := range h.urls() {
			h.scrape(ctx, u)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (h *heirTally) scrape(ctx context.Context, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return // down or restarting: its last scrape stands
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return
	}
	var now heirCounts
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, `herald_lane_heirs_total{how="`)
		if !ok {
			continue
		}
		how, value, ok := strings.Cut(rest, `"} `)
		n, err := strconv.ParseFloat(value, 64)
		if !ok || err != nil {
			continue
		}
		switch how {
		case "handed":
			now.handed = int(n)
		case "finished":
			now.finished = int(n)
		}
	}
	if sc.Err() != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if was := h.last[url]; now.handed < was.handed || now.finished < was.finished {
		h.gone = h.gone.add(was) // started again since
	}
	h.last[url] = now
}

// total is every process's count so far.
func (h *heirTally) total() heirCounts {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.gone
	for _, c := range h.last {
		t = t.add(c)
	}
	return t
}
