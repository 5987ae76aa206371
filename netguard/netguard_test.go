package netguard

import (
	"net"
	"net/http"
	"net/http/httptest"
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
		{"http://[::1]/", false, false},
		{"http://[fd00::1]/", false, false},
		{"http://[fe80::1]/", false, false},
		{"http://[::ffff:127.0.0.1]/", false, false},
		{"http://localhost:8080/", false, true}, // a name: refused at dial time
		{"http://8.8.8.8/", false, true},
		{"http://[2606:4700::1111]/", false, true},
	}
	for _, c := range cases {
		err := CheckURL(c.url, c.allowPrivate)
		if (err == nil) != c.ok {
			t.Errorf("CheckURL(%q, %v) = %v, want ok=%v", c.url, c.allowPrivate, err, c.ok)
		}
	}
}

// The guard must act at dial time, after resolution: a name that resolves
// to loopback is refused even though the URL passed CheckURL.
func TestDialControlRefusesResolvedLoopback(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	dialer := &net.Dialer{Timeout: 2 * time.Second, Control: DialControl}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
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
