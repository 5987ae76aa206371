// Package receiverauth authenticates Herald to the receivers that ask for
// it (an endpoint's auth and ca_pem): an OAuth2 client-credentials bearer
// token, fetched once and cached per endpoint until it expires or the
// receiver answers 401; an mTLS client certificate; a private CA. It is an
// outbound.Sender that wraps the plain one: endpoints without auth or CA go
// through unchanged, the others through a transport of their own, built
// once per version of their settings and always guarded at dial time like
// the plain one.
package receiverauth

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/herald-hq/herald/outbound"
	"github.com/herald-hq/herald/schemas"
)

// maxEndpoints bounds the per-endpoint cache: past it the least recently
// used endpoint's transport and token are dropped (and made again if used).
const maxEndpoints = 1024

// Sender sends with the endpoint's receiver authentication. Safe for
// concurrent use.
type Sender struct {
	next outbound.Sender
	cfg  outbound.HTTPConfig
	now  func() time.Time

	mu        sync.Mutex
	endpoints map[string]*endpoint
}

// New wraps next (the plain transports, by scheme) with receiver
// authentication for http and https endpoints; cfg makes their transports.
func New(next outbound.Sender, cfg outbound.HTTPConfig) *Sender {
	return &Sender{next: next, cfg: cfg, now: time.Now, endpoints: make(map[string]*endpoint)}
}

// endpoint is what is cached for one endpoint at one version of its
// settings.
type endpoint struct {
	version string
	http    *outbound.HTTP
	client  *http.Client
	err     string // why the settings cannot be used (bad PEM...)
	used    time.Time

	tokenMu sync.Mutex // held while fetching, so concurrent sends fetch once
	token   *oauth2.Token
}

// Send implements outbound.Sender.
func (s *Sender) Send(ctx context.Context, req outbound.Request) (outbound.Answer, error) {
	e := req.Endpoint
	if e.Auth == nil && e.CAPEM == "" {
		return s.next.Send(ctx, req)
	}
	if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		// Brokers authenticate through their URL; auth is for HTTP.
		return s.next.Send(ctx, req)
	}
	ep := s.endpoint(e)
	if ep.err != "" {
		return outbound.Answer{Err: ep.err}, nil
	}
	if e.Auth == nil || e.Auth.Type != schemas.AuthOAuth2ClientCredentials {
		return ep.http.Send(ctx, req)
	}
	tok, fresh, err := ep.bearer(ctx, e.Auth)
	if err != nil {
		if ctx.Err() != nil {
			return outbound.Answer{}, fmt.Errorf("deliver to %s: %w", e.ID, ctx.Err())
		}
		return outbound.Answer{Err: "get OAuth2 token: " + err.Error()}, nil
	}
	ans, err := ep.http.Send(ctx, withBearer(req, tok))
	if err != nil || ans.Status != http.StatusUnauthorized {
		return ans, err
	}
	// The receiver refused the token: it may have been revoked or have
	// expired early. Drop it, and if it came from the cache try once more
	// with a new one; a token fetched just now is not fetched again.
	ep.forget(tok)
	if fresh {
		return ans, nil
	}
	if tok, _, err = ep.bearer(ctx, e.Auth); err != nil {
		if ctx.Err() != nil {
			return outbound.Answer{}, fmt.Errorf("deliver to %s: %w", e.ID, ctx.Err())
		}
		return outbound.Answer{Err: "refresh OAuth2 token after 401: " + err.Error()}, nil
	}
	return ep.http.Send(ctx, withBearer(req, tok))
}

func withBearer(req outbound.Request, tok *oauth2.Token) outbound.Request {
	h := req.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header = h
	return req
}

// endpoint returns the cached state of e, made anew when e's settings
// changed since.
func (s *Sender) endpoint(e schemas.Endpoint) *endpoint {
	v := version(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	ep := s.endpoints[e.ID]
	if ep == nil || ep.version != v {
		if ep != nil && ep.client != nil {
			ep.client.CloseIdleConnections()
		}
		ep = s.build(e, v)
		s.endpoints[e.ID] = ep
		s.evict()
	}
	ep.used = s.now()
	return ep
}

// evict drops the least recently used endpoints past maxEndpoints. Called
// with s.mu held.
func (s *Sender) evict() {
	for len(s.endpoints) > maxEndpoints {
		var oldest string
		var at time.Time
		for id, ep := range s.endpoints {
			if oldest == "" || ep.used.Before(at) {
				oldest, at = id, ep.used
			}
		}
		if c := s.endpoints[oldest].client; c != nil {
			c.CloseIdleConnections()
		}
		delete(s.endpoints, oldest)
	}
}

// build makes an endpoint's transport: the plain client's settings (dial
// guard, timeouts, no redirects) with its client certificate and CA.
func (s *Sender) build(e schemas.Endpoint, v string) *endpoint {
	tc, err := tlsConfig(e)
	if err != nil {
		return &endpoint{version: v, err: err.Error()}
	}
	client := outbound.NewHTTPClient(s.cfg)
	client.Transport.(*http.Transport).TLSClientConfig = tc
	return &endpoint{version: v, client: client, http: outbound.WithClient(client, s.cfg.Timeout)}
}

// tlsConfig is the endpoint's TLS: its private CA instead of the system
// roots, and its client certificate for mTLS.
func tlsConfig(e schemas.Endpoint) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.CAPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(e.CAPEM)) {
			return nil, errors.New("ca_pem holds no usable certificate")
		}
		tc.RootCAs = pool
	}
	if e.Auth != nil && e.Auth.Type == schemas.AuthMTLS {
		cert, err := tls.X509KeyPair([]byte(e.Auth.CertPEM), []byte(e.Auth.KeyPEM))
		if err != nil {
			return nil, fmt.Errorf("mTLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// version identifies an endpoint's auth settings, secrets included, so that
// a changed secret or certificate gets a new transport and token.
func version(e schemas.Endpoint) string {
	h := sha256.New()
	pub, _ := json.Marshal(e.Auth)
	for _, part := range []string{string(pub), e.Auth.Secret(), e.CAPEM} {
		fmt.Fprintf(h, "%d:%s;", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}
