package outbound_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/outbound"
	"github.com/herald-hq/herald/schemas"
)

func TestMuxPicksTheTransportByScheme(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("slow down"))
	}))
	defer srv.Close()
	h := outbound.NewHTTP(outbound.HTTPConfig{Timeout: 5 * time.Second, AllowPrivateNetworks: true})
	mux := outbound.Mux{"http": h}

	req := outbound.Request{Endpoint: schemas.Endpoint{ID: "ep_1", URL: srv.URL}, Header: http.Header{"Webhook-Id": {"evt_1"}}, Body: []byte(`{}`)}
	ans, err := mux.Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Status != http.StatusTooManyRequests || ans.RetryAfter != "7" || ans.Body != "slow down" || ans.OK() {
		t.Errorf("answer %+v", ans)
	}
	if got.Get("Webhook-Id") != "evt_1" {
		t.Errorf("headers sent: %v", got)
	}

	req.Endpoint.URL = "gopher://127.0.0.1/x"
	ans, err = mux.Send(context.Background(), req)
	if err != nil || ans.Status != 0 || !strings.Contains(ans.Err, `"gopher"`) {
		t.Errorf("unknown scheme: %+v, %v", ans, err)
	}
}

func TestHTTPRefusesPrivateAddressesUnlessAllowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	h := outbound.NewHTTP(outbound.HTTPConfig{Timeout: 5 * time.Second})
	ans, err := h.Send(context.Background(), outbound.Request{Endpoint: schemas.Endpoint{URL: srv.URL}})
	if err != nil || ans.Status != 0 || ans.Err == "" {
		t.Errorf("private address reached: %+v, %v", ans, err)
	}
}
