package netguard

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	cases := []struct {
		url          string
		allowPrivate bool
		ok           bool
	}{
		{"https://example.com/hook", false, true},
		{"http://example.com:8080/x?y=1", false, true},
		{"ftp://example.com", false, false},
		{"/relative", false, false},
		{"https://", false, false},
		{"https://user:pw@example.com", false, false},
		{"http://127.0.0.1:9000/", false, false},
		{"http://127.0.0.1:9000/", true, true},
		{"http://10.1.2.3/", false, false},
		{"http://172.20.0.1/", false, false},
		{"http://192.168.1.1/", false, false},
		{"http://169.254.169.254/latest", false, false},
		{"http://100.64.0.1/", false, false},
		{"http://224.0.0.1/", false, false},
		{"http://0.0.0.0/", false, false},
		{"http://192.0.2.2/", false, false},
		{"http://198.51.100.7/", false, false},
		{"http://203.0.113.9/", false, false},
		{"http://[::1]/", false, false},
		{"http://[fd00::1]/", false, false},
		{"http://[fe80::1]/", false, false},
		{"http://[::ffff:127.0.0.1]/", false, false},
		// Zones: netip.Prefix.Contains is false for a zoned address.
		{"http://[::1%25lo]:8080/", false, false},
		{"http://[::%25lo]/", false, false},
		{"http://[::1%251]/", false, false},
		{"http://[fd00::2%25eth0]/", false, false},
		{"http://[fe80::fc:ff:fe00:1%25eth0]/", false, false},
		{"http://[2606:4700::1111%25eth0]/", false, false},
		{"http://[fe80::1%25eth0]/", true, true},
		// Ports.
		{"http://example.com:99999/", false, false},
		{"http://example.com:65536/", true, false},
		{"http://example.com:0/", false, false},
		{"http://example.com:65535/", false, true},
		// Length.
		{"https://example.com/" + strings.Repeat("a", MaxURLLength), false, false},
		{"https://example.com/" + strings.Repeat("a", MaxURLLength-100), false, true},
		{"http://localhost:8080/", false, true}, // a name: refused at dial time
		{"http://8.8.8.8/", false, true},
		{"http://[2606:4700::1111]/", false, true},
		{"http://[64:ff9b::8.8.8.8]/", false, true},
		{"http://[64:ff9b::10.0.0.1]/", false, false},
	}
	for _, c := range cases {
		err := CheckURL(c.url, c.allowPrivate)
		if (err == nil) != c.ok {
			t.Errorf("CheckURL(%.80q, %v) = %v, want ok=%v", c.url, c.allowPrivate, err, c.ok)
		}
	}
}

// One address from each range of the IANA special-purpose registries, and
// the translation forms that embed a private IPv4 address.
func TestCheckAddrRegistries(t *testing.T) {
	refused := []string{
		"0.1.2.3", "10.0.0.1", "100.64.0.1", "127.0.0.1", "127.255.255.254", "169.254.169.254",
		"172.16.0.1", "192.0.0.9", "192.0.0.170", "192.0.2.2", "192.31.196.1", "192.52.193.1",
		"192.88.99.1", "192.168.0.1", "192.175.48.1", "198.18.0.1", "198.19.255.255",
		"198.51.100.1", "203.0.113.1", "224.0.0.251", "239.255.255.250", "240.0.0.1", "255.255.255.255",
		"::", "::1", "::127.0.0.1", "::8.8.8.8", "::ffff:10.0.0.1", "::ffff:0:8.8.8.8",
		"64:ff9b::7f00:1", "64:ff9b::192.168.1.1", "64:ff9b::169.254.169.254", "64:ff9b:1::1",
		"100::1", "100:0:0:1::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:2::1",
		"2001:10::1", "2001:20::1", "2001:1::1", "2001:db8::1", "2001:db8:ffff::1",
		"2002:7f00:1::1", "2002:c0a8:101::1", "2002:a9fe:a9fe::1", "2620:4f:8000::1", "3fff::1",
		"5f00::1", "fc00::1", "fd00::2", "fe80::1", "febf::1", "fec0::1", "ff02::1",
	}
	for _, s := range refused {
		if err := CheckAddr(netip.MustParseAddr(s)); err == nil {
			t.Errorf("CheckAddr(%s) allowed", s)
		}
		if err := CheckAddr(netip.MustParseAddr(s).WithZone("eth0")); err == nil && netip.MustParseAddr(s).Is6() {
			t.Errorf("CheckAddr(%s%%eth0) allowed", s)
		}
	}
	allowed := []string{
		"8.8.8.8", "1.1.1.1", "192.0.1.1", "192.0.3.1", "203.0.114.1", "100.128.0.1", "172.32.0.1",
		"2606:4700::1111", "2a00:1450:4001::1", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8",
	}
	for _, s := range allowed {
		if err := CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("CheckAddr(%s) = %v, want allowed", s, err)
		}
	}
	if err := CheckAddr(netip.MustParseAddr("2606:4700::1111%eth0")); err == nil {
		t.Error("a zoned public address was allowed")
	}
}

// The guard must act at dial time, after resolution: a name that resolves
// to loopback is refused even though the URL passed CheckURL.
func TestDialControlRefusesResolvedLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: Dialer(2*time.Second, false).DialContext}}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	resp, err := client.Get("http://localhost:" + port + "/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("request to a loopback address went through")
	}
	if !strings.Contains(err.Error(), "private, loopback or reserved") {
		t.Fatalf("unexpected error: %v", err)
	}
}

// A real receiver on ::1 addressed with a zone (the bypass that was found):
// refused at configuration and at dial time, reached when private networks
// are allowed (so the refusal is the guard's, not the network's).
func TestZonedLoopbackRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("internal secret"))
	}))
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	zone := loopbackName(t)
	for _, u := range []string{
		"http://[::1%25" + zone + "]:" + port + "/",
		"http://[::1%251]:" + port + "/",
		"http://[::%25" + zone + "]:" + port + "/",
		"http://[::ffff:127.0.0.1]:" + port + "/",
	} {
		if err := CheckURL(u, false); err == nil {
			t.Errorf("CheckURL(%s) allowed", u)
		}
		guarded := &http.Client{Transport: &http.Transport{DialContext: Dialer(2*time.Second, false).DialContext}}
		if resp, err := guarded.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("guarded GET %s went through", u)
		}
	}
	open := &http.Client{Transport: &http.Transport{DialContext: Dialer(2*time.Second, true).DialContext}}
	resp, err := open.Get("http://[::1%25" + zone + "]:" + port + "/")
	if err != nil {
		t.Fatalf("unguarded GET of the zoned loopback failed, so the test proves nothing: %v", err)
	}
	resp.Body.Close()
}

func loopbackName(t *testing.T) string {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			return i.Name
		}
	}
	t.Skip("no loopback interface")
	return ""
}
