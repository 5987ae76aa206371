package main

import (
	"fmt"
	"os"
	"time"

	"github.com/herald-hq/herald/bench"
)

type benchCmd struct {
	Events       int           `default:"1000" help:"Events to send."`
	Endpoints    int           `default:"1" help:"Endpoints every event is delivered to."`
	Concurrency  int           `default:"64" help:"Requests in flight."`
	Ordered      bool          `default:"true" negatable:"" help:"Make the endpoints ordered (--ordered=false or --no-ordered for unordered)."`
	JSON         bool          `name:"json" help:"Print one JSON object instead of a table."`
	Target       string        `placeholder:"URL" help:"A running Herald to measure; by default the bench starts its own 'herald dev' on a temporary data dir."`
	Token        string        `help:"API token of --target (default: HERALD_API_TOKEN)."`
	TemporalAddr string        `name:"temporal-address" placeholder:"HOST:PORT" help:"Temporal frontend of --target, to count history events per event; omitted: not counted."`
	Timeout      time.Duration `default:"10m" help:"How long each phase may wait for its deliveries."`
}

// Run measures Herald beside a plain sign+POST loop and a bare Temporal
// workflow of the same shape, all in this run.
func (c *benchCmd) Run(e *env) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the herald executable: %w", err)
	}
	token := c.Token
	if token == "" && c.Target != "" {
		token = e.getenv("HERALD_API_TOKEN")
	}
	_, err = bench.Run(e.ctx, bench.Options{
		Events:       c.Events,
		Endpoints:    c.Endpoints,
		Concurrency:  c.Concurrency,
		Ordered:      c.Ordered,
		JSON:         c.JSON,
		Target:       c.Target,
		Token:        token,
		TemporalAddr: c.TemporalAddr,
		Executable:   exe,
		Environ:      os.Environ(),
		Timeout:      c.Timeout,
		Logger:       newLogger(e.stderr, "warn"),
	}, e.stdout, e.stderr)
	return err
}
