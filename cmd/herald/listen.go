package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herald-hq/herald/client"
	"github.com/herald-hq/herald/signing"
)

type listenCmd struct {
	ForwardTo  string   `name:"forward-to" placeholder:"URL" help:"Forward each delivery, unchanged, to this URL and answer Herald with its status."`
	Target     string   `placeholder:"URL" help:"A running Herald (e.g. http://127.0.0.1:8080): listen makes a temporary endpoint of --app there, pointing at itself, and deletes it on exit."`
	Token      string   `help:"API token for --target (default: HERALD_API_TOKEN)."`
	App        string   `help:"The app whose deliveries to receive (with --target)."`
	EventTypes []string `name:"event-types" help:"Only these event types (with --target; default: all)."`
	Port       int      `help:"Port to listen on, on 127.0.0.1 (default: any free one)."`
	Secret     string   `placeholder:"whsec_..." help:"Key to verify signatures with, without --target (with it, the endpoint's own)."`
}

// listener is `herald listen`'s receiver: it verifies, prints and forwards.
type listener struct {
	out       io.Writer
	mu        sync.Mutex // serializes printing and the fields below
	key       string
	refetch   func(ctx context.Context) (string, error)
	seen      map[string]int
	forwardTo string
	client    *http.Client
}

func (c listenCmd) Run(e *env) error {
	if c.Token == "" {
		c.Token = e.getenv("HERALD_API_TOKEN")
	}
	if c.Target != "" && c.App == "" {
		return errors.New("listen: --target needs --app")
	}
	if c.Target == "" && c.Secret != "" {
		if err := signing.ValidateSecret(c.Secret); err != nil && !strings.HasPrefix(c.Secret, "whpk_") {
			return fmt.Errorf("listen: --secret: %w", err)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	self := "http://" + ln.Addr().String() + "/"
	l := &listener{out: e.stdout, key: c.Secret, seen: map[string]int{}, forwardTo: c.ForwardTo,
		client: &http.Client{Timeout: 30 * time.Second}}
	fmt.Fprintf(e.stdout, "Listening on %s\n", self)
	if c.Target != "" {
		ep, secret, err := newListenEndpoint(e.ctx, strings.TrimRight(c.Target, "/"), c.Token, c.App, self, c.EventTypes)
		if err != nil {
			return err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := ep.delete(ctx); err != nil {
				fmt.Fprintf(e.stderr, "herald listen: delete endpoint %s: %v\n", ep.id, err)
				return
			}
			fmt.Fprintf(e.stdout, "Deleted endpoint %s\n", ep.id)
		}()
		l.key = secret
		l.refetch = ep.secret
		fmt.Fprintf(e.stdout, "Made endpoint %s on app %s at %s\n", ep.id, c.App, ep.base)
	}
	if c.ForwardTo != "" {
		fmt.Fprintf(e.stdout, "Forwarding to %s\n", c.ForwardTo)
	}
	fmt.Fprintln(e.stdout, "Press Ctrl-C to stop.")
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("listen: %w", err)
	case <-e.ctx.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	verified := l.verify(r.Context(), r.Header, body)
	status, answer, took, ferr := http.StatusOK, []byte("ok"), time.Duration(0), error(nil)
	switch {
	case l.forwardTo != "":
		status, answer, took, ferr = l.forward(r, body)
	case verified != nil:
		status, answer = http.StatusUnauthorized, []byte(verified.Error())
	}
	l.print(r.Header, body, verified, status, took, ferr)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// verify checks the signature; with --target a failure fetches the
// endpoint's key again once, in case it was rotated meanwhile.
func (l *listener) verify(ctx context.Context, h http.Header, body []byte) error {
	l.mu.Lock()
	key := l.key
	l.mu.Unlock()
	if key == "" {
		return errors.New("not verified: no --secret given")
	}
	err := client.Verify(key, h, body)
	if err != nil && l.refetch != nil {
		if fresh, ferr := l.refetch(ctx); ferr == nil && fresh != key {
			l.mu.Lock()
			l.key = fresh
			l.mu.Unlock()
			err = client.Verify(fresh, h, body)
		}
	}
	return err
}

// forward sends the delivery on, unchanged but for hop-by-hop headers.
func (l *listener) forward(r *http.Request, body []byte) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, l.forwardTo, bytes.NewReader(body))
	if err != nil {
		return http.StatusBadGateway, []byte(err.Error()), 0, err
	}
	for k, vs := range r.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Accept-Encoding":
			continue
		}
		req.Header[k] = vs
	}
	start := time.Now()
	res, err := l.client.Do(req)
	took := time.Since(start)
	if err != nil {
		return http.StatusBadGateway, []byte("herald listen could not reach " + l.forwardTo), took, err
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, answer, took, nil
}

