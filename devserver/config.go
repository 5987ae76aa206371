package devserver

import (
	"net"
	"strconv"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
)

const (
	clusterName = "active"
	storeName   = "sqlite"
	// Retention of closed workflows in the namespace Herald creates.
	namespaceRetention = 7 * 24 * time.Hour
)

// dynamicConfig is every dynamic config value the embedded server runs with,
// tuned for one process on a small machine (see DESIGN.md, "What things cost").
// Keys come from the server's own setting variables, so a renamed setting fails
// the build instead of being silently ignored.
func dynamicConfig() dynamicconfig.StaticClient {
	const pollRPS = 1000
	return dynamicconfig.StaticClient{
		// One partition per task queue: there is one matching host, so the
		// default four partitions only add forwarding hops, and measured a 5 s
		// latency tail at 64 workflows in flight.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,

		// The history queue readers load new tasks from the single shard at
		// most 20 times a second by default, which adds up to 50 ms to every
		// task hop (transfer: workflow/activity tasks; timer: retries and
		// timeouts; visibility: search attributes and listing; outbound:
		// callbacks). Raising the limit cut latency at one in flight ~3x for a
		// little CPU, and costs nothing when idle.
		dynamicconfig.TransferProcessorMaxPollRPS.Key():   pollRPS,
		dynamicconfig.TimerProcessorMaxPollRPS.Key():      pollRPS,
		dynamicconfig.VisibilityProcessorMaxPollRPS.Key(): pollRPS,
		dynamicconfig.OutboundProcessorMaxPollRPS.Key():   pollRPS,

		// Herald's API uses Update-With-Start / updates, including waiting only
		// for "Accepted". Both are on by default in v1.32; set so a changed
		// default cannot silently break `herald dev`.
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key():              true,
		dynamicconfig.FrontendEnableUpdateWorkflowExecutionAsyncAccepted.Key(): true,

		// Eager workflow start hands the first workflow task back in the start
		// response when the worker is in the starting process (`herald dev`),
		// skipping matching: measured 16 ms instead of 50 ms per event.
		dynamicconfig.EnableEagerWorkflowStart.Key(): true,

		// The Web UI and the API list workflows through visibility; the
		// default per-instance limit (10/s) throttles a UI page refresh.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
	}
}

// sqliteConfig is the persistence config for the SQLite file at path.
func sqliteConfig(path string) *config.SQL {
	return &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: path,
		// Keys other than SQLite URI parameters ("mode") become PRAGMAs on
		// every connection. WAL with synchronous=normal gave 2.3-2.6x the
		// throughput of the default rollback journal and stays durable
		// across a process crash (kill -9); only an OS crash can lose the
		// last transactions. busy_timeout makes a briefly locked file wait
		// instead of failing.
		ConnectAttributes: map[string]string{
			"mode":         "rwc",
			"journal_mode": "wal",
			"synchronous":  "normal",
			"busy_timeout": "10000",
		},
	}
}

// ports are the listening ports of the four services in one process.
type ports struct {
	frontend, history, matching, worker int
	// frontendHTTP serves the frontend's HTTP API (and Nexus); without it
	// the server warns on every start.
	frontendHTTP int
}

// serverConfig is the static config of a single-process server whose services
// all listen on host. dbPath is the SQLite file.
func serverConfig(host string, p ports, dbPath string) *config.Config {
	frontendAddr := net.JoinHostPort(host, strconv.Itoa(p.frontend))
	frontendHTTPAddr := net.JoinHostPort(host, strconv.Itoa(p.frontendHTTP))
	service := func(port int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: host}}
	}

	var c config.Config
	c.Global.Membership.MaxJoinDuration = 30 * time.Second
	c.Global.Membership.BroadcastAddress = host

	c.Persistence.DefaultStore = storeName
	c.Persistence.VisibilityStore = storeName
	c.Persistence.NumHistoryShards = 1 // fixed forever once the file exists
	c.Persistence.DataStores = map[string]config.DataStore{storeName: {SQL: sqliteConfig(dbPath)}}

	// The cluster id is left empty: the server makes one on first start and
	// reads it back from the file afterwards.
	c.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontendAddr,
				HTTPAddress:            frontendHTTPAddr,
			},
		},
	}
	c.DCRedirectionPolicy.Policy = "noop"
	frontend := service(p.frontend)
	frontend.RPC.HTTPPort = p.frontendHTTP
	c.Services = map[string]config.Service{
		string(primitives.FrontendService): frontend,
		string(primitives.HistoryService):  service(p.history),
		string(primitives.MatchingService): service(p.matching),
		string(primitives.WorkerService):   service(p.worker),
	}
	c.Archival.History.State = "disabled"
	c.Archival.Visibility.State = "disabled"
	c.NamespaceDefaults.Archival.History.State = "disabled"
	c.NamespaceDefaults.Archival.Visibility.State = "disabled"
	c.PublicClient.HostPort = frontendAddr
	return &c
}

// staticHosts tells each service where the others are: with everything in one
// process there is no membership ring to join (and no membership ports).
func staticHosts(host string, p ports) map[primitives.ServiceName]static.Hosts {
	at := func(port int) static.Hosts {
		return static.SingleLocalHost(net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return map[primitives.ServiceName]static.Hosts{
		primitives.FrontendService: at(p.frontend),
		primitives.HistoryService:  at(p.history),
		primitives.MatchingService: at(p.matching),
		primitives.WorkerService:   at(p.worker),
	}
}
