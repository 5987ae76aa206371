//go:build !nodev

package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/herald-hq/herald/bench"
)

type benchCmd struct {
	Events          int           `default:"1000" help:"Events per measured phase (closed loop)."`
	Endpoints       int           `default:"1" help:"Endpoints every event is delivered to."`
	Concurrency     int           `default:"64" help:"Sends in flight (closed loop)."`
	Ordered         bool          `default:"true" negatable:"" help:"Make the endpoints ordered (--ordered=false or --no-ordered for unordered)."`
	Keys            int           `default:"0" help:"Spread the events over this many ordering keys (lanes per ordered endpoint); 0: none."`
	Rounds          int           `default:"3" help:"Phases per system, interleaved (Herald, floor, raw; reversed every other round)."`
	Warmup          int           `default:"200" help:"Events each system gets before the first round, not measured."`
	Rate            float64       `placeholder:"R" help:"Open loop: send R events per second whatever the answers (with --duration)."`
	Duration        time.Duration `placeholder:"D" help:"Open loop: how long to send at --rate."`
	Floor           string        `default:"recorded" enum:"recorded,bare,none" help:"The floor's work per event: 'recorded' (one local activity per endpoint that signs, POSTs and writes an attempt row to SQLite), 'bare' (one local activity POSTing to every endpoint, no record) or 'none' (no floor measured)."`
	Source          string        `placeholder:"amqp|nats" help:"Also measure Herald fed through a broker source: events published to a RabbitMQ queue (amqp) or a NATS JetStream stream (nats) that a source of Herald's consumes, in the same rounds."`
	SourceURL       string        `name:"source-url" placeholder:"URL" help:"The broker of --source, as Herald reaches it (default amqp://guest:guest@127.0.0.1:5672/ or nats://127.0.0.1:4222)."`
	JSON            bool          `name:"json" help:"Print one JSON object instead of a table."`
	Plot            string        `placeholder:"FILE.svg" help:"Draw receipts per second and latency over time for every phase into an SVG file."`
	Timeline        bool          `help:"Keep every phase's per-second series (receipts, p50, p99, backlog) in the JSON of a closed-loop run too (open-loop runs always keep them)."`
	Target          string        `placeholder:"URL" help:"A running Herald to measure; by default the bench starts its own 'herald dev' on a temporary data dir."`
	Token           string        `help:"API token of --target (default: HERALD_API_TOKEN)."`
	TemporalAddr    string        `name:"temporal-address" placeholder:"HOST:PORT" help:"Temporal frontend of --target, to wait for its workflows to close and count history events; omitted: neither."`
	Versus          string        `placeholder:"HERALD_BINARY" help:"Another herald binary to measure in the same rounds (a before/after of a change)."`
	VersusUnordered bool          `name:"versus-unordered" help:"Measure in the same rounds a second herald dev (--versus, or this binary) whose endpoints are unordered."`
	Timeout         time.Duration `default:"10m" help:"How long each phase may wait for its deliveries, and then for its workflows to close."`
}

// Help is the long help of `herald bench --help`: what every figure means.
func (benchCmd) Help() string {
	return `Measures Herald beside the Temporal floor (a bare workflow doing the same deliveries on the same
embedded server, in a process of its own like 'herald dev') and a plain sign+POST loop, in
interleaved rounds. Every receipt is verified with the official Standard Webhooks library.

Per system, every figure is given as the median and the range over the rounds:
  accepted_events_per_s       events answered 2xx / (first send .. last answer)
  delivered_per_s             distinct receipts / (first send .. last receipt)
  completed_deliveries_per_s  distinct receipts / (first send .. every workflow of the phase closed)
  window_s                    first send .. every workflow of the phase closed
  cpu_s, cpu_ms_per_delivery  CPU of the system's own process over window_s, from /proc; per receipt
  cpu_after_last_receipt_s    the part of cpu_s after the last receipt
  cores                       cpu_s / window_s
  rss_mib                     resident memory of the process at the end of the phase
  send_to_receipt_*_ms        from sending an event to each of its receipts (p50, p95, p99, max)
  accept_to_receipt_*_ms      from the answer to the send to each receipt (negative: receipt first)
  backlog_max                 most deliveries owed and not yet received, sampled every second
  receipt_gap_max_ms          longest time deliveries were owed and none arrived (a stall)
  send_errors, signature_failures, signatures_checked, duplicates, unknown_ids, out_of_order
  timeline                    per second of the phase: receipts, p50_ms, p99_ms, backlog
                              (open loop, or --timeline)
herald_over_floor gives, round by round, Herald's figure over the floor's (CPU per delivery,
delivered/s, completed/s), then their median and range. The raw loop runs in the bench's own
process: it has no CPU figures.

With --source, Herald's own process is also measured fed through a broker source instead of the
API: a send is the publish and its accept the broker's confirm, so accepted_events_per_s is the
producer's pace and accept_to_receipt runs from the moment the bus has the message. The broker's
CPU is not counted. source_over_herald and source_over_floor are its ratios, as above.
See docs/performance.md and docs/brokers.md.`
}

// Run runs the bench.
func (c *benchCmd) Run(e *env) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the herald executable: %w", err)
	}
	token := c.Token
	if token == "" && c.Target != "" {
		token = e.getenv("HERALD_API_TOKEN")
	}
	tty := isTerminal(e.stderr)
	var progress io.Writer = e.stderr
	if c.JSON && !tty {
		progress = nil
	}
	_, err = bench.Run(e.ctx, bench.Options{
		Events:          c.Events,
		Endpoints:       c.Endpoints,
		Concurrency:     c.Concurrency,
		Ordered:         c.Ordered,
		Keys:            c.Keys,
		Rounds:          c.Rounds,
		Warmup:          c.Warmup,
		Rate:            c.Rate,
		Duration:        c.Duration,
		Floor:           c.Floor,
		Source:          c.Source,
		SourceURL:       c.SourceURL,
		JSON:            c.JSON,
		Plot:            c.Plot,
		Timeline:        c.Timeline,
		Target:          c.Target,
		Token:           token,
		TemporalAddr:    c.TemporalAddr,
		Versus:          c.Versus,
		VersusUnordered: c.VersusUnordered,
		Executable:      exe,
		Environ:         os.Environ(),
		Timeout:         c.Timeout,
		Logger:          newLogger(e.stderr, "warn"),
		Progress:        progress,
		TTY:             tty,
	}, e.stdout)
	return err
}

// benchFloorCmd is the floor's process, started by `herald bench`.
type benchFloorCmd struct{}

func (benchFloorCmd) Run(e *env) error {
	return bench.ServeFloor(e.ctx, bench.FloorConfig{
		DataDir:      e.getenv("HERALD_DATA_DIR"),
		HTTPAddr:     e.getenv("HERALD_HTTP_ADDR"),
		TemporalAddr: e.getenv("HERALD_DEV_TEMPORAL_ADDR"),
		Token:        e.getenv("HERALD_API_TOKEN"),
		Logger:       newLogger(e.stderr, "warn"),
	})
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
