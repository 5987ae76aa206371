package devserver

import (
	"log/slog"
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
	// visibilityStoreName is the data store of the visibility file.
	visibilityStoreName = "sqlite-visibility"
	// namespaceRetention is the default retention of closed workflows in
	// the namespace (Config.Retention): Herald's own store keeps the
	// queryable record for HERALD_RETENTION; Temporal's histories, ~20 KB an
	// event, are for debugging recent runs.
	namespaceRetention = 24 * time.Hour
)

// tuning holds the embedded server's performance settings. Start runs with
// defaultTuning(); Config.tuning (unexported, so not part of the API) lets the
// measurement in tuning_test.go start a server with one setting changed. Each
// default is there because of a figure in docs/devserver-tuning.md.
type tuning struct {
	journalMode string // SQLite journal_mode: "wal" or "delete"
	synchronous string // SQLite synchronous: "normal" or "full"
	partitions  int    // read and write partitions per task queue
	// pollRPS caps how often each history queue reader loads tasks; 0 leaves
	// the server's default (20/s).
	pollRPS int
	// shards is the number of history shards; it is fixed forever once a
	// database file exists, so changing it breaks existing data dirs.
	shards int32
	// maxConns is the SQLite plugin's connection pool size; 0 leaves the
	// plugin's default of one connection.
	maxConns int
	// shardIOConcurrency is how many persistence calls a history shard makes
	// at once; 0 leaves the server's default of one.
	shardIOConcurrency int
	// cacheKiB is the SQLite page cache per connection; 0 leaves SQLite's
	// default (2 MiB).
	cacheKiB int
	// walAutocheckpoint is how many WAL pages a commit may leave before it
	// copies them back into the database file; 0 leaves SQLite's 1,000.
	walAutocheckpoint int
	// raiseLimits lifts the frontend, history and matching RPS limits and
	// the persistence QPS limits far above what one process can reach.
	raiseLimits bool
	// logLevel is the least level of Temporal's own logs passed to
	// Config.Logger.
	logLevel slog.Level
	// separateVisibility puts Temporal's visibility store in a SQLite file
	// of its own (VisibilityFile), with its own connection.
	separateVisibility bool
	// historyCacheEntries bounds the history service's cache of workflow
	// mutable state, in entries; 0 leaves the server's default bound of
	// 128,000 entries (sized for a cluster host: no bound for one process).
	historyCacheEntries int
	// visibilityWorkers is how many goroutines write visibility records;
	// 0 leaves the server's 512.
	visibilityWorkers int
	// trimVisibilityIndexes drops the visibility table's indexes on columns
	// nothing here filters by (visindex.go).
	trimVisibilityIndexes bool
	// queueCheckpoint is how often each history task queue forgets the
	// tasks it has completed; 0 leaves the server's 30 s.
	queueCheckpoint time.Duration
}

// defaultTuning is what Start runs with. See docs/devserver-tuning.md for the
// figures behind each value.
func defaultTuning() tuning {
	return tuning{
		journalMode: "wal",
		synchronous: "normal",
		partitions:  1,
		pollRPS:     1000,
		shards:      1,
		logLevel:    slog.LevelWarn,
		// The SQL plugin shares one connection per file among all four
		// services; visibility's inserts at start and close (a third of the
		// server's CPU) then queue behind history's writes. Its own file
		// gives it its own connection and write lock.
		separateVisibility: true,
		// Far more than the workflows open at once in one process (3 to 11
		// at a steady 7.7 events/s; the rest are closed ones, touched again
		// only when retention deletes them). Full, it held ~4.5 MB of live
		// heap in the soak of docs/devserver-tuning.md.
		historyCacheEntries: 1024,
		// Visibility has one SQLite connection, and each of its task's
		// writes must finish within 3 s (a constant of the server) or is
		// abandoned and retried. With 512 writers queued on the connection
		// under load, most of them timed out waiting and were retried, up
		// to 20 times each: a third of the server's CPU was visibility,
		// much of it redone. A few writers keep the queue in the
		// scheduler, where waiting costs nothing.
		visibilityWorkers: 4,
		// At SQLite's default every 1,000 pages (~4 MB) a commit stops to
		// copy the WAL back into the file and sync it, the hot index pages
		// of every visibility and mutable-state write copied again each
		// time, while the one connection waits. Every 10,000 (a WAL of up
		// to ~40 MB per file): 0.80 x the CPU per delivery and 1.28 x the
		// deliveries per second, in all three rounds of one A/B
		// (docs/devserver-tuning.md).
		walAutocheckpoint: 10_000,
		// A workflow's close record writes an entry in every index of the
		// visibility table, 58 of them, and nothing here filters by 48:
		// without those, about 0.85-0.9 x the CPU per delivery and 1.1-1.2 x
		// the deliveries per second (docs/devserver-tuning.md).
		trimVisibilityIndexes: true,
		// A history queue keeps every task it ran until its next
		// checkpoint, and each new range of tasks read (up to pollRPS a
		// second) walks and copies all of them: 30 s of tasks under load
		// made that walk 12% of the process's CPU and a sixth of its
		// allocations (docs/devserver-tuning.md).
		queueCheckpoint: time.Second,
	}
}

