// Package netguard keeps deliveries away from private networks (SSRF): it
// checks endpoint URLs when they are configured and every resolved address
// at dial time, so DNS rebinding does not get through.
package netguard

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
)

// blocked lists the ranges a delivery may not reach unless private networks
// are allowed: loopback, RFC 1918, link-local, CGNAT, multicast, unspecified,
// IPv6 unique-local, and the ranges for documentation and benchmarks.
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// CheckAddr returns an error when addr is in a range deliveries may not reach.
func CheckAddr(addr netip.Addr) error {
	addr = addr.Unmap()
	for _, p := range blocked {
		if p.Contains(addr) {
			return fmt.Errorf("destination %s is a private, loopback or reserved address (set HERALD_ALLOW_PRIVATE_NETWORKS=true to allow)", addr)
		}
	}
	return nil
}

// DialControl is a net.Dialer Control function that refuses blocked
// addresses. It runs after DNS resolution, once per address dialled.
func DialControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("parse dial address %q: %w", address, err)
	}
	return CheckAddr(ap.Addr())
}

// CheckURL validates an endpoint URL: absolute http or https with a host,
// and, unless allowPrivate, no literal IP in a blocked range. Names are not
// resolved here (what they resolve to can change): DialControl checks the
// addresses they resolve to when a delivery is made.
func CheckURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url is not a valid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url must be an absolute http or https URL")
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("url has no host")
	}
	if u.User != nil {
		return fmt.Errorf("url must not carry credentials")
	}
	if allowPrivate {
		return nil
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
