// Package bench measures Herald end to end: events POSTed to its API,
// deliveries received by local HTTP receivers. In the same run it measures
// two baselines over the same receivers: a plain Go loop that signs and
// POSTs (what the hardware can do) and a bare Temporal workflow of the shape
// of Herald's hot path on an embedded server (what Temporal can do), so the
// cost of Herald's own layers shows.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Options are the settings of one run.
type Options struct {
	Events      int  // events to send (M)
	Endpoints   int  // endpoints each event goes to (E)
	Concurrency int  // requests in flight (C)
	Ordered     bool // whether Herald's endpoints are ordered
	JSON        bool // print the result as one JSON object instead of a table

	// Target is the URL of a running Herald, with its Token. Empty: the run
	// starts `Executable dev` itself on a temporary data dir.
	Target string
	Token  string
	// TemporalAddr is the Temporal frontend of Target, used only to count
	// history events; empty skips that count. Ignored without Target.
	TemporalAddr string

	Executable string   // the herald binary, for `herald dev`
	Environ    []string // the environment `herald dev` inherits (HERALD_* dropped)

	Timeout time.Duration // how long each phase may wait for its deliveries
	Logger  *slog.Logger  // nil discards
}

func (o *Options) check() error {
	switch {
	case o.Events < 1:
		return errors.New("events must be at least 1")
	case o.Endpoints < 1:
		return errors.New("endpoints must be at least 1")
	case o.Concurrency < 1:
		return errors.New("concurrency must be at least 1")
	case o.Target == "" && o.Executable == "":
		return errors.New("either a target URL or the herald executable is needed")
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Result is what a run measured. Rates are per second, latencies in
// milliseconds from the send of the request (or workflow start) to the
// receipt at the endpoint.
type Result struct {
	Events      int  `json:"events"`
	Endpoints   int  `json:"endpoints"`
	Concurrency int  `json:"concurrency"`
	Ordered     bool `json:"ordered"`

	// Herald: events accepted (202) per second, deliveries received per second.
	EventsPerS     float64 `json:"events_per_s"`
	DeliveriesPerS float64 `json:"deliveries_per_s"`
	P50Ms          float64 `json:"p50_ms"`
	P95Ms          float64 `json:"p95_ms"`
	P99Ms          float64 `json:"p99_ms"`

	RawDeliveriesPerS float64 `json:"raw_deliveries_per_s"`
	RawP50Ms          float64 `json:"raw_p50_ms"`
	RawP95Ms          float64 `json:"raw_p95_ms"`
	RawP99Ms          float64 `json:"raw_p99_ms"`

	// The floor's events/s count completed events (workflow started and
	// every endpoint received it), like Herald's deliveries_per_s / endpoints.
	FloorEventsPerS     float64 `json:"temporal_floor_events_per_s"`
	FloorDeliveriesPerS float64 `json:"temporal_floor_deliveries_per_s"`
	FloorP50Ms          float64 `json:"temporal_floor_p50_ms"`
	FloorP95Ms          float64 `json:"temporal_floor_p95_ms"`
	FloorP99Ms          float64 `json:"temporal_floor_p99_ms"`

	// Herald's deliveries/s over the baseline's deliveries/s.
	RatioVsFloor float64 `json:"ratio_vs_floor"`
	RatioVsRaw   float64 `json:"ratio_vs_raw"`

	// Average history length of a sample of Herald's event workflows; 0 when
	// not measured (a target without --temporal-address).
	HistoryEventsPerEvent float64 `json:"history_events_per_event"`
	HistorySample         int     `json:"history_sample"`

	// Herald's deliveries that arrived before one accepted before they were
	// sent (ordered endpoints only), and repeated receipts of a webhook id.
	OutOfOrder int `json:"out_of_order"`
	Duplicates int `json:"duplicates"`
	// Sampled receipts (every 100th per endpoint, all three phases) whose
	// signature did not verify, and how many were checked.
	SignatureFailures int `json:"signature_failures"`
	SignaturesChecked int `json:"signatures_checked"`

	Target string `json:"target"` // "herald dev" when the run started it
}

// Run measures Herald, then the raw loop, then the Temporal floor, one after
// another so that they do not share the CPU. Progress goes to stderr; the
// result is printed to stdout as a table, or as one JSON object.
func Run(ctx context.Context, o Options, stdout, stderr io.Writer) (Result, error) {
	if err := o.check(); err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	res := Result{Events: o.Events, Endpoints: o.Endpoints, Concurrency: o.Concurrency, Ordered: o.Ordered, Target: o.Target}

	recv, err := StartReceivers(o.Logger)
	if err != nil {
		return res, err
	}
	defer recv.Close()

	h, err := measureHerald(ctx, o, recv, stderr)
	if err != nil {
		return res, fmt.Errorf("bench herald: %w", err)
	}
	res.Target = h.target
	res.EventsPerS, res.DeliveriesPerS = h.eventsPerS, h.deliveriesPerS
	res.P50Ms, res.P95Ms, res.P99Ms = h.lat.p50, h.lat.p95, h.lat.p99
	res.OutOfOrder, res.Duplicates = h.outOfOrder, h.dups
	res.HistoryEventsPerEvent, res.HistorySample = h.historyPerEvent, h.historySample
	fmt.Fprintf(stderr, "herald: %.1f events/s accepted, %.1f deliveries/s\n", res.EventsPerS, res.DeliveriesPerS)

	raw, err := runRaw(ctx, o, recv)
	if err != nil {
		return res, fmt.Errorf("bench raw loop: %w", err)
	}
	res.RawDeliveriesPerS = raw.deliveriesPerS
	res.RawP50Ms, res.RawP95Ms, res.RawP99Ms = raw.lat.p50, raw.lat.p95, raw.lat.p99
	fmt.Fprintf(stderr, "raw loop: %.0f deliveries/s\n", res.RawDeliveriesPerS)

	floor, err := runFloor(ctx, o, recv, stderr)
	if err != nil {
		return res, fmt.Errorf("bench temporal floor: %w", err)
	}
	res.FloorEventsPerS, res.FloorDeliveriesPerS = floor.eventsPerS, floor.deliveriesPerS
	res.FloorP50Ms, res.FloorP95Ms, res.FloorP99Ms = floor.lat.p50, floor.lat.p95, floor.lat.p99
	fmt.Fprintf(stderr, "temporal floor: %.1f events/s\n", res.FloorEventsPerS)

	res.SignatureFailures = h.sigFails + raw.sigFails + floor.sigFails
	res.SignaturesChecked = h.sigChecked + raw.sigChecked + floor.sigChecked
	res.RatioVsRaw = ratio(res.DeliveriesPerS, res.RawDeliveriesPerS)
	res.RatioVsFloor = ratio(res.DeliveriesPerS, res.FloorDeliveriesPerS)

	if err := writeResult(stdout, res, o.JSON); err != nil {
		return res, fmt.Errorf("write result: %w", err)
	}
	return res, nil
}

// measureHerald runs the Herald phase against the target, or against a
// `herald dev` started for it and stopped once measured.
func measureHerald(ctx context.Context, o Options, recv *Receivers, stderr io.Writer) (heraldPhase, error) {
	t := heraldTarget{URL: o.Target, Token: o.Token, TemporalAddr: o.TemporalAddr, name: o.Target}
	if t.URL == "" {
		fmt.Fprintln(stderr, "starting herald dev...")
		dev, err := startDev(ctx, o.Executable, o.Environ, o.Logger)
		if err != nil {
			return heraldPhase{}, err
		}
		defer func() {
			if err := dev.Stop(); err != nil {
				o.Logger.Warn("stopping herald dev", "error", err)
			}
		}()
		t = heraldTarget{URL: dev.URL, Token: dev.Token, TemporalAddr: dev.TemporalAddr, name: "herald dev"}
	}
	return runHerald(ctx, o, t, recv, stderr)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
