package netguard

import (
	"net/netip"
	"net/url"
	"testing"
)

// FuzzCheckURL: never panics; an accepted URL is short, http(s), with a
// valid port, and a literal IP host in it is one CheckAddr allows.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/hook", "http://[::1%25lo]:80/", "http://[fe80::1%25eth0]/",
		"http://127.0.0.1:99999/", "http://0x7f.0.0.1/", "http://[64:ff9b::a00:1]/",
		"http://[2002:c0a8:101::1]/", "http://2130706433/", "http://[::ffff:169.254.169.254]/",
		"http://user@example.com/", "http://example.com:/", "http://[::1]:0/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckURL(raw, false) != nil {
			return
		}
		if len(raw) > MaxURLLength {
			t.Fatalf("accepted a URL of %d bytes", len(raw))
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted an unparsable URL: %v", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("accepted scheme %q", u.Scheme)
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil {
			if a.Zone() != "" || CheckAddr(a) != nil {
				t.Fatalf("accepted blocked host %s", a)
			}
		}
	})
}

// FuzzCheckAddr: an allowed address has no zone, is in no blocked range
// and maps to no blocked IPv4 address.
func FuzzCheckAddr(f *testing.F) {
	for _, s := range []string{"::1", "64:ff9b::a00:1", "2002:c0a8:101::1", "::ffff:10.0.0.1", "8.8.8.8", "fe80::1%eth0"} {
		a := netip.MustParseAddr(s)
		b := a.As16()
		f.Add(b[:], a.Zone())
	}
	f.Fuzz(func(t *testing.T, b []byte, zone string) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		if a.Is6() {
			a = a.WithZone(zone)
		}
		if CheckAddr(a) != nil {
			return
		}
		if a.Zone() != "" {
			t.Fatalf("allowed zoned %s", a)
		}
		for _, p := range blocked {
			if p.Contains(a) || p.Contains(a.Unmap()) {
				t.Fatalf("allowed %s in %s", a, p)
			}
		}
		if v4, ok := embedded(a); ok && checkPlain(v4) != nil {
			t.Fatalf("allowed %s that maps to blocked %s", a, v4)
		}
	})
}
