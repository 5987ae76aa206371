// Package outbound sends one signed webhook to its receiver, over whatever
// transport the endpoint's URL names. The activities build the request
// (body, signature, headers) and record what Send answers; a transport only
// moves bytes and says what the receiver made of them, so a new one (a
// broker, another protocol) is a new Sender registered in a Mux.
package outbound

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/herald-hq/herald/schemas"
)

// Request is one attempt, ready to send.
type Request struct {
	// Endpoint is the receiver: its URL picks the transport, and a
	// transport may read its other settings (headers, authentication).
	Endpoint schemas.Endpoint
	// Header is every header to send: content type, user agent, the
	// webhook-* headers and the endpoint's own.
	Header http.Header
	Body   []byte
}

// Answer is what the receiver made of an attempt.
type Answer struct {
	Status     int    // HTTP status, or 200 for a broker's confirm; 0 when no answer came
	Body       string // the first schemas.MaxResponseBody bytes of the answer
	Err        string // why the attempt failed, for its record; empty on success
	RetryAfter string // the Retry-After of a 429 or 503
}

// OK reports whether the answer makes the attempt a success: any 2xx.
func (a Answer) OK() bool { return a.Status >= 200 && a.Status < 300 && a.Err == "" }

// Sender makes one attempt. Its error is only ctx ending (the worker stops,
// the activity times out): the attempt is then not on record and is made
// again. Every failure of the receiver or the path to it is in the Answer.
type Sender interface {
	Send(ctx context.Context, req Request) (Answer, error)
}

// Mux sends each request with the Sender registered for its URL's scheme.
type Mux map[string]Sender

// Send implements Sender.
func (m Mux) Send(ctx context.Context, req Request) (Answer, error) {
	u, err := url.Parse(req.Endpoint.URL)
	if err != nil {
		return Answer{Err: "bad endpoint URL: " + err.Error()}, nil
	}
	s, ok := m[u.Scheme]
	if !ok {
		return Answer{Err: fmt.Sprintf("no transport for URL scheme %q", u.Scheme)}, nil
	}
	return s.Send(ctx, req)
}
