package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/herald-hq/herald/activities"
	"github.com/herald-hq/herald/worker"
)

// setting is one HERALD_* variable as `--help` shows it. The table below is
// the list of record; a test checks it against what loadConfig reads.
type setting struct {
	name  string
	def   string // "" when there is none (or it is computed, as help says)
	modes []mode // the commands that read it
	help  string
}

var (
	allRun   = []mode{modeDev, modeAPI, modeWorker}
	prodRun  = []mode{modeAPI, modeWorker}
	withDB   = []mode{modeDev, modeAPI, modeWorker, modeMigrate}
	onlyDev  = []mode{modeDev}
	onlyAPI  = []mode{modeAPI}
	apiAndDe = []mode{modeDev, modeAPI}
)

func settings() []setting {
	return []setting{
		{"HERALD_HTTP_ADDR", "127.0.0.1:8080", allRun, "where the API listens (a worker serves /healthz, /readyz, /metrics there)"},
		{"HERALD_API_TOKEN", "", apiAndDe, "the bearer token clients send (required by api; dev makes one)"},
		{"HERALD_DATABASE_URL", "", withDB, "postgres://user:pass@host:5432/db (dev: a SQLite file in the data dir)"},
		{"HERALD_TEMPORAL_ADDRESS", "", prodRun, "host:port of the Temporal frontend (required)"},
		{"HERALD_TEMPORAL_NAMESPACE", "default", allRun, "the Temporal namespace"},
		{"HERALD_TEMPORAL_TLS", "auto", prodRun, "auto (on when a TLS setting or an API key is set), true or false"},
		{"HERALD_TEMPORAL_TLS_CERT", "", prodRun, "PEM client certificate for mTLS (with HERALD_TEMPORAL_TLS_KEY)"},
		{"HERALD_TEMPORAL_TLS_KEY", "", prodRun, "PEM private key of the client certificate"},
		{"HERALD_TEMPORAL_TLS_CA", "", prodRun, "PEM CA certificates for the server (default: the system's)"},
		{"HERALD_TEMPORAL_TLS_SERVER_NAME", "", prodRun, "server name to verify (default: the address's host)"},
		{"HERALD_TEMPORAL_API_KEY", "", prodRun, "API key (Temporal Cloud); turns TLS on unless HERALD_TEMPORAL_TLS=false"},
		{"HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES", "false", prodRun, "add Herald's search attributes when missing instead of stopping"},
		{"HERALD_WORKER_WORKFLOW_TASKS", strconv.Itoa(worker.DefaultWorkflowTasks), allRun, "workflow tasks run at once (each holds its slot while its first attempts POST)"},
		{"HERALD_WORKER_LOCAL_ACTIVITIES", strconv.Itoa(worker.DefaultLocalActivities), allRun, "local activities (attempts, store calls) run at once"},
		{"HERALD_WORKER_POLLERS", strconv.Itoa(worker.DefaultWorkflowTaskPollers), allRun, "long polls for workflow tasks"},
		{"HERALD_LANE_DRAIN_MAX", strconv.Itoa(activities.DefaultDrainMax), allRun, "deliveries one drain of an ordered lane makes in a row (an heir is chosen from half of them on)"},
		{"HERALD_EAGER_START", "true", onlyAPI, "run a worker in the API process and start event workflows on it"},
		{"HERALD_DATA_DIR", "./.herald", onlyDev, "where herald dev keeps its state (locked while it runs)"},
		{"HERALD_DEV_TEMPORAL_ADDR", "127.0.0.1:7233", onlyDev, "the embedded Temporal frontend"},
		{"HERALD_DEV_UI_ADDR", "127.0.0.1:8233", onlyDev, "the embedded Temporal Web UI"},
		{"HERALD_DEV_TEMPORAL_RETENTION", "24h", onlyDev, "how long the embedded server keeps closed workflows' histories"},
		{"HERALD_RETRY_SCHEDULE", defaultRetrySchedule, allRun, "delays before attempts 2, 3, ... (none: one attempt)"},
		{"HERALD_DELIVERY_TIMEOUT", "15s", allRun, "bound of one attempt"},
		{"HERALD_MAX_PAYLOAD_BYTES", "1048576", apiAndDe, "largest accepted request body"},
		{"HERALD_SECRET_OVERLAP", "24h", apiAndDe, "how long a rotated key keeps signing beside the new one"},
		{"HERALD_IDEMPOTENCY_WINDOW", "24h", apiAndDe, "how long a repeated event id is recognised"},
		{"HERALD_DISABLE_AFTER", "5d", allRun, "an endpoint whose every delivery failed this long is disabled"},
		{"HERALD_ALLOW_PRIVATE_NETWORKS", "false (dev: true)", allRun, "allow endpoints on private and loopback addresses"},
		{"HERALD_LOG_LEVEL", "info", allRun, "debug, info, warn or error"},
		{"HERALD_LOG_FORMAT", "text", allRun, "text or json (one object a line)"},
		{"HERALD_ENCRYPTION_KEYS", "dev: a key kept in the data dir", allRun, "comma-separated base64 32-byte keys; the first seals secrets at rest, all open them"},
		{"HERALD_RETENTION", "7d", allRun, "final events older than this are removed (at least HERALD_IDEMPOTENCY_WINDOW)"},
		{"HERALD_DEBUG_ADDR", "", allRun, "serve Go's pprof profiles on this host:port"},
		{"HERALD_PUBLIC_URL", "http:// + HERALD_HTTP_ADDR", apiAndDe, "base of consumer portal links"},
		{"HERALD_PORTAL_FRAME_ANCESTORS", "", apiAndDe, "origins allowed to frame the portal (default: none)"},
	}
}

// settingsHelp is the list of m's variables for its --help.
func settingsHelp(m mode) string {
	var b strings.Builder
	b.WriteString("Environment:\n")
	for _, s := range settings() {
		if !hasMode(s.modes, m) {
			continue
		}
		def := ""
		if s.def != "" {
			def = " (default " + s.def + ")"
		}
		fmt.Fprintf(&b, "  %s%s\n      %s\n", s.name, def, s.help)
	}
	return strings.TrimRight(b.String(), "\n")
}

func hasMode(ms []mode, m mode) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

// Help methods give each command's --help its variables (kong shows a
// command's Help() under its usage).
func (devCmd) Help() string     { return settingsHelp(modeDev) }
func (apiCmd) Help() string     { return settingsHelp(modeAPI) }
func (workerCmd) Help() string  { return settingsHelp(modeWorker) }
func (migrateCmd) Help() string { return settingsHelp(modeMigrate) }
