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

// runRaw makes the same M*E deliveries as Herald with a plain loop at the
// same concurrency: build the envelope, sign, POST over keep-alive
// connections. Each (event, endpoint) is one job with its own webhook id,
// whose latency runs from just before its POST to its receipt.
func runRaw(ctx context.Context, o Options, recv *Receivers) (phase, error) {
	secrets, err := newSecrets(o.Endpoints)
	if err != nil {
		return phase{}, err
	}
	rec := recv.Record(phaseRaw, secrets)
	hc := keepAliveClient(o.Concurrency)
	defer hc.CloseIdleConnections()
	created := time.Now()
	log := newSendLog(o.Events * o.Endpoints)

	err = pool(ctx, o.Events*o.Endpoints, o.Concurrency, func(ctx context.Context, job int) error {
		ev, ep := job/o.Endpoints, job%o.Endpoints
		w := webhook{
			URL:       recv.URL(phaseRaw, ep),
			ID:        fmt.Sprintf("raw_%07d_%d", ev, ep),
			EventType: benchEventType,
			CreatedAt: created,
			Payload:   benchPayload(ev),
			Secret:    secrets[ep],
		}
		sendAt := time.Now()
		if err := w.post(ctx, hc); err != nil {
			return err
		}
		log.add(w.ID, sent{sendAt: sendAt, acceptAt: time.Now()})
		return nil
	})
	if err != nil {
		return phase{}, err
	}
	// Every receipt was recorded before its 200 was written; Wait only
	// guards against a bug in that reasoning.
	if err := rec.Wait(ctx, o.Events*o.Endpoints, o.Timeout); err != nil {
		return phase{}, err
	}
	firstSend, _ := log.span()
	return measure(rec, log.sends, firstSend, o.Events), nil
}
