package broker

import (
	"net"
	"time"

	"github.com/herald-hq/herald/netguard"
)

// Config tunes a broker transport; a zero field takes the default.
type Config struct {
	// Timeout bounds one publish, sent to confirmed or acknowledged by the
	// broker (HERALD_DELIVERY_TIMEOUT), and a dial (at most 10s of it).
	// Default 15s.
	Timeout time.Duration
	// IdleTimeout closes a publishing connection unused for that long.
	// Default 2m.
	IdleTimeout time.Duration
	// AllowPrivateNetworks lets Herald publish to brokers on loopback,
	// private and reserved addresses. Consuming is not guarded: a source is
	// usually the operator's own internal bus.
	AllowPrivateNetworks bool
}

// WithDefaults fills the zero fields with their defaults.
func (c Config) WithDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	return c
}

// Dialer is the TCP dialer of a broker connection. A publishing connection
// is guarded (the private-network rule applies to every address dialled,
// unless AllowPrivateNetworks); a consuming one is not.
func (c Config) Dialer(guard bool) *net.Dialer {
	return netguard.Dialer(min(c.Timeout, 10*time.Second), !guard || c.AllowPrivateNetworks)
}
