package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"
)

// percentiles are latencies in milliseconds.
type percentiles struct {
	p50, p95, p99 float64
}

// latencyPercentiles sorts d and returns its 50th, 95th and 99th
// percentiles by the nearest-rank method; zero for no samples.
func latencyPercentiles(d []time.Duration) percentiles {
	if len(d) == 0 {
		return percentiles{}
	}
	slices.Sort(d)
	at := func(p float64) float64 {
		rank := int(math.Ceil(p / 100 * float64(len(d))))
		rank = max(rank, 1)
		return float64(d[rank-1]) / float64(time.Millisecond)
	}
	return percentiles{p50: at(50), p95: at(95), p99: at(99)}
}

// phase is what one of the three measurements found.
type phase struct {
	eventsPerS     float64
	deliveriesPerS float64
	lat            percentiles
	sigFails       int
	sigChecked     int
}

// measure derives a phase's figures from its recorder: deliveries/s is the
// number of receipts over the time from the first send to the last receipt.
func measure(rec *Recorder, sends map[string]sent, firstSend time.Time, events int) phase {
	all := rec.Arrivals()
	n := 0
	for _, eps := range all {
		n += len(eps)
	}
	span := lastArrival(all).Sub(firstSend).Seconds()
	return phase{
		eventsPerS:     perSecond(events, span),
		deliveriesPerS: perSecond(n, span),
		lat:            latencyPercentiles(latencies(all, sends)),
		sigFails:       rec.SignatureFailures(),
		sigChecked:     rec.Verified(),
	}
}

func perSecond(n int, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

func writeResult(w io.Writer, r Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return writeTable(w, r)
}

// writeTable prints the result for a person.
func writeTable(w io.Writer, r Result) error {
	fmt.Fprintf(w, "herald bench: %d events x %d endpoints, concurrency %d, ordered %t, against %s\n\n",
		r.Events, r.Endpoints, r.Concurrency, r.Ordered, r.Target)
	const row = "%-30s %10s %13s %9s %9s %9s\n"
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	fmt.Fprintf(w, row, "", "events/s", "deliveries/s", "p50 ms", "p95 ms", "p99 ms")
	fmt.Fprintf(w, row, "Herald (accepted; delivered)", f(r.EventsPerS, 1), f(r.DeliveriesPerS, 1), f(r.P50Ms, 1), f(r.P95Ms, 1), f(r.P99Ms, 1))
	fmt.Fprintf(w, row, "raw sign+POST loop", "-", f(r.RawDeliveriesPerS, 1), f(r.RawP50Ms, 2), f(r.RawP95Ms, 2), f(r.RawP99Ms, 2))
	fmt.Fprintf(w, row, "Temporal floor (completed)", f(r.FloorEventsPerS, 1), f(r.FloorDeliveriesPerS, 1), f(r.FloorP50Ms, 1), f(r.FloorP95Ms, 1), f(r.FloorP99Ms, 1))
	history := "not measured"
	if r.HistorySample > 0 {
		history = fmt.Sprintf("%.1f (sample of %d)", r.HistoryEventsPerEvent, r.HistorySample)
	}
	_, err := fmt.Fprintf(w, `
Herald / raw deliveries/s:    %.4f
Herald / floor deliveries/s:  %.3f
history events per event:     %s
out of order:                 %d
duplicates:                   %d
signature failures:           %d of %d checked
`, r.RatioVsRaw, r.RatioVsFloor, history, r.OutOfOrder, r.Duplicates, r.SignatureFailures, r.SignaturesChecked)
	return err
}
