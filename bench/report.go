package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

func writeResult(w io.Writer, r Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return writeTable(w, r)
}

// writeTable prints the result for a person: medians with their range.
func writeTable(w io.Writer, r Result) error {
	s := r.Settings
	load := fmt.Sprintf("%d events, %d in flight", s.Events, s.Concurrency)
	if s.OpenLoop {
		load = fmt.Sprintf("open loop, %.0f events/s for %.0fs", s.Rate, s.DurationS)
	}
	order := "unordered"
	if s.Ordered {
		order = "ordered"
		if s.Keys > 0 {
			order += fmt.Sprintf(", %d keys", s.Keys)
		}
	}
	if s.VersusUnordered {
		order += "; versus: unordered"
	}
	fmt.Fprintf(w, "herald bench: %s x %d endpoints (%s), %d rounds, %s floor, against %s\n\n",
		load, s.Endpoints, order, s.Rounds, s.Floor, s.Target)

	type col struct {
		name string
		sum  *Summary
	}
	cols := []col{{"herald", &r.Herald}}
	if r.Versus != nil {
		cols = append(cols, col{"versus", r.Versus})
	}
	if r.Source != nil {
		cols = append(cols, col{"source (" + s.Source + ")", r.Source})
	}
	if len(r.Floor.Rounds) > 0 {
		cols = append(cols, col{"floor", &r.Floor})
	}
	if r.Raw != nil {
		cols = append(cols, col{"raw loop", r.Raw})
	}
	fmt.Fprintf(w, "%-26s", "median [min-max]")
	for _, c := range cols {
		fmt.Fprintf(w, " %-24s", c.name)
	}
	fmt.Fprintln(w)
	rows := []struct {
		name string
		get  func(Figures) float64
		prec int
	}{
		{"accepted events/s", func(f Figures) float64 { return f.AcceptedPerS }, 1},
		{"delivered/s", func(f Figures) float64 { return f.DeliveredPerS }, 1},
		{"completed deliveries/s", func(f Figures) float64 { return f.CompletedPerS }, 1},
		{"CPU ms per delivery", func(f Figures) float64 { return f.CPUMsPerDelivery }, 2},
		{"cores used", func(f Figures) float64 { return f.Cores }, 2},
		{"CPU s after last receipt", func(f Figures) float64 { return f.CPUAfterReceiptsS }, 2},
		{"send->receipt p50 ms", func(f Figures) float64 { return f.P50Ms }, 1},
		{"send->receipt p99 ms", func(f Figures) float64 { return f.P99Ms }, 1},
		{"accept->receipt p50 ms", func(f Figures) float64 { return f.AcceptP50Ms }, 1},
		{"accept->receipt p99 ms", func(f Figures) float64 { return f.AcceptP99Ms }, 1},
		{"accept->receipt max ms", func(f Figures) float64 { return f.AcceptMaxMs }, 1},
		{"backlog max", func(f Figures) float64 { return f.BacklogMax }, 0},
		{"longest receipt gap ms", func(f Figures) float64 { return f.GapMaxMs }, 0},
		{"RSS MiB at end", func(f Figures) float64 { return f.RSSMiB }, 0},
	}
	for _, row := range rows {
		fmt.Fprintf(w, "%-26s", row.name)
		for _, c := range cols {
			fmt.Fprintf(w, " %-24s", statText(row.get(c.sum.Median), row.get(c.sum.Min), row.get(c.sum.Max), row.prec))
		}
		fmt.Fprintln(w)
	}
	ratioLine := func(name string, rt Ratios) {
		fmt.Fprintf(w, "%s (per round): CPU per delivery %s, delivered/s %s, completed/s %s\n", name,
			statText(rt.CPUPerDelivery.Median, rt.CPUPerDelivery.Min, rt.CPUPerDelivery.Max, 3),
			statText(rt.DeliveredPerS.Median, rt.DeliveredPerS.Min, rt.DeliveredPerS.Max, 3),
			statText(rt.CompletedPerS.Median, rt.CompletedPerS.Min, rt.CompletedPerS.Max, 3))
	}
	fmt.Fprintln(w)
	if len(r.Floor.Rounds) > 0 {
		ratioLine("herald / floor", r.HeraldOverFloor)
	}
	if r.VersusOverHerald != nil {
		ratioLine("versus / herald", *r.VersusOverHerald)
	}
	if r.SourceOverHerald != nil {
		ratioLine("source / herald", *r.SourceOverHerald)
	}
	if r.SourceOverFloor != nil {
		ratioLine("source / floor", *r.SourceOverFloor)
	}
	var checks []string
	for _, c := range cols {
		t := totals(c.sum.Rounds)
		checks = append(checks, fmt.Sprintf("  %-8s signatures %.0f checked, %.0f failed; duplicates %.0f; unknown ids %.0f; out of order %.0f; send errors %.0f",
			c.name, t.SignaturesChecked, t.SignatureFailures, t.Duplicates, t.UnknownIDs, t.OutOfOrder, t.SendErrors))
	}
	history := "not measured"
	if r.HistorySample > 0 {
		history = fmt.Sprintf("%.1f (sample of %d)", r.HistoryEventsPerEvent, r.HistorySample)
	}
	_, err := fmt.Fprintf(w, "\nchecks, all rounds (order is promised on ordered endpoints only):\n%s\n  stray requests %d\n\nhistory events per event: %s\nherald process: %d events, RSS %.0f MiB (peak %.0f MiB)\n",
		strings.Join(checks, "\n"), r.Strays, history, r.HeraldEvents, r.HeraldRSSMiB, r.HeraldPeakRSSMiB)
	return err
}

func statText(med, lo, hi float64, prec int) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	if lo == hi {
		return f(med)
	}
	return f(med) + " [" + f(lo) + "-" + f(hi) + "]"
}

// totals sums the check counts of the rounds.
func totals(rounds []Figures) Figures {
	var t Figures
	for _, f := range rounds {
		t.SignaturesChecked += f.SignaturesChecked
		t.SignatureFailures += f.SignatureFailures
		t.Duplicates += f.Duplicates
		t.UnknownIDs += f.UnknownIDs
		t.OutOfOrder += f.OutOfOrder
		t.SendErrors += f.SendErrors
	}
	return t
}

// progressWriter shows progress lines: on a terminal one line rewritten in
// place, elsewhere one line every progressEvery.
type progressWriter struct {
	w   io.Writer
	tty bool

	mu   sync.Mutex
	last time.Time
}

const progressEvery = 5 * time.Second

// newProgressWriter returns nil (no progress) for a nil w.
func newProgressWriter(w io.Writer, tty bool) io.Writer {
	if w == nil {
		return nil
	}
	return &progressWriter{w: w, tty: tty}
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		return fmt.Fprintf(p.w, "\r\033[K%s", strings.TrimRight(string(b), "\n"))
	}
	if time.Since(p.last) < progressEvery {
		return len(b), nil
	}
	p.last = time.Now()
	return p.w.Write(b)
}

// final writes the last line of a phase, always, ending it on a terminal.
func (p *progressWriter) final(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		return
	}
	fmt.Fprint(p.w, line)
}
