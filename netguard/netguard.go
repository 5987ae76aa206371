// Package netguard keeps deliveries away from private networks (SSRF): it
// checks endpoint URLs when they are configured and every resolved address
// at dial time, so DNS rebinding does not get through. Every transport that
// dials a receiver (HTTP, brokers, token endpoints) dials through Dialer or
// sets Control on its own net.Dialer.
package netguard

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MaxURLLength bounds an endpoint URL: longer ones are refused, as most
// HTTP servers and proxies refuse request lines far shorter than what a
// database would store.
const MaxURLLength = 2048

// Control is a net.Dialer Control function that refuses blocked
// addresses. It runs after DNS resolution, once per address dialled, for
// any network ("tcp4", "tcp6", "udp"...).
func Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("parse dial address %q: %w", address, err)
	}
	return CheckAddr(ap.Addr())
}

// DialControl is Control, under its first name.
func DialControl(network, address string, c syscall.RawConn) error {
	return Control(network, address, c)
}

// Dialer returns a dialer with the given timeout that refuses blocked
// addresses unless allowPrivate: what every outbound transport should use.
func Dialer(timeout time.Duration, allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = Control
	}
	return d
}

// CheckURL validates an endpoint URL: absolute http or https with a host,
// at most MaxURLLength bytes, a port from 1 to 65535 if any, no
// credentials, and, unless allowPrivate, no literal IP in a blocked range
// and no IPv6 zone. Names are not resolved here (what they resolve to can
// change): Control checks the addresses they resolve to at each dial.
func CheckURL(raw string, allowPrivate bool) error {
	u, err := parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url must be an absolute http or https URL")
	}
	if u.User != nil {
		return fmt.Errorf("url must not carry credentials")
	}
	return CheckHost(u, allowPrivate)
}

// parse parses an absolute URL of bounded length.
func parse(raw string) (*url.URL, error) {
	if len(raw) > MaxURLLength {
		return nil, fmt.Errorf("url is longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url is not a valid URL: %w", err)
	}
	return u, nil
}

// CheckHost checks the host and port of a parsed URL of any scheme (brokers
// use it too): a host is present, the port (if any) is 1 to 65535, and
// unless allowPrivate a literal IP is not in a blocked range and carries
// no zone.
func CheckHost(u *url.URL, allowPrivate bool) error {
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("url has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("url port must be from 1 to 65535, not %s", p)
		}
	}
	if allowPrivate {
		return nil
	}
	if strings.Contains(host, "%") {
		return fmt.Errorf("url host %s has an IPv6 zone: zoned addresses are not allowed (set HERALD_ALLOW_PRIVATE_NETWORKS=true to allow)", host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return CheckAddr(ip)
	}
	if ip := net.ParseIP(host); ip != nil { // forms netip rejects, e.g. IPv4 with leading zeros
		if a, ok := netip.AddrFromSlice(ip); ok {
			return CheckAddr(a)
		}
	}
	return nil
}