// dynamicConfig is every dynamic config value the embedded server runs with,
// tuned for one process on a small machine (see docs/devserver-tuning.md).
// Keys come from the server's own setting variables, so a renamed setting
// fails the build instead of being silently ignored.
func dynamicConfig(t tuning) dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{
		// One partition per task queue: there is one matching host, so the
		// default four partitions only add forwarding hops (measured: 0.92x
		// workflows/s, 1.25x p50 with four).
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  t.partitions,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): t.partitions,

		// Herald's API uses Update-With-Start / updates, including waiting only
		// for "Accepted". Both are on by default in v1.32; set so a changed
		// default cannot silently break `herald dev`.
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key():              true,
		dynamicconfig.FrontendEnableUpdateWorkflowExecutionAsyncAccepted.Key(): true,

		// Eager workflow start hands the first workflow task back in the start
		// response when the worker is in the starting process (`herald dev`),
		// skipping matching. On by default in v1.32; set for the same reason.
		dynamicconfig.EnableEagerWorkflowStart.Key(): true,

		// Event workflows' tasks carry priority keys (1 to 5): a lane's
		// wake goes before everything, queued ordered events' delayed first
		// tasks after everything (see dispatch). The priority matcher that
		// honours them, with 5 levels, is the default in v1.32; set for the
		// same reason.
		dynamicconfig.MatchingUseNewMatcher.Key():  true,
		dynamicconfig.MatchingPriorityLevels.Key(): 5,

		// The Web UI and the API list workflows through visibility; the
		// default per-instance limit (10/s) throttles a UI page refresh.
		// Not on the delivery path, so not in the measurement.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
	}
	if t.pollRPS > 0 {
		// The history queue readers load new tasks from a shard at most 20
		// times a second by default, which adds up to 50 ms to every task
		// hop (transfer: workflow/activity tasks; timer: retries and
		// timeouts; visibility: search attributes and listing; outbound:
		// callbacks). Measured at 1000: a non-eager hop (signal, timer,
		// regular activity) 9 ms p50 instead of 50 ms, for ~15% of the
		// eager floor's throughput; see docs/devserver-tuning.md.
		setEach(dc, t.pollRPS,
			dynamicconfig.TransferProcessorMaxPollRPS.Key(),
			dynamicconfig.TimerProcessorMaxPollRPS.Key(),
			dynamicconfig.VisibilityProcessorMaxPollRPS.Key(),
			dynamicconfig.OutboundProcessorMaxPollRPS.Key())
	}
	if t.raiseLimits {
		setEach(dc, 1_000_000,
			dynamicconfig.FrontendRPS.Key(),
			dynamicconfig.FrontendMaxNamespaceRPSPerInstance.Key(),
			dynamicconfig.HistoryRPS.Key(),
			dynamicconfig.MatchingRPS.Key(),
			dynamicconfig.FrontendPersistenceMaxQPS.Key(),
			dynamicconfig.HistoryPersistenceMaxQPS.Key(),
			dynamicconfig.MatchingPersistenceMaxQPS.Key())
	}
	if t.historyCacheEntries > 0 {
		// The default bound (128,000 entries, an hour's TTL) let a steady
		// 17 events/s grow the process by ~670 MB in 15 minutes: every
		// closed workflow's mutable state stayed for the hour. Bounded by
		// a count sized for one process, the cache evicts the least recently
		// used instead. Not by bytes: the server's size-based cache reads a
		// workflow's size without its lock (a data race the race detector
		// reports in herald dev under load).
		dc[dynamicconfig.HistoryCacheHostLevelMaxSize.Key()] = t.historyCacheEntries
		dc[dynamicconfig.HistoryCacheTTL.Key()] = 10 * time.Minute
		// One shard: the shard-level events cache is the only one (the
		// host-level one is off by default); keep it at its 512 KiB.
		dc[dynamicconfig.EventsCacheMaxSizeBytes.Key()] = 512 << 10
	}
	// Replication between clusters is off (one cluster, no global
	// namespaces), but its two task schedulers still start 512 and 128
	// idle worker goroutines (measured: 640 of ~3,100 goroutines), and every
	// history write still goes into the replication events cache (8 MiB).
	// One worker each and the cache's 64 KiB floor.
	dc[dynamicconfig.ReplicationProcessorSchedulerWorkerCount.Key()] = 1
	dc[dynamicconfig.ReplicationLowPriorityProcessorSchedulerWorkerCount.Key()] = 1
	dc[dynamicconfig.XDCCacheMaxSizeBytes.Key()] = 64 << 10
	if t.visibilityWorkers > 0 {
		dc[dynamicconfig.VisibilityProcessorSchedulerWorkerCount.Key()] = t.visibilityWorkers
	}
	if t.shardIOConcurrency > 0 {
		dc[dynamicconfig.ShardIOConcurrency.Key()] = t.shardIOConcurrency
	}
	if t.queueCheckpoint > 0 {
		setEach(dc, t.queueCheckpoint,
			dynamicconfig.TransferProcessorUpdateAckInterval.Key(),
			dynamicconfig.TimerProcessorUpdateAckInterval.Key(),
			dynamicconfig.VisibilityProcessorUpdateAckInterval.Key(),
			dynamicconfig.OutboundProcessorUpdateAckInterval.Key())
	}
	return dc
}

