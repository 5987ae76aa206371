package main

import (
	"context"
	"fmt"
	"io"

	"github.com/alecthomas/kong"
)

type cli struct {
	Dev     devCmd     `cmd:"" help:"Run everything in one process: embedded Temporal server and Web UI, a worker and the API, state in HERALD_DATA_DIR."`
	API     apiCmd     `cmd:"" name:"api" help:"Run the HTTP API against an external Temporal (HERALD_TEMPORAL_ADDRESS) and Postgres (HERALD_DATABASE_URL)."`
	Worker  workerCmd  `cmd:"" help:"Run a delivery worker against an external Temporal and Postgres."`
	Migrate migrateCmd `cmd:"" help:"Apply the database migrations to HERALD_DATABASE_URL."`
	Rekey   rekeyCmd   `cmd:"" help:"Re-encrypt every stored secret with the first key of HERALD_ENCRYPTION_KEYS (after adding a new key first)."`
	Bench   benchCmd   `cmd:"" help:"Measure Herald against verifying local receivers, beside the bare Temporal floor and a plain sign+POST loop, in interleaved rounds."`
	Listen  listenCmd  `cmd:"" help:"Receive webhooks on this machine: verify, print and forward each delivery (with --target, from a temporary endpoint of a running Herald)."`
	Events  eventsCmd  `cmd:"" help:"Get, cancel or replay one event through the API (HERALD_API_URL, HERALD_API_TOKEN): what the Temporal signals do, without the Temporal CLI."`
	Version versionCmd `cmd:"" help:"Print the version."`
	Health  healthCmd  `cmd:"" help:"Exit 0 when this host's Herald (at HERALD_HTTP_ADDR) answers /readyz with 200: a container health check for images without curl."`

	BenchFloor benchFloorCmd `cmd:"" name:"bench-floor" hidden:"" help:"The Temporal floor's process, started by 'herald bench'."`
}

// helpExit is how kong's exit after --help reaches run without leaving the process.
type helpExit int

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name("herald"),
		kong.Description("Herald delivers webhooks durably, on Temporal. Configuration is read from HERALD_* environment variables (see README)."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(helpExit(code)) }),
		kong.UsageOnError(),
	)
	if err != nil {
		return fmt.Errorf("build command line: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			code, ok := r.(helpExit)
			if !ok {
				panic(r)
			}
			if code != 0 {
				err = fmt.Errorf("exit status %d", code)
			}
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		return err
	}
	return kctx.Run(&env{ctx: ctx, getenv: getenv, stdout: stdout, stderr: stderr})
}

type versionCmd struct{}

func (versionCmd) Run(e *env) error {
	_, err := fmt.Fprintln(e.stdout, "herald", versionString())
	return err
}
