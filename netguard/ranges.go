package netguard

import (
	"fmt"
	"net/netip"
)

// blocked holds every entry of the IANA IPv4 and IPv6 Special-Purpose
// Address Registries (RFC 6890 and its updates), plus multicast and the
// deprecated site-local range. Some registry entries are marked globally
// reachable (AS112, AMT, the NAT64 well-known prefix, 6to4); no webhook
// receiver lives in any of them, so they are refused too, except the two
// translation prefixes handled in embedded: they carry a real IPv4 address.
var blocked = prefixes(
	// IPv4 special-purpose registry.
	"0.0.0.0/8",       // "this network" (RFC 791)
	"10.0.0.0/8",      // private (RFC 1918)
	"100.64.0.0/10",   // shared address space, CGNAT (RFC 6598)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata services
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments (DS-Lite, PCP, NAT64 discovery...)
	"192.0.2.0/24",    // documentation TEST-NET-1
	"192.31.196.0/24", // AS112-v4
	"192.52.193.0/24", // AMT
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // private
	"192.175.48.0/24", // AS112 direct delegation
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation TEST-NET-2
	"203.0.113.0/24",  // documentation TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, includes 255.255.255.255 (limited broadcast)
	// IPv6 special-purpose registry.
	"::/96",             // unspecified, loopback, deprecated IPv4-compatible
	"::ffff:0:0:0/96",   // IPv4-translated (SIIT, obsolete)
	"64:ff9b:1::/48",    // local-use IPv4/IPv6 translation (RFC 8215)
	"100::/64",          // discard-only
	"100:0:0:1::/64",    // dummy prefix (RFC 9780)
	"2001::/23",         // IETF protocol assignments: Teredo, benchmarking, ORCHID, AMT, AS112...
	"2001:db8::/32",     // documentation
	"2620:4f:8000::/48", // AS112 direct delegation
	"3fff::/20",         // documentation (RFC 9637)
	"5f00::/16",         // SRv6 SIDs (RFC 9602)
	"fc00::/7",          // unique-local
	"fe80::/10",         // link-local
	"fec0::/10",         // deprecated site-local
	"ff00::/8",          // multicast
)

// Translation prefixes whose addresses stand for an IPv4 address: they are
// allowed exactly when that IPv4 address is.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 well-known prefix: v4 in the last 32 bits
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056: v4 in bits 16..47
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// CheckAddr returns an error when addr is in a range deliveries may not
// reach. An address with a zone (fe80::1%eth0) is refused outright: the
// zone picks an interface, which only a link-local or private destination
// needs, and netip.Prefix.Contains is false for any zoned address.
func CheckAddr(addr netip.Addr) error {
	if !addr.IsValid() {
		return fmt.Errorf("destination is not an IP address")
	}
	if addr.Zone() != "" {
		return fmt.Errorf("destination %s has an IPv6 zone: zoned addresses are not allowed (set HERALD_ALLOW_PRIVATE_NETWORKS=true to allow)", addr)
	}
	if v4, ok := embedded(addr); ok {
		if err := checkPlain(v4); err != nil {
			return fmt.Errorf("destination %s maps to %s: %w", addr, v4, err)
		}
		return nil
	}
	return checkPlain(addr)
}

// embedded returns the IPv4 address an IPv4-mapped, NAT64 or 6to4 address
// stands for.
func embedded(addr netip.Addr) (netip.Addr, bool) {
	if addr.Is4In6() {
		return addr.Unmap(), true
	}
	if !addr.Is6() {
		return netip.Addr{}, false
	}
	b := addr.As16()
	switch {
	case nat64.Contains(addr):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

func checkPlain(addr netip.Addr) error {
	addr = addr.WithZone("")
	for _, p := range blocked {
		if p.Contains(addr) {
			return fmt.Errorf("destination %s is a private, loopback or reserved address (%s; set HERALD_ALLOW_PRIVATE_NETWORKS=true to allow)", addr, p)
		}
	}
	return nil
}