// setEach gives every key the one value v.
func setEach(dc dynamicconfig.StaticClient, v any, keys ...dynamicconfig.Key) {
	for _, k := range keys {
		dc[k] = v
	}
}

// sqliteConfig is the persistence config for the SQLite file at path.
func sqliteConfig(path string, t tuning) *config.SQL {
	c := &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: path,
		MaxConns:     t.maxConns,
		MaxIdleConns: t.maxConns,
		// Keys other than SQLite URI parameters ("mode") become PRAGMAs on
		// every connection. WAL gave 2.2x the workflows/s of the default
		// rollback journal and synchronous=normal 1.3x "full", on one
		// connection (the plugin's default; four gave 0.4x). WAL with
		// synchronous=normal stays durable across a process crash (kill -9);
		// only an OS crash can lose the last transactions. busy_timeout
		// makes a briefly locked file wait instead of failing.
		ConnectAttributes: map[string]string{
			"mode":         "rwc",
			"journal_mode": t.journalMode,
			"synchronous":  t.synchronous,
			"busy_timeout": "10000",
		},
	}
	if t.cacheKiB > 0 {
		c.ConnectAttributes["cache_size"] = strconv.Itoa(-t.cacheKiB)
	}
	if t.walAutocheckpoint > 0 {
		c.ConnectAttributes["wal_autocheckpoint"] = strconv.Itoa(t.walAutocheckpoint)
	}
	return c
}

// ports are the listening ports of the four services in one process.
type ports struct {
	frontend, history, matching, worker int
	// frontendHTTP serves the frontend's HTTP API (and Nexus); without it
	// the server warns on every start.
	frontendHTTP int
}

// serverConfig is the static config of a single-process server whose services
// all listen on host. dbPath is the SQLite file; visPath, when set, the
// visibility store's.
func serverConfig(host string, p ports, dbPath, visPath string, t tuning) *config.Config {
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
	c.Persistence.NumHistoryShards = t.shards // fixed forever once the file exists
	c.Persistence.DataStores = map[string]config.DataStore{storeName: {SQL: sqliteConfig(dbPath, t)}}
	if visPath != "" {
		c.Persistence.VisibilityStore = visibilityStoreName
		c.Persistence.DataStores[visibilityStoreName] = config.DataStore{SQL: sqliteConfig(visPath, t)}
	}

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
