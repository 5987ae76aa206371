package prodtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/herald-hq/herald/internal/searchattr"
)

// Temporal is a Temporal server process on two Postgres databases.
type Temporal struct {
	*Proc
	Addr       string // frontend gRPC host:port
	MetricsURL string // the server's Prometheus endpoint
	Namespace  string
	pg         *postgres
	databases  []string
	configPath string // the server's config file
}

// serverConfig is what the config template needs.
type serverConfig struct {
	PGHost, PGPort, PGUser, PGPassword   string
	DB, VisibilityDB                     string
	Frontend, FrontendHTTP, Metrics      int
	History, Matching, Worker            int
	FrontendM, HistoryM, MatchingM, WorM int
	Shards                               int
}

// The server's static config: Postgres persistence, every service on
// 127.0.0.1 with its own ports, Prometheus metrics. Four history shards,
// as the server image's default. Small pools: each of the four services
// opens its own, on a Postgres that other packages' tests use at the same
// time (20 each, with Herald's processes, ran out of its 100 connections).
var configTemplate = template.Must(template.New("config").Parse(`log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: {{.Shards}}
  datastores:
    default:
      sql:
        pluginName: postgres12
        databaseName: {{.DB}}
        connectAddr: "{{.PGHost}}:{{.PGPort}}"
        connectProtocol: tcp
        user: "{{.PGUser}}"
        password: "{{.PGPassword}}"
        maxConns: 5
        maxIdleConns: 5
        maxConnLifetime: 1h
    visibility:
      sql:
        pluginName: postgres12
        databaseName: {{.VisibilityDB}}
        connectAddr: "{{.PGHost}}:{{.PGPort}}"
        connectProtocol: tcp
        user: "{{.PGUser}}"
        password: "{{.PGPassword}}"
        maxConns: 4
        maxIdleConns: 4
        maxConnLifetime: 1h
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
  metrics:
    prometheus:
      framework: tally
      timerType: histogram
      listenAddress: "127.0.0.1:{{.Metrics}}"
services:
  frontend:
    rpc: {grpcPort: {{.Frontend}}, membershipPort: {{.FrontendM}}, bindOnIP: 127.0.0.1, httpPort: {{.FrontendHTTP}}}
  history:
    rpc: {grpcPort: {{.History}}, membershipPort: {{.HistoryM}}, bindOnIP: 127.0.0.1}
  matching:
    rpc: {grpcPort: {{.Matching}}, membershipPort: {{.MatchingM}}, bindOnIP: 127.0.0.1}
  worker:
    rpc: {grpcPort: {{.Worker}}, membershipPort: {{.WorM}}, bindOnIP: 127.0.0.1}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:{{.Frontend}}"
dcRedirectionPolicy:
  policy: noop
`))

// startTemporal takes steps 1 to 3 of the package comment.
func startTemporal(ctx context.Context, bin Binaries, pg *postgres, dir, namespace string, logf func(string, ...any)) (t *Temporal, err error) {
	t = &Temporal{Namespace: namespace, pg: pg}
	defer func() {
		if err != nil {
			t.close(context.Background())
		}
	}()
	base := randomName("herald_prodtest")
	cfg := serverConfig{PGHost: pg.host, PGPort: pg.port, PGUser: pg.user, PGPassword: pg.password,
		DB: base + "_temporal", VisibilityDB: base + "_visibility", Shards: 4}
	for _, db := range []struct{ name, schema string }{{cfg.DB, "temporal"}, {cfg.VisibilityDB, "visibility"}} {
		t.databases = append(t.databases, db.name)
		if err := setupSchema(ctx, bin, pg, db.name, filepath.Join(bin.SchemaDir, db.schema, "versioned"), dir); err != nil {
			return t, err
		}
	}
	ports, err := freePorts(11)
	if err != nil {
		return t, err
	}
	cfg.Frontend, cfg.FrontendHTTP, cfg.Metrics = ports[0], ports[1], ports[2]
	cfg.History, cfg.Matching, cfg.Worker = ports[3], ports[4], ports[5]
	cfg.FrontendM, cfg.HistoryM, cfg.MatchingM, cfg.WorM = ports[6], ports[7], ports[8], ports[9]
	var yaml strings.Builder
	if err := configTemplate.Execute(&yaml, cfg); err != nil {
		return t, fmt.Errorf("render server config: %w", err)
	}
	cfgPath := filepath.Join(dir, "temporal.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml.String()), 0o600); err != nil {
		return t, err
	}
	t.Addr = "127.0.0.1:" + strconv.Itoa(cfg.Frontend)
	t.MetricsURL = "http://127.0.0.1:" + strconv.Itoa(cfg.Metrics) + "/metrics"
	t.configPath = cfgPath
	t.Proc = newProc("temporal-server", bin.Server, []string{"--config-file", cfgPath, "--allow-no-auth", "start"},
		os.Environ(), filepath.Join(dir, "temporal.log"))
	start := time.Now()
	if err := t.Start(); err != nil {
		return t, err
	}
	if err := t.WaitReady(ctx); err != nil {
		return t, err
	}
	logf("prodtest: Temporal server ready at %s in %s", t.Addr, time.Since(start).Round(time.Millisecond))
	if err := t.setupNamespace(ctx); err != nil {
		return t, err
	}
	return t, nil
}

