package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/herald-hq/herald/netguard"
	"github.com/herald-hq/herald/schemas"
)

// drainLimit is how much of an answer beyond the kept KiB is read so the
// connection can be reused; a longer answer closes the connection instead.
const drainLimit = 64 << 10

// HTTPConfig is what the HTTP transport needs of Herald's configuration.
type HTTPConfig struct {
	// Timeout bounds one attempt, request sent to answer read.
	Timeout time.Duration
	// AllowPrivateNetworks lets deliveries reach loopback, private and
	// reserved addresses.
	AllowPrivateNetworks bool
}

// HTTP posts requests over HTTP(S).
type HTTP struct {
	client  *http.Client
	timeout time.Duration
}

// NewHTTP makes the HTTP transport with NewHTTPClient's client.
func NewHTTP(c HTTPConfig) *HTTP {
	return WithClient(NewHTTPClient(c), c.Timeout)
}

// WithClient makes an HTTP transport of a client that must not follow
// redirects and must guard its dials itself.
func WithClient(client *http.Client, timeout time.Duration) *HTTP {
	return &HTTP{client: client, timeout: timeout}
}

// NewHTTPClient makes the delivery client: the delivery timeout, no
// redirects (a 3xx is a failed attempt, as Standard Webhooks recommends),
// the SSRF guard on every dialled address unless private networks are
// allowed, no proxy (a proxy would dial on the guard's behalf), and a
// connection pool sized for many endpoints with a few connections each.
func NewHTTPClient(c HTTPConfig) *http.Client {
	dialer := &net.Dialer{Timeout: min(c.Timeout, 10*time.Second), KeepAlive: 30 * time.Second}
	if !c.AllowPrivateNetworks {
		dialer.Control = netguard.DialControl
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           4096,
		MaxIdleConnsPerHost:    32,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    min(c.Timeout, 10*time.Second),
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		// Only the first KiB of an answer is kept, so ask for it as is.
		DisableCompression: true,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Send implements Sender: one POST, the answer's status, first KiB and
// Retry-After.
func (h *HTTP) Send(ctx context.Context, req Request) (Answer, error) {
	rctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(rctx, http.MethodPost, req.Endpoint.URL, bytes.NewReader(req.Body))
	if err != nil {
		return Answer{Err: "build request: " + err.Error()}, nil
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	resp, err := h.client.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return Answer{}, fmt.Errorf("deliver to %s: %w", req.Endpoint.ID, ctx.Err())
		}
		return Answer{Err: h.transportError(err)}, nil
	}
	defer resp.Body.Close()
	buf, _ := io.ReadAll(io.LimitReader(resp.Body, schemas.MaxResponseBody))
	_, _ = io.CopyN(io.Discard, resp.Body, drainLimit)
	ans := Answer{Status: resp.StatusCode, Body: string(buf)}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		ans.Err = "redirects are not followed"
		if loc := resp.Header.Get("Location"); loc != "" {
			ans.Err += " (Location: " + loc + ")"
		}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		ans.RetryAfter = resp.Header.Get("Retry-After")
	}
	return ans, nil
}

// transportError says why a request got no answer, without Go's
// `Post "url":` wrapping.
func (h *HTTP) transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("no answer within the delivery timeout of %s", h.timeout)
		}
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within the delivery timeout of %s", h.timeout)
	}
	return err.Error()
}
