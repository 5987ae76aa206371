package receiverauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-hq/herald/outbound"
	"github.com/herald-hq/herald/schemas"
)

func newSender(allowPrivate bool) *Sender {
	cfg := outbound.HTTPConfig{Timeout: 5 * time.Second, AllowPrivateNetworks: allowPrivate}
	h := outbound.NewHTTP(cfg)
	return New(outbound.Mux{"http": h, "https": h}, cfg)
}

func send(t *testing.T, s *Sender, e schemas.Endpoint) outbound.Answer {
	t.Helper()
	ans, err := s.Send(context.Background(), outbound.Request{Endpoint: e,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return ans
}

// tokenServer is an OAuth2 token endpoint: it checks the client's
// credentials, scope and audience, and issues tok-1, tok-2, ...
type tokenServer struct {
	*httptest.Server
	issued atomic.Int32
	mu     sync.Mutex
	valid  map[string]bool
}

func newTokenServer(t *testing.T) *tokenServer {
	ts := &tokenServer{valid: map[string]bool{}}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			_ = r.ParseForm()
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		_ = r.ParseForm()
		if id != "herald" || secret != "s3cret" || r.PostForm.Get("grant_type") != "client_credentials" ||
			r.PostForm.Get("scope") != "hooks:write" || r.PostForm.Get("audience") != "https://receiver" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		tok := fmt.Sprintf("tok-%d", ts.issued.Add(1))
		ts.mu.Lock()
		ts.valid[tok] = true
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) revokeAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	clear(ts.valid)
}

func (ts *tokenServer) ok(auth string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	tok, found := strings.CutPrefix(auth, "Bearer ")
	return found && ts.valid[tok]
}

func oauthEndpoint(id, receiver, tokenURL string) schemas.Endpoint {
	return schemas.Endpoint{ID: id, URL: receiver, Auth: &schemas.EndpointAuth{
		Type: schemas.AuthOAuth2ClientCredentials, TokenURL: tokenURL, ClientID: "herald",
		ClientSecret: "s3cret", Scopes: []string{"hooks:write"}, Audience: "https://receiver"}}
}

// The token is fetched once for many concurrent deliveries, reused until
// the receiver refuses it, then fetched again within the same attempt.
func TestOAuth2TokenCachedAndRefreshedOn401(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t)
	var got, refused atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ts.ok(r.Header.Get("Authorization")) {
			refused.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got.Add(1)
	}))
	defer rc.Close()
	s := newSender(true)
	e := oauthEndpoint("ep_1", rc.URL, ts.URL)

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ans := send(t, s, e); ans.Status != 200 || ans.Err != "" {
				t.Errorf("answer %+v", ans)
			}
		}()
	}
	wg.Wait()
	if n := ts.issued.Load(); n != 1 {
		t.Fatalf("8 deliveries fetched %d tokens, want 1", n)
	}
	send(t, s, e)
	if n := ts.issued.Load(); n != 1 {
		t.Fatalf("a later delivery fetched again: %d tokens", n)
	}

	ts.revokeAll()
	if ans := send(t, s, e); ans.Status != 200 {
		t.Fatalf("after revocation: %+v, want 200 with a new token", ans)
	}
	if n, r := ts.issued.Load(), refused.Load(); n != 2 || r != 1 {
		t.Fatalf("after revocation: %d tokens issued, %d refusals; want 2 and 1", n, r)
	}
	if got.Load() != 10 {
		t.Fatalf("receiver accepted %d deliveries, want 10", got.Load())
	}

	// Another endpoint has its own token.
	send(t, s, oauthEndpoint("ep_2", rc.URL, ts.URL))
	if n := ts.issued.Load(); n != 3 {
		t.Fatalf("a second endpoint shared the first's token (%d issued)", n)
	}
}

// A receiver that refuses every token costs one fetch per attempt, not a loop.
func TestOAuth2RefusedFreshToken(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer rc.Close()
	s := newSender(true)
	if ans := send(t, s, oauthEndpoint("ep_1", rc.URL, ts.URL)); ans.Status != 401 {
		t.Fatalf("answer %+v, want the receiver's 401", ans)
	}
	if n := ts.issued.Load(); n != 1 {
		t.Fatalf("%d tokens fetched for one attempt, want 1", n)
	}
	e := oauthEndpoint("ep_1", rc.URL, ts.URL)
	e.Auth.ClientSecret = "wrong"
	ans := send(t, s, e)
	if ans.Status != 0 || !strings.Contains(ans.Err, "OAuth2 token") || strings.Contains(ans.Err, "wrong") {
		t.Fatalf("bad credentials: %+v, want a failed attempt naming the token fetch", ans)
	}
}

// mTLS with a private CA: the receiver demands a client certificate signed
// by the CA, and presents a server certificate of the same CA.
func TestMTLSWithPrivateCA(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	_, _, serverPair := ca.issue(t, "receiver", true)
	clientCert, clientKey, _ := ca.issue(t, "herald-client", false)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	var cn atomic.Value
	rc := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	rc.TLS = &tls.Config{Certificates: []tls.Certificate{serverPair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	rc.StartTLS()
	defer rc.Close()

	s := newSender(true)
	e := schemas.Endpoint{ID: "ep_1", URL: rc.URL, CAPEM: ca.pem,
		Auth: &schemas.EndpointAuth{Type: schemas.AuthMTLS, CertPEM: clientCert, KeyPEM: clientKey}}
	if ans := send(t, s, e); ans.Status != 200 || ans.Err != "" {
		t.Fatalf("mTLS: %+v", ans)
	}
	if cn.Load() != "herald-client" {
		t.Fatalf("receiver saw client %v", cn.Load())
	}

	noCert := e
	noCert.ID, noCert.Auth = "ep_2", nil
	if ans := send(t, s, noCert); ans.Status != 0 || ans.Err == "" {
		t.Fatalf("without a client certificate: %+v, want a failed handshake", ans)
	}
	noCA := e
	noCA.ID, noCA.CAPEM = "ep_3", ""
	if ans := send(t, s, noCA); !strings.Contains(ans.Err, "certificate") {
		t.Fatalf("without the private CA: %+v, want an unknown authority", ans)
	}
	// A changed setting takes effect: the same endpoint without its CA fails.
	e.CAPEM = ""
	if ans := send(t, s, e); ans.Err == "" {
		t.Fatalf("after the CA was removed the cached transport still trusted it: %+v", ans)
	}
}

// Every transport this package builds, and its token fetch, keeps the
// dial-time guard against private addresses.
func TestGuardedTransports(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t)
	var hit atomic.Int32
	rc := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Add(1) }))
	defer rc.Close()
	s := newSender(false)
	for _, e := range []schemas.Endpoint{
		oauthEndpoint("ep_oauth", "https://example.com/", ts.URL), // token server on loopback
		oauthEndpoint("ep_oauth2", rc.URL, ts.URL),
		{ID: "ep_ca", URL: rc.URL, CAPEM: newCA(t).pem},
	} {
		if ans := send(t, s, e); ans.Status != 0 || ans.Err == "" {
			t.Errorf("%s reached a loopback address: %+v", e.ID, ans)
		}
	}
	if ts.issued.Load() != 0 || hit.Load() != 0 {
		t.Fatalf("loopback reached: %d tokens, %d deliveries", ts.issued.Load(), hit.Load())
	}
}
