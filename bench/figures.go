package bench

import (
	"math"
	"slices"
	"time"
)

// Figures is what one phase of one system measured. Every field has one
// meaning, the same for every system (see `herald bench --help` and
// docs/performance.md); 0 means not measured. Counts are numbers too, so
// that every field gets a median and a range.
type Figures struct {
	Events     float64 `json:"events"`     // events sent
	Accepted   float64 `json:"accepted"`   // events whose send was answered 2xx
	Deliveries float64 `json:"deliveries"` // distinct (webhook id, endpoint) receipts

	// Rates over the phase's first send until, in turn: the last accept,
	// the last receipt, and the moment every workflow the phase started
	// was listed closed by Temporal (the end of the phase's work).
	AcceptedPerS  float64 `json:"accepted_events_per_s"`
	DeliveredPerS float64 `json:"delivered_per_s"`
	CompletedPerS float64 `json:"completed_deliveries_per_s"`
	WindowS       float64 `json:"window_s"` // first send until the end of the work

	// CPU of the system's own process (user + system, all threads) over the
	// window, from its /proc counters.
	CPUS              float64 `json:"cpu_s"`
	CPUMsPerDelivery  float64 `json:"cpu_ms_per_delivery"`
	CPUAfterReceiptsS float64 `json:"cpu_after_last_receipt_s"` // part of cpu_s spent after the last receipt
	Cores             float64 `json:"cores"`                    // cpu_s / window_s
	RSSMiB            float64 `json:"rss_mib"`                  // resident set at the end of the phase

	// Latency from the send of the event to its receipt at an endpoint,
	// and from its accept (the answer to the send) to the receipt; one
	// sample per delivery. Accept→receipt is negative when the receipt came
	// first.
	P50Ms       float64 `json:"send_to_receipt_p50_ms"`
	P95Ms       float64 `json:"send_to_receipt_p95_ms"`
	P99Ms       float64 `json:"send_to_receipt_p99_ms"`
	MaxMs       float64 `json:"send_to_receipt_max_ms"`
	AcceptP50Ms float64 `json:"accept_to_receipt_p50_ms"`
	AcceptP95Ms float64 `json:"accept_to_receipt_p95_ms"`
	AcceptP99Ms float64 `json:"accept_to_receipt_p99_ms"`
	AcceptMaxMs float64 `json:"accept_to_receipt_max_ms"`

	// Deliveries owed (accepted events × endpoints) and not yet received,
	// at its largest, sampled once a second.
	BacklogMax float64 `json:"backlog_max"`
	// The longest time during which deliveries were owed (their events
	// sent, not yet received) and none arrived: a stall.
	GapMaxMs float64 `json:"receipt_gap_max_ms"`

	// Checks, counted on every phase.
	SendErrors        float64 `json:"send_errors"`        // sends not answered 2xx (the closed loop tries an event up to 5 times)
	SignatureFailures float64 `json:"signature_failures"` // receipts the official Standard Webhooks library refused
	SignaturesChecked float64 `json:"signatures_checked"` // receipts checked: all of them
	Duplicates        float64 `json:"duplicates"`         // receipts of an id an endpoint already had
	UnknownIDs        float64 `json:"unknown_ids"`        // receipts of an id the phase never sent
	OutOfOrder        float64 `json:"out_of_order"`       // receipts before one accepted before they were sent

	// Once a second from the first send: receipts, their latency, backlog.
	Timeline []Bin `json:"timeline,omitempty"`
}

// Bin is one second of a phase.
type Bin struct {
	T        float64 `json:"t_s"`      // seconds from the first send to the end of the bin
	Receipts int     `json:"receipts"` // distinct receipts in the bin
	P50Ms    float64 `json:"p50_ms"`   // send→receipt of those receipts
	P99Ms    float64 `json:"p99_ms"`
	Backlog  int     `json:"backlog"` // owed and not received at the end of the bin
}

// percentiles are latencies in milliseconds.
type percentiles struct {
	p50, p95, p99, max float64
}