// print shows one delivery: type, id, attempt, verification, payload, answer.
func (l *listener) print(h http.Header, body []byte, verified error, status int, took time.Duration, ferr error) {
	var envelope struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	payload := body
	if json.Unmarshal(body, &envelope) == nil && envelope.Type != "" {
		payload = envelope.Data
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, payload, "  ", "  ") != nil {
		pretty.Reset()
		pretty.Write(payload)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	id := h.Get("webhook-id")
	l.seen[id]++
	check := "signature ok"
	if verified != nil {
		check = "signature FAILED: " + verified.Error()
	}
	typ := envelope.Type
	if typ == "" {
		typ = "(no type: not a Herald envelope)"
	}
	fmt.Fprintf(l.out, "\n%s  %s  %s  attempt %d  %s\n  %s\n", time.Now().Format("15:04:05"), typ, id, l.seen[id], check, pretty.String())
	switch {
	case ferr != nil:
		fmt.Fprintf(l.out, "  -> %s failed: %v; answered %d\n", l.forwardTo, ferr, status)
	case l.forwardTo != "":
		fmt.Fprintf(l.out, "  -> %s answered %d in %d ms\n", l.forwardTo, status, took.Milliseconds())
	default:
		fmt.Fprintf(l.out, "  answered %d\n", status)
	}
}

// listenEndpoint is the temporary endpoint `herald listen --target` makes.
type listenEndpoint struct {
	api     *client.ClientWithResponses
	base    string
	app, id string
}

func newListenEndpoint(ctx context.Context, base, token, app, self string, types []string) (*listenEndpoint, string, error) {
	api, err := client.NewClientWithResponses(base, client.WithBearer(token))
	if err != nil {
		return nil, "", fmt.Errorf("listen: %w", err)
	}
	if types == nil {
		types = []string{}
	}
	desc := "herald listen (temporary)"
	res, err := api.CreateEndpointWithResponse(ctx, app, client.EndpointCreate{URL: self, Description: &desc, EventTypes: &types})
	if err == nil {
		err = client.Expect(res, http.StatusCreated)
	}
	if err != nil {
		return nil, "", fmt.Errorf("listen: make an endpoint on %s: %w (a Herald outside `herald dev` refuses 127.0.0.1 unless HERALD_ALLOW_PRIVATE_NETWORKS=true)", base, err)
	}
	return &listenEndpoint{api: api, base: base, app: app, id: res.JSON201.ID}, res.JSON201.Secret, nil
}

func (l *listenEndpoint) delete(ctx context.Context) error {
	res, err := l.api.DeleteEndpointWithResponse(ctx, l.app, l.id)
	if err == nil {
		err = client.Expect(res, http.StatusNoContent)
	}
	return err
}

func (l *listenEndpoint) secret(ctx context.Context) (string, error) {
	res, err := l.api.GetEndpointSecretWithResponse(ctx, l.app, l.id)
	if err == nil {
		err = client.Expect(res, http.StatusOK)
	}
	if err != nil {
		return "", err
	}
	return res.JSON200.Key, nil
}
