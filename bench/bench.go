// Package bench measures Herald end to end: events POSTed to its API,
// deliveries received and verified by local HTTP receivers. In the same
// run, in interleaved rounds, it measures the Temporal floor (a bare
// workflow doing the same deliveries, in a process of its own like `herald
// dev`) and a plain sign+POST loop, so the cost of Herald's own layers
// shows as a ratio from one machine state.
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
	Events      int  // events per phase, closed loop (M)
	Endpoints   int  // endpoints each event goes to (E)
	Concurrency int  // sends in flight, closed loop (C)
	Ordered     bool // whether Herald's endpoints are ordered
	// Keys > 0 gives event i the ordering key "k<i mod Keys>": Keys lanes
	// per ordered endpoint instead of one.
	Keys   int
	Rounds int // phases per system, interleaved
	Warmup int // events each system gets before the first round, not measured

	// Rate > 0 makes the run open-loop: Rate events per second for
	// Duration, sent on schedule whatever the answers; Events and
	// Concurrency are then unused.
	Rate     float64
	Duration time.Duration

	Floor string // FloorRecorded (default), FloorBare or FloorNone

	// Source (SourceAMQP or SourceNATS) also measures Herald fed through a
	// broker source on SourceURL (empty: the broker on localhost), in the
	// same rounds; empty: no source.
	Source    string
	SourceURL string

	JSON bool   // print the result as one JSON object instead of a table
	Plot string // write receipts/s and latency over time to this SVG file
	// Timeline keeps the per-second series in a closed-loop run's result;
	// an open-loop run always keeps them.
	Timeline bool

	// Target is the URL of a running Herald, with its Token. Empty: the run
	// starts `Executable dev` itself on a temporary data dir.
	Target string
	Token  string
	// TemporalAddr is the Temporal frontend of Target, used to wait for its
	// workflows to close and count history events; empty skips both.
	TemporalAddr string
	// Versus is a second herald executable, measured in the same rounds as
	// Executable: the before/after of a change.
	Versus string
	// VersusUnordered measures, in the same rounds, a second herald dev
	// (Versus, or Executable when Versus is empty) whose endpoints are
	// unordered: the cost of order, from one machine state.
	VersusUnordered bool

	Executable string   // the herald binary, for `herald dev` and the floor
	Environ    []string // the environment those inherit (HERALD_* dropped)

	Timeout time.Duration // how long each phase may wait for its deliveries, and for its closes
	Logger  *slog.Logger  // nil discards
	// Progress gets a progress line during phases; nil: none. TTY says it
	// is a terminal (the line is then rewritten in place).
	Progress io.Writer
	TTY      bool
}