// latencyPercentiles sorts d and returns its 50th, 95th and 99th
// percentiles by the nearest-rank method, and its maximum; zero for no
// samples.
func latencyPercentiles(d []time.Duration) percentiles {
	if len(d) == 0 {
		return percentiles{}
	}
	slices.Sort(d)
	at := func(p float64) float64 {
		rank := int(math.Ceil(p / 100 * float64(len(d))))
		rank = max(rank, 1)
		return msOf(d[rank-1])
	}
	return percentiles{p50: at(50), p95: at(95), p99: at(99), max: msOf(d[len(d)-1])}
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func perSecond(n float64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return n / seconds
}

// receipt is one distinct receipt with its send record.
type receipt struct {
	at   time.Time
	sent sent
}

// measure derives the receipt figures of a phase: rates, latencies,
// checks and the timeline. start is the phase's first send.
func measure(rec *Recorder, sends map[string]sent, start time.Time, endpoints int) Figures {
	var f Figures
	var rs []receipt
	var lastAccept, lastReceipt time.Time
	for _, s := range sends {
		if s.acceptAt.After(lastAccept) {
			lastAccept = s.acceptAt
		}
	}
	for _, eps := range rec.Arrivals() {
		f.OutOfOrder += float64(outOfOrder(eps, sends))
		for _, a := range eps {
			s, ok := sends[a.id]
			if !ok {
				f.UnknownIDs++
				continue
			}
			rs = append(rs, receipt{at: a.at, sent: s})
			if a.at.After(lastReceipt) {
				lastReceipt = a.at
			}
		}
	}
	f.Accepted = float64(len(sends))
	f.Deliveries = float64(len(rs))
	f.AcceptedPerS = perSecond(f.Accepted, lastAccept.Sub(start).Seconds())
	f.DeliveredPerS = perSecond(f.Deliveries, lastReceipt.Sub(start).Seconds())

	toReceipt := make([]time.Duration, len(rs))
	fromAccept := make([]time.Duration, len(rs))
	for i, r := range rs {
		toReceipt[i] = r.at.Sub(r.sent.sendAt)
		fromAccept[i] = r.at.Sub(r.sent.acceptAt)
	}
	p := latencyPercentiles(toReceipt)
	f.P50Ms, f.P95Ms, f.P99Ms, f.MaxMs = p.p50, p.p95, p.p99, p.max
	p = latencyPercentiles(fromAccept)
	f.AcceptP50Ms, f.AcceptP95Ms, f.AcceptP99Ms, f.AcceptMaxMs = p.p50, p.p95, p.p99, p.max

	f.Duplicates = float64(rec.Duplicates())
	f.SignatureFailures = float64(rec.SignatureFailures())
	f.SignaturesChecked = float64(rec.Verified())
	f.GapMaxMs = msOf(longestGap(rs, sends, endpoints))
	f.Timeline = timeline(rs, sends, start, endpoints)
	for _, b := range f.Timeline {
		f.BacklogMax = max(f.BacklogMax, float64(b.Backlog))
	}
	return f
}

// timeline bins the receipts by second from start, with the backlog at the
// end of every bin.
func timeline(rs []receipt, sends map[string]sent, start time.Time, endpoints int) []Bin {
	var last time.Time
	for _, r := range rs {
		if r.at.After(last) {
			last = r.at
		}
	}
	if len(rs) == 0 {
		return nil
	}
	n := int(last.Sub(start)/time.Second) + 1
	lat := make([][]time.Duration, n)
	bins := make([]Bin, n)
	received := make([]int, n)
	accepted := make([]int, n)
	for _, r := range rs {
		i := max(0, int(r.at.Sub(start)/time.Second))
		lat[i] = append(lat[i], r.at.Sub(r.sent.sendAt))
		received[i]++
	}
	for _, s := range sends {
		if i := max(0, int(s.acceptAt.Sub(start)/time.Second)); i < n {
			accepted[i]++
		}
	}
	owed, got := 0, 0
	for i := range bins {
		owed += accepted[i] * endpoints
		got += received[i]
		p := latencyPercentiles(lat[i])
		bins[i] = Bin{T: float64(i + 1), Receipts: received[i], P50Ms: p.p50, P99Ms: p.p99, Backlog: max(0, owed-got)}
	}
	return bins
}

// longestGap is the longest time during which deliveries were owed and no
// receipt came. A delivery is owed from its event's send (not its accept: a
// receipt may come before the answer to the send) until its receipt.
func longestGap(rs []receipt, sends map[string]sent, endpoints int) time.Duration {
	type mark struct {
		at    time.Time
		delta int // +endpoints for a send, -1 for a receipt
	}
	marks := make([]mark, 0, len(sends)+len(rs))
	for _, s := range sends {
		marks = append(marks, mark{s.sendAt, endpoints})
	}
	for _, r := range rs {
		marks = append(marks, mark{r.at, -1})
	}
	slices.SortStableFunc(marks, func(a, b mark) int { return a.at.Compare(b.at) })
	var (
		longest time.Duration
		owed    int
		since   time.Time // the last receipt, or the send that made owed > 0
	)
	for _, m := range marks {
		if m.delta < 0 {
			if owed > 0 {
				longest = max(longest, m.at.Sub(since))
			}
			since = m.at
		} else if owed <= 0 {
			since = m.at
		}
		owed += m.delta
	}
	return longest
}
