package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/herald-hq/herald/signing"
)

// webhook is one signed POST, as Herald sends it.
type webhook struct {
	URL       string
	ID        string
	EventType string
	CreatedAt time.Time
	Payload   json.RawMessage
	Secret    string
}

// envelope is the body an endpoint receives: {"type", "timestamp", "data"}.
func (w webhook) envelope() ([]byte, error) {
	b, err := json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}{w.EventType, w.CreatedAt.UTC().Format(time.RFC3339Nano), w.Payload})
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return b, nil
}

// post builds the envelope, signs it now and POSTs it; any answer but 2xx is
// an error.
func (w webhook) post(ctx context.Context, hc *http.Client) error {
	body, err := w.envelope()
	if err != nil {
		return err
	}
	now := time.Now()
	sig, err := signing.SignatureHeader([]string{w.Secret}, w.ID, now, body)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: %w", w.URL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herald-bench")
	req.Header.Set(signing.HeaderID, w.ID)
	req.Header.Set(signing.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(signing.HeaderSignature, sig)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", w.URL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body) // so the connection is reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: status %d", w.URL, resp.StatusCode)
	}
	return nil
}

// newSecrets makes one HMAC secret per endpoint.
func newSecrets(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		s, err := signing.NewSecret()
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// rawSystem is a plain Go loop in the bench process that does what the
// floor's bare activity does for one event: build the envelope, sign and
// POST to each endpoint in turn over keep-alive connections. It has no
// process of its own, so no CPU figures.
func rawSystem(o Options) *system {
	hc := keepAliveClient(o.conns())
	created := time.Now()
	s := &system{name: "raw", stop: hc.CloseIdleConnections}
	s.begin = func(ctx context.Context, urls []string) (phaseSetup, error) {
		secrets, err := newSecrets(len(urls))
		if err != nil {
			return phaseSetup{}, err
		}
		run, err := runID()
		if err != nil {
			return phaseSetup{}, err
		}
		send := func(ctx context.Context, id, _ string, p json.RawMessage) error { // no keys: no lanes
			for i, u := range urls {
				w := webhook{URL: u, ID: id, EventType: benchEventType, CreatedAt: created, Payload: p, Secret: secrets[i]}
				if err := w.post(ctx, hc); err != nil {
					return err
				}
			}
			return nil
		}
		return phaseSetup{secrets: secrets, send: send, idPrefix: "raw_" + run + "_"}, nil
	}
	return s
}