func (o *Options) check() error {
	switch {
	case o.Endpoints < 1:
		return errors.New("endpoints must be at least 1")
	case o.Rate < 0:
		return errors.New("rate must not be negative")
	case o.Rate > 0 && o.Duration <= 0:
		return errors.New("--rate needs a --duration")
	case o.Rate == 0 && o.Events < 1:
		return errors.New("events must be at least 1")
	case o.Rate == 0 && o.Concurrency < 1:
		return errors.New("concurrency must be at least 1")
	case o.Executable == "":
		return errors.New("the herald executable is needed (for the floor)")
	case o.Keys < 0:
		return errors.New("keys must not be negative")
	case o.Floor != "" && o.Floor != FloorRecorded && o.Floor != FloorBare && o.Floor != FloorNone:
		return fmt.Errorf("floor must be %q, %q or %q", FloorRecorded, FloorBare, FloorNone)
	case o.Source != "" && o.Source != SourceAMQP && o.Source != SourceNATS:
		return fmt.Errorf("source must be %q or %q", SourceAMQP, SourceNATS)
	case o.Target != "" && (o.Versus != "" || o.VersusUnordered):
		return errors.New("--versus and --versus-unordered start their own herald dev; they do not go with --target")
	}
	if o.Floor == "" {
		o.Floor = FloorRecorded
	}
	o.Rounds = max(o.Rounds, 1)
	o.Warmup = max(o.Warmup, 0)
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// events is the number of events of one measured phase.
func (o *Options) events() int {
	if o.Rate > 0 {
		return max(1, int(o.Rate*o.Duration.Seconds()))
	}
	return o.Events
}

// key is the ordering key of event i: "" without Keys.
func (o *Options) key(i int) string {
	if o.Keys <= 0 {
		return ""
	}
	return fmt.Sprintf("k%d", i%o.Keys)
}

// conns is how many connections a sender keeps open.
func (o *Options) conns() int {
	if o.Rate > 0 {
		return max(64, int(o.Rate))
	}
	return o.Concurrency
}

// Run starts the systems, measures them in interleaved rounds, and prints
// the result to stdout as a table, or as one JSON object.
func Run(ctx context.Context, o Options, stdout io.Writer) (Result, error) {
	if err := o.check(); err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	recv, err := StartReceivers(o.Logger)
	if err != nil {
		return Result{}, err
	}
	defer recv.Close()

	systems, err := startSystems(ctx, o)
	defer func() {
		// In reverse: a system may use an earlier one's process (the source
		// runs in Herald's).
		for _, s := range reversed(systems) {
			s.close(o.Logger)
		}
	}()
	if err != nil {
		return Result{}, err
	}
	res, err := runRounds(ctx, o, systems, recv)
	if err != nil {
		return res, err
	}
	if o.Plot != "" {
		if err := writePlot(o.Plot, res); err != nil {
			return res, err
		}
	}
	if !res.Settings.OpenLoop && !o.Timeline {
		res.dropTimelines()
	}
	if err := writeResult(stdout, res, o.JSON); err != nil {
		return res, fmt.Errorf("write result: %w", err)
	}
	return res, nil
}

// startSystems starts Herald, the versus Herald if any, Herald's broker
// source if any, the floor, and the raw loop (closed loop only), in the
// order their phases run in round 1.
func startSystems(ctx context.Context, o Options) ([]*system, error) {
	var out []*system
	h, err := heraldSystem(ctx, o, "herald", o.Executable, o.Ordered)
	if err != nil {
		return out, fmt.Errorf("bench herald: %w", err)
	}
	out = append(out, h)
	if o.Versus != "" || o.VersusUnordered {
		exe := o.Versus
		if exe == "" {
			exe = o.Executable
		}
		v, err := heraldSystem(ctx, o, "versus", exe, o.Ordered && !o.VersusUnordered)
		if err != nil {
			return out, fmt.Errorf("bench versus: %w", err)
		}
		out = append(out, v)
	}
	if o.Source != "" {
		src, err := sourceSystem(o, h)
		if err != nil {
			return out, fmt.Errorf("bench source: %w", err)
		}
		out = append(out, src)
	}
	if o.Floor != FloorNone {
		f, err := floorSystem(ctx, o)
		if err != nil {
			return out, fmt.Errorf("bench floor: %w", err)
		}
		out = append(out, f)
	}
	if o.Rate == 0 {
		out = append(out, rawSystem(o))
	}
	return out, nil
}

// runRounds warms every system up, then runs one phase per system per
// round. The order of the systems is reversed every other round, so a
// drift of the machine's load falls on all of them alike.
func runRounds(ctx context.Context, o Options, systems []*system, recv *Receivers) (Result, error) {
	res := newResult(o)
	rounds := map[string][]Figures{}
	pw := newProgressWriter(o.Progress, o.TTY)
	if o.Warmup > 0 {
		warm := o
		warm.Rate = 0
		warm.Concurrency = max(1, o.Concurrency)
		for _, s := range systems {
			label := s.name + " warm-up"
			if _, err := runPhase(ctx, warm, s, recv, s.name+"-warm", label, o.Warmup, pw); err != nil {
				return res, fmt.Errorf("bench %s: %w", label, err)
			}
		}
	}
	var lastHerald phaseRun
	for r := range o.Rounds {
		order := systems
		if r%2 == 1 {
			order = reversed(systems)
		}
		for _, s := range order {
			label := fmt.Sprintf("%s %d/%d", s.name, r+1, o.Rounds)
			p, err := runPhase(ctx, o, s, recv, fmt.Sprintf("%s-%d", s.name, r+1), label, o.events(), pw)
			if err != nil {
				return res, fmt.Errorf("bench %s: %w", label, err)
			}
			rounds[s.name] = append(rounds[s.name], p.Figures)
			if s.name == "herald" {
				lastHerald = p
			}
		}
	}
	res.set(rounds)
	res.Strays = recv.Strays()
	for _, s := range systems {
		if s.name == "herald" {
			if err := res.heraldExtras(ctx, o, s, lastHerald); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

func reversed(s []*system) []*system {
	out := make([]*system, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}
