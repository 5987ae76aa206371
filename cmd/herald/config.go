package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/herald-hq/herald/seal"
)

// Config is everything Herald reads from its environment. Only this file
// reads variables; the rest of the program gets values from Config.
type Config struct {
	HTTPAddr             string
	APIToken             string
	DatabaseURL          string
	TemporalAddress      string
	TemporalNamespace    string
	DataDir              string
	RetrySchedule        []time.Duration
	DeliveryTimeout      time.Duration
	MaxPayloadBytes      int
	SecretOverlap        time.Duration
	IdempotencyWindow    time.Duration
	DisableAfter         time.Duration
	AllowPrivateNetworks bool
	DevTemporalAddr      string
	DevUIAddr            string
	LogLevel             string
	LogFormat            string // text or json
	// EncryptionKeys seal secrets at rest (HERALD_ENCRYPTION_KEYS); in
	// `herald dev` a key file in the data dir when unset.
	EncryptionKeys string
	// Retention is how long events are kept (HERALD_RETENTION);
	// DevTemporalRetention how long the embedded server keeps closed
	// workflows (HERALD_DEV_TEMPORAL_RETENTION).
	Retention            time.Duration
	DevTemporalRetention time.Duration
	// DebugAddr, when set, serves Go's pprof profiles (net/http/pprof).
	DebugAddr string
	// PublicURL is the base of portal links; PortalFrameAncestors may frame the portal.
	PublicURL            string
	PortalFrameAncestors []string

	// Temporal is how `herald api` and `herald worker` reach Temporal
	// beyond its address: TLS, API key, search attribute registration.
	Temporal TemporalConn
	// Worker tunes the Temporal worker of dev, api and worker.
	Worker WorkerTuning
}

// mode says which command the configuration is for: defaults and required
// variables differ between `herald dev` and the production commands.
type mode int

const (
	modeDev mode = iota
	modeAPI
	modeWorker
	modeMigrate
)

const defaultRetrySchedule = "5s,5m,30m,2h,5h,10h,10h"

