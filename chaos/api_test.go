package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// apiClient talks to Herald's HTTP API as a client would, across crashes.
type apiClient struct {
	base, token string
	http        *http.Client

	// Answers a client must retry: no answer (Herald killed or starting)
	// and 503 (a dependency down, as the contract says). A 500 is counted
	// apart: the contract keeps it for faults, so the report shows it.
	noAnswer, unavailable, internal atomic.Int64

	mu        sync.Mutex
	internals []string // the first few 500s: what was asked and the answer
}

// noteInternal keeps a 500 answer for the report.
func (c *apiClient) noteInternal(method, path string, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.internals) < 5 {
		c.internals = append(c.internals, fmt.Sprintf("%s %s at %s: 500 %s", method, path, time.Now().Format("15:04:05.000"), body))
	}
}

func (c *apiClient) internalAnswers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.internals...)
}

func newAPIClient(base, token string) *apiClient {
	return &apiClient{base: base, token: token, http: &http.Client{Timeout: 15 * time.Second}}
}

// answer is one definite answer and when the request that got it was sent
// first and answered: the operation took effect somewhere in [sent, at].
type answer struct {
	status   int
	body     []byte
	sent, at time.Time
}

func (a answer) decode(v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return fmt.Errorf("decode %q: %w", a.body, err)
	}
	return nil
}

// once sends one request.
func (c *apiClient) once(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, raw, nil
}

// call sends a request until Herald answers it with something other than
// 500 or 503, as a client that must know the outcome does (a killed Herald
// is started again by the test). Every operation the test makes is safe to
// repeat: events carry their id, deletes answer 404 the second time, a
// rotation names its new key. A repeated replay or recover delivers once
// more, which the checks allow for replays.
func (c *apiClient) call(ctx context.Context, method, path string, body any) (answer, error) {
	a := answer{sent: time.Now()}
	for {
		status, raw, err := c.once(ctx, method, path, body)
		switch {
		case err != nil:
			c.noAnswer.Add(1)
		case status == http.StatusServiceUnavailable:
			c.unavailable.Add(1)
		case status == http.StatusInternalServerError:
			c.internal.Add(1)
			c.noteInternal(method, path, raw)
		default:
			a.status, a.body, a.at = status, raw, time.Now()
			return a, nil
		}
		if ctx.Err() != nil {
			return a, fmt.Errorf("%s %s: no answer before the deadline (last: %d %s %v)", method, path, status, raw, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// must is call that also wants one of the given statuses.
func (c *apiClient) must(ctx context.Context, method, path string, body any, want ...int) (answer, error) {
	a, err := c.call(ctx, method, path, body)
	if err != nil {
		return a, err
	}
	for _, w := range want {
		if a.status == w {
			return a, nil
		}
	}
	return a, fmt.Errorf("%s %s: status %d, want %v: %s", method, path, a.status, want, a.body)
}
