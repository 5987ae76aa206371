// Package pgdial opens Herald's TCP connections to Postgres so that a link
// that dies without a word (a failover that leaves the old address
// silent, a partition) is noticed in seconds: without it, a query sent on
// such a link waits for the kernel to give up retransmitting, about fifteen
// minutes, and neither the query's context nor pq can end that wait (pq
// answers a cancelled context by asking the server to cancel, on another
// connection, and reads on). A server that is merely slow is not cut off:
// only data it has not acknowledged counts.
package pgdial

import (
	"context"
	"database/sql"
	"net"
	"syscall"
	"time"

	"github.com/lib/pq"
)

const (
	// UserTimeout bounds how long data sent may go unacknowledged before
	// the kernel drops the connection (TCP_USER_TIMEOUT, Linux).
	UserTimeout = 30 * time.Second
	// keepAliveIdle is how long an idle connection (a pooled one, or the
	// lane wakes' listener) waits before the kernel probes the peer.
	keepAliveIdle = 15 * time.Second
)

// Dialer is a pq.Dialer (and pq.DialerContext) with those settings.
type Dialer struct {
	d net.Dialer
}

// New makes the Dialer.
func New() Dialer {
	return Dialer{d: net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: 5 * time.Second, Count: 3},
		Control: func(network, _ string, c syscall.RawConn) error {
			if network != "tcp" && network != "tcp4" && network != "tcp6" {
				return nil // a Unix socket has no TCP options
			}
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setUserTimeout(fd, UserTimeout) }); err != nil {
				return err
			}
			return serr
		},
	}}
}

// Open opens a pool of connections to the Postgres database dsn names,
// each dialed by a Dialer.
func Open(dsn string) (*sql.DB, error) {
	conn, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	conn.Dialer(New())
	return sql.OpenDB(conn), nil
}

// Dial is pq.Dialer's.
func (d Dialer) Dial(network, address string) (net.Conn, error) {
	return d.d.Dial(network, address)
}

// DialTimeout is pq.Dialer's.
func (d Dialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.d.DialContext(ctx, network, address)
}

// DialContext is pq.DialerContext's.
func (d Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return d.d.DialContext(ctx, network, address)
}