// loadConfig reads the environment through getenv. Every error names the
// variable at fault, on one line.
func loadConfig(getenv func(string) string, m mode) (Config, error) {
	c := Config{
		HTTPAddr:          or(getenv("HERALD_HTTP_ADDR"), "127.0.0.1:8080"),
		APIToken:          getenv("HERALD_API_TOKEN"),
		DatabaseURL:       getenv("HERALD_DATABASE_URL"),
		TemporalAddress:   getenv("HERALD_TEMPORAL_ADDRESS"),
		TemporalNamespace: or(getenv("HERALD_TEMPORAL_NAMESPACE"), "default"),
		DataDir:           or(getenv("HERALD_DATA_DIR"), "./.herald"),
		DevTemporalAddr:   or(getenv("HERALD_DEV_TEMPORAL_ADDR"), "127.0.0.1:7233"),
		DevUIAddr:         or(getenv("HERALD_DEV_UI_ADDR"), "127.0.0.1:8233"),
		LogLevel:          or(getenv("HERALD_LOG_LEVEL"), "info"),
		LogFormat:         or(getenv("HERALD_LOG_FORMAT"), "text"),
		DebugAddr:         getenv("HERALD_DEBUG_ADDR"),
		EncryptionKeys:    getenv("HERALD_ENCRYPTION_KEYS"),
	}
	c.PublicURL = strings.TrimRight(or(getenv("HERALD_PUBLIC_URL"), "http://"+c.HTTPAddr), "/")
	c.PortalFrameAncestors = strings.Fields(strings.ReplaceAll(getenv("HERALD_PORTAL_FRAME_ANCESTORS"), ",", " "))
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	c.RetrySchedule, err = parseSchedule(or(getenv("HERALD_RETRY_SCHEDULE"), defaultRetrySchedule))
	check(wrapVar("HERALD_RETRY_SCHEDULE", err))
	c.DeliveryTimeout, err = parsePositiveDuration(or(getenv("HERALD_DELIVERY_TIMEOUT"), "15s"))
	check(wrapVar("HERALD_DELIVERY_TIMEOUT", err))
	c.SecretOverlap, err = parsePositiveDuration(or(getenv("HERALD_SECRET_OVERLAP"), "24h"))
	check(wrapVar("HERALD_SECRET_OVERLAP", err))
	c.IdempotencyWindow, err = parsePositiveDuration(or(getenv("HERALD_IDEMPOTENCY_WINDOW"), "24h"))
	check(wrapVar("HERALD_IDEMPOTENCY_WINDOW", err))
	c.DisableAfter, err = parsePositiveDuration(or(getenv("HERALD_DISABLE_AFTER"), "5d"))
	check(wrapVar("HERALD_DISABLE_AFTER", err))
	c.Retention, err = parsePositiveDuration(or(getenv("HERALD_RETENTION"), "7d"))
	check(wrapVar("HERALD_RETENTION", err))
	if err == nil && c.Retention < c.IdempotencyWindow {
		// Event ids are remembered as long as their events are kept.
		check(fmt.Errorf("HERALD_RETENTION (%s) must be at least HERALD_IDEMPOTENCY_WINDOW (%s)", c.Retention, c.IdempotencyWindow))
	}
	c.DevTemporalRetention, err = parsePositiveDuration(or(getenv("HERALD_DEV_TEMPORAL_RETENTION"), "24h"))
	check(wrapVar("HERALD_DEV_TEMPORAL_RETENTION", err))
	c.MaxPayloadBytes, err = parsePositiveInt(or(getenv("HERALD_MAX_PAYLOAD_BYTES"), "1048576"))
	check(wrapVar("HERALD_MAX_PAYLOAD_BYTES", err))
	c.AllowPrivateNetworks, err = parseBool(or(getenv("HERALD_ALLOW_PRIVATE_NETWORKS"), strconv.FormatBool(m == modeDev)))
	check(wrapVar("HERALD_ALLOW_PRIVATE_NETWORKS", err))
	check(wrapVar("HERALD_HTTP_ADDR", checkHostPort(c.HTTPAddr)))
	if c.EncryptionKeys != "" {
		_, err := seal.ParseKeys(c.EncryptionKeys)
		check(wrapVar("HERALD_ENCRYPTION_KEYS", err))
	}
	check(wrapVar("HERALD_PUBLIC_URL", checkPublicURL(c.PublicURL)))
	for _, src := range c.PortalFrameAncestors {
		if !frameSource.MatchString(src) {
			check(fmt.Errorf("HERALD_PORTAL_FRAME_ANCESTORS: %q is not an origin such as https://app.example.com", src))
		}
	}
	if c.DebugAddr != "" {
		check(wrapVar("HERALD_DEBUG_ADDR", checkHostPort(c.DebugAddr)))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		check(fmt.Errorf("HERALD_LOG_LEVEL: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		check(fmt.Errorf("HERALD_LOG_FORMAT: %q is not text or json", c.LogFormat))
	}
	c.Worker = loadWorkerTuning(getenv, m, check)

	if c.DatabaseURL != "" {
		err := checkPostgresURL(c.DatabaseURL)
		check(wrapVar("HERALD_DATABASE_URL", err))
		if err == nil && getenv("PGCONNECT_TIMEOUT") == "" {
			c.DatabaseURL = withConnectTimeout(c.DatabaseURL)
		}
	} else if m != modeDev {
		check(errors.New("HERALD_DATABASE_URL is required (postgres://user:pass@host:5432/db)"))
	}
	switch {
	case m == modeDev:
		check(wrapVar("HERALD_DEV_TEMPORAL_ADDR", checkHostPort(c.DevTemporalAddr)))
		check(wrapVar("HERALD_DEV_UI_ADDR", checkHostPort(c.DevUIAddr)))
	case m == modeAPI || m == modeWorker:
		if c.TemporalAddress == "" {
			check(errors.New("HERALD_TEMPORAL_ADDRESS is required (host:port of the Temporal frontend)"))
		} else {
			check(wrapVar("HERALD_TEMPORAL_ADDRESS", checkHostPort(c.TemporalAddress)))
		}
		c.Temporal = loadTemporalConn(getenv, check)
	}
	if m == modeAPI && c.APIToken == "" {
		check(errors.New("HERALD_API_TOKEN is required: the bearer token clients send"))
	}
	if len(errs) > 0 {
		return Config{}, configError(errs)
	}
	return c, nil
}

// configError lists every problem at once, on one line: an operator fixes
// them in one go instead of one per start.
func configError(errs []error) error {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = strings.ReplaceAll(err.Error(), "\n", " ")
	}
	return fmt.Errorf("configuration: %s", strings.Join(msgs, "; "))
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func wrapVar(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}

// parseDuration accepts Go durations plus a "d" suffix for days ("5d").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (like 30s, 5m, 2h, 5d)", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (like 30s, 5m, 2h, 5d)", s)
	}
	return d, nil
}

func parsePositiveDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return d, nil
}

// parseSchedule reads the delays before attempts 2, 3, ...; an empty list
// (the value "none") means a single attempt.
func parseSchedule(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "none" {
		return []time.Duration{}, nil
	}
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := parseDuration(part)
		if err != nil {
			return nil, err
		}
		if d < 0 {
			return nil, fmt.Errorf("%q: delays cannot be negative", part)
		}
		out = append(out, d)
	}
	return out, nil
}

func parsePositiveInt(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a positive integer", s)
	}
	return n, nil
}

func parseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", s)
	}
	return b, nil
}

func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", addr)
	}
	return nil
}

func checkPostgresURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return errors.New("must be a postgres:// URL (postgres://user:pass@host:5432/db)")
	}
	return nil
}

// defaultConnectTimeout bounds how long a new database connection may take
// to open, unless the URL's connect_timeout or PGCONNECT_TIMEOUT says
// otherwise. Without one (libpq's and pq's default) a request that needs a
// new connection to an unreachable database waits for the kernel to give up
// on the TCP handshake, minutes, where it should answer 503.
const defaultConnectTimeout = "5"

// withConnectTimeout adds connect_timeout to a Postgres URL without one
// (checkPostgresURL has checked that it parses).
func withConnectTimeout(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	if q.Has("connect_timeout") {
		return raw
	}
	q.Set("connect_timeout", defaultConnectTimeout)
	u.RawQuery = q.Encode()
	return u.String()
}

// frameSource is a CSP source expression Herald accepts for frame-ancestors:
// a scheme and host (wildcard subdomain and port allowed), or 'self'.
var frameSource = regexp.MustCompile(`^('self'|https?://(\*\.)?[a-zA-Z0-9.-]+(:[0-9]+|:\*)?)$`)

func checkPublicURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an http(s) base URL such as https://hooks.example.com", raw)
	}
	return nil
}
