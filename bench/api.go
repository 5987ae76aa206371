package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/herald-hq/herald/client"
)

// apiClient talks to the floor's small HTTP API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(base, token string, conns int) *apiClient {
	return &apiClient{
		base:  strings.TrimRight(base, "/"),
		token: token,
		http:  keepAliveClient(conns),
	}
}

// keepAliveClient keeps up to conns connections open to each host.
func keepAliveClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns * 2
	t.MaxIdleConnsPerHost = conns
	return &http.Client{Transport: t, Timeout: 60 * time.Second}
}

// do sends body (JSON-encoded unless nil) and decodes the answer into out
// (when not nil). It returns the status; any status outside want is an error
// carrying the answer's body.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any, want ...int) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if !slices.Contains(want, resp.StatusCode) {
		return resp.StatusCode, fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// benchEventType is the event type every bench event has (no schema).
const benchEventType = "herald.bench"

// heraldAPI talks to Herald's API through the generated client.
type heraldAPI struct {
	c *client.ClientWithResponses
}

func newHeraldAPI(base, token string, conns int) (*heraldAPI, error) {
	c, err := client.NewClientWithResponses(strings.TrimRight(base, "/"), client.WithBearer(token),
		client.WithHTTPClient(keepAliveClient(conns)))
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", base, err)
	}
	return &heraldAPI{c: c}, nil
}

// setup creates an app, the event type (kept if it exists) and one endpoint
// per URL; it returns the app id and the endpoints' secrets.
func (h *heraldAPI) setup(ctx context.Context, urls []string, ordered bool) (string, []string, error) {
	res, err := h.c.CreateAppWithResponse(ctx, client.AppCreate{Name: "herald bench"})
	if err == nil {
		err = client.Expect(res, http.StatusCreated)
	}
	if err != nil {
		return "", nil, fmt.Errorf("create the app: %w", err)
	}
	app := res.JSON201.ID
	desc := "events sent by herald bench"
	et, err := h.c.CreateEventTypeWithResponse(ctx, client.EventTypeCreate{Name: benchEventType, Description: &desc})
	if err == nil {
		err = client.Expect(et, http.StatusCreated, http.StatusConflict)
	}
	if err != nil {
		return "", nil, fmt.Errorf("create the event type: %w", err)
	}
	secrets := make([]string, len(urls))
	for i, u := range urls {
		desc := "herald bench receiver"
		ep, err := h.c.CreateEndpointWithResponse(ctx, app, client.EndpointCreate{URL: u, Ordered: &ordered, Description: &desc})
		if err == nil {
			err = client.Expect(ep, http.StatusCreated)
		}
		if err != nil {
			return "", nil, fmt.Errorf("create an endpoint: %w", err)
		}
		secrets[i] = ep.JSON201.Secret
	}
	return app, secrets, nil
}

// postEvent sends one event (with an ordering key, unless key is "") and
// checks that it was accepted: 202, or 200 when a retry finds it accepted
// by an earlier try. It is the hot path: the plain client, whose answer is
// drained unread, as the floor's send is.
func (h *heraldAPI) postEvent(ctx context.Context, app, id, key string, payload json.RawMessage) error {
	ev := client.EventCreate{ID: &id, EventType: benchEventType, Payload: payload}
	if key != "" {
		ev.OrderingKey = &key
	}
	res, err := h.c.CreateEvent(ctx, app, nil, ev)
	if err != nil {
		return fmt.Errorf("send event %s: %w", id, err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusAccepted || res.StatusCode == http.StatusOK {
		_, err := io.Copy(io.Discard, res.Body)
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	return fmt.Errorf("send event %s: status %d: %s", id, res.StatusCode, bytes.TrimSpace(b))
}

// deleteApp removes the bench's app (and its endpoints) from a target.
func (h *heraldAPI) deleteApp(ctx context.Context, app string) error {
	res, err := h.c.DeleteAppWithResponse(ctx, app)
	if err == nil {
		err = client.Expect(res, http.StatusNoContent)
	}
	return err
}
