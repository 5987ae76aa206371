// Package broker is what Herald's message-broker transports share: the
// shape of a consumed message and of a consumer, the URL rules of each
// broker scheme, their Config, and the Publisher (a pool of publishing
// connections per broker, closed when idle, and the one way a publish
// becomes an attempt's answer). Each broker is a package of its own below
// this one (amqpbroker for RabbitMQ, natsbroker for NATS JetStream) that
// implements Consumer for sources and outbound.Sender for endpoints by
// embedding a Publisher; adding a broker is one such package, saying how to
// dial, publish and consume, and one row in the table below.
package broker

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/herald-hq/herald/netguard"
)

// Message is one message consumed from a source.
type Message struct {
	// ID is the producer's message id (AMQP message-id, NATS Nats-Msg-Id);
	// empty when it set none.
	ID string
	// Key identifies the message across redeliveries when ID is empty, for
	// brokers that can (a JetStream stream sequence); else empty.
	Key string
	// Header holds the message's headers with string values, names lowercased.
	Header map[string]string
	Body   []byte
	// Time is when the broker stored the message, zero when unknown.
	Time time.Time
}

// Delivery is a message with the means to settle it. Exactly one of Ack
// and Reject must be called, from any goroutine, in any order across
// messages; a message left unsettled when Consume returns goes back to the
// broker for redelivery.
type Delivery struct {
	Message
	Ack    func() error // the message is done with
	Reject func() error // the message can never be accepted: drop it (or dead-letter it), never redeliver
}

// Consumer receives a source's messages.
type Consumer interface {
	// Consume receives from the source at rawURL until ctx ends (nil) or
	// the connection fails or is refused (the error says why, in the
	// broker's words). It calls ready once the subscription stands, then
	// handle for each message in the broker's order, never more than
	// prefetch of them unsettled at once.
	Consume(ctx context.Context, rawURL string, prefetch int, ready func(), handle func(Delivery)) error
}

// Consumers picks the Consumer by URL scheme.
type Consumers map[string]Consumer

// Consume implements Consumer.
func (m Consumers) Consume(ctx context.Context, rawURL string, prefetch int, ready func(), handle func(Delivery)) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("source url: %w", err)
	}
	c, ok := m[u.Scheme]
	if !ok {
		return fmt.Errorf("no consumer for URL scheme %q", u.Scheme)
	}
	return c.Consume(ctx, rawURL, prefetch, ready, handle)
}

// scheme is what one broker URL scheme accepts: the query parameters of a
// source URL and of an endpoint (destination) URL, each required and not
// empty unless listed in optional (may be absent) or emptyOK (may be empty).
type scheme struct {
	source, destination []string
	optional            []string // parameters that may be absent
	emptyOK             []string // parameters that may be present and empty
}

var schemes = map[string]scheme{
	// exchange= (empty) is AMQP's default exchange, which routes by queue name.
	"amqp":  {source: []string{"queue"}, destination: []string{"exchange", "routing_key"}, optional: []string{"routing_key"}, emptyOK: []string{"exchange", "routing_key"}},
	"amqps": {source: []string{"queue"}, destination: []string{"exchange", "routing_key"}, optional: []string{"routing_key"}, emptyOK: []string{"exchange", "routing_key"}},
	"nats":  {source: []string{"stream", "consumer"}, destination: []string{"subject"}},
}

// IsBrokerURL reports whether raw names a broker scheme Herald knows.
func IsBrokerURL(raw string) bool {
	scheme, _, ok := strings.Cut(raw, "://")
	_, known := schemes[strings.ToLower(scheme)]
	return ok && known
}

// CheckSourceURL validates a source URL: a known broker scheme, a host, and
// the scheme's source parameters (amqp: queue; nats: stream and consumer).
func CheckSourceURL(raw string) (*url.URL, error) {
	return check(raw, func(s scheme) []string { return s.source }, "source")
}

// CheckDestinationURL validates a broker endpoint URL: a known scheme, a
// host, and the scheme's parameters (amqp: exchange, optional routing_key;
// nats: subject).
func CheckDestinationURL(raw string) (*url.URL, error) {
	return check(raw, func(s scheme) []string { return s.destination }, "endpoint")
}

func check(raw string, params func(scheme) []string, what string) (*url.URL, error) {
	if len(raw) > netguard.MaxURLLength {
		return nil, fmt.Errorf("url is longer than %d bytes", netguard.MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url is not a valid URL: %w", err)
	}
	s, ok := schemes[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("url scheme must be amqp, amqps or nats, not %q", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("url has no host")
	}
	if u.Fragment != "" || u.Opaque != "" {
		return nil, fmt.Errorf("url must be of the form %s://[user:password@]host[:port]%s?%s", u.Scheme, vhostHint(u.Scheme), example(params(s)))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("url query: %w", err)
	}
	want := params(s)
	for name, vs := range q {
		if !slices.Contains(want, name) {
			return nil, fmt.Errorf("a %s %s url takes only %s, not %q", u.Scheme, what, strings.Join(want, " and "), name)
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("url parameter %s is given %d times", name, len(vs))
		}
	}
	for _, name := range want {
		vs, present := q[name]
		switch {
		case !present && !slices.Contains(s.optional, name):
			return nil, fmt.Errorf("a %s %s url needs ?%s", u.Scheme, what, example(want))
		case present && vs[0] == "" && !slices.Contains(s.emptyOK, name):
			return nil, fmt.Errorf("url parameter %s is empty", name)
		}
	}
	if u.Scheme == "nats" {
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("a nats url has no path, not %q", u.Path)
		}
	}
	return u, nil
}

func example(params []string) string {
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p + "=" + strings.ToUpper(p[:1])
	}
	return strings.Join(parts, "&")
}

func vhostHint(scheme string) string {
	if strings.HasPrefix(scheme, "amqp") {
		return "[/vhost]"
	}
	return ""
}

// Redact hides a URL's password, for showing it.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Param is one query parameter of a checked broker URL.
func Param(u *url.URL, name string) string { return u.Query().Get(name) }

// Base is the URL without its query and fragment: what identifies the
// broker connection (user, password, host, vhost) in a pool.
func Base(u *url.URL) string {
	b := *u
	b.RawQuery, b.Fragment, b.ForceQuery = "", "", false
	return b.String()
}