// setupSchema runs Temporal's SQL tool the way the admin-tools image does:
// create the database, set up version 0.0, then update to the newest.
func setupSchema(ctx context.Context, bin Binaries, pg *postgres, db, versioned, dir string) error {
	common := []string{"--plugin", "postgres12", "--ep", pg.host, "-p", pg.port, "-u", pg.user, "--db", db}
	if pg.password != "" {
		common = append(common, "--pw", pg.password)
	}
	for _, step := range [][]string{
		{"create-database"},
		{"setup-schema", "-v", "0.0"},
		{"update-schema", "-d", versioned},
	} {
		cmd := exec.CommandContext(ctx, bin.SQLTool, append(append([]string{}, common...), step...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("temporal-sql-tool %s on %s: %w\n%s", step[0], db, err, out)
		}
	}
	return nil
}

// WaitReady waits until the frontend answers health checks (after a start
// or a restart), or the process ends.
func (t *Temporal) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	return retry(ctx, t.Proc, func() error {
		c, err := client.DialContext(ctx, client.Options{HostPort: t.Addr, Namespace: "temporal-system", Logger: quietLogger{}})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	})
}

// setupNamespace creates the namespace, then adds Herald's search
// attributes through the operator service, as an operator runs
// `temporal operator namespace create` and `... search-attribute create`.
// Both retry while the new server settles, and fail hard at the deadline.
func (t *Temporal) setupNamespace(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: t.Addr, Namespace: t.Namespace, Logger: quietLogger{}})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", t.Addr, err)
	}
	defer c.Close()
	err = retry(ctx, t.Proc, func() error {
		_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: t.Namespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if errors.As(err, &exists) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", t.Namespace, err)
	}
	err = retry(ctx, t.Proc, func() error {
		missing, err := searchattr.Missing(ctx, c.OperatorService(), t.Namespace)
		if err != nil {
			return err
		}
		return searchattr.Add(ctx, c.OperatorService(), t.Namespace, missing)
	})
	if err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}

// retry calls f until it succeeds, ctx ends or proc dies.
func retry(ctx context.Context, proc *Proc, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		if !proc.Running() {
			return fmt.Errorf("%s exited: %v\n%s", proc.Name, err, proc.LogTail(30))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)\n%s", ctx.Err(), err, proc.LogTail(30))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// close stops the server and drops its databases.
func (t *Temporal) close(ctx context.Context) error {
	var errs []error
	if t.Proc != nil {
		errs = append(errs, t.Stop(30*time.Second))
	}
	for _, db := range t.databases {
		errs = append(errs, t.pg.dropDatabase(ctx, db))
	}
	return errors.Join(errs...)
}

// quietLogger keeps the harness's own SDK clients silent: the server's
// start-up makes them log retries that mean nothing.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
