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
)

// apiClient talks to Herald's public HTTP API.
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

// setup creates an app, the event type (kept if it exists) and one endpoint
// per URL; it returns the app id and the endpoints' secrets.
func (c *apiClient) setup(ctx context.Context, urls []string, ordered bool) (string, []string, error) {
	var app struct {
		ID string `json:"id"`
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/apps", map[string]any{"name": "herald bench"}, &app, http.StatusCreated); err != nil {
		return "", nil, err
	}
	et := map[string]any{"name": benchEventType, "description": "events sent by herald bench"}
	if _, err := c.do(ctx, http.MethodPost, "/v1/event-types", et, nil, http.StatusCreated, http.StatusConflict); err != nil {
		return "", nil, err
	}
	secrets := make([]string, len(urls))
	for i, u := range urls {
		var ep struct {
			Secret string `json:"secret"`
		}
		body := map[string]any{"url": u, "ordered": ordered, "description": "herald bench receiver"}
		if _, err := c.do(ctx, http.MethodPost, "/v1/apps/"+app.ID+"/endpoints", body, &ep, http.StatusCreated); err != nil {
			return "", nil, err
		}
		secrets[i] = ep.Secret
	}
	return app.ID, secrets, nil
}

type newEvent struct {
	ID        string          `json:"id"`
	EventType string          `json:"event_type"`
	Payload   json.RawMessage `json:"payload"`
}

// postEvent sends one event and checks that it was accepted: 202, or 200
// when a retry finds it accepted by an earlier try.
func (c *apiClient) postEvent(ctx context.Context, app, id string, payload json.RawMessage) error {
	body := newEvent{ID: id, EventType: benchEventType, Payload: payload}
	_, err := c.do(ctx, http.MethodPost, "/v1/apps/"+app+"/events", body, nil, http.StatusAccepted, http.StatusOK)
	return err
}

// deleteApp removes the bench's app (and its endpoints) from a target.
func (c *apiClient) deleteApp(ctx context.Context, app string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/apps/"+app, nil, nil, http.StatusNoContent)
	return err
}
