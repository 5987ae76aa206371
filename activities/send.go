package activities

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-hq/herald/outbound"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/signing"
	"github.com/herald-hq/herald/store"
)

// The wire half of an attempt: noting it, signing and POSTing it, and
// reading the answer. Deciding what the answer means for the delivery is
// deliver.go's.

// answer is what one attempt got (an outbound.Answer, kept apart so the
// drain and the recorder read one shape).
type answer struct {
	status     int    // 0 when no answer
	body       string // first schemas.MaxResponseBody bytes
	errText    string // why it failed, for the attempt record
	retryAfter string // Retry-After header of a 429 or 503
}

// tried is one attempt that try made.
type tried struct {
	n       int // its number (store.BeginAttempt)
	started time.Time
	dur     time.Duration
	ans     answer
}

// try makes one attempt of a delivery; every POST Herald makes goes through
// it, a workflow's own attempt and a drain's alike. It marks the delivery
// delivering and notes the attempt in flight under key (store.BeginAttempt,
// so that an attempt whose process dies is on record as interrupted once
// it runs again), POSTs and counts it; the caller records the answer into
// that note (AttemptRecord.Attempt). moved is false, and nothing is sent,
// when the delivery may not go. When the POST ends in an error (the
// activity's context ended: the worker is stopping) the attempt is
// recorded as interrupted at once and the error returned.
func (a *Activities) try(ctx context.Context, job store.DeliveryJob, key string, gen int64) (t tried, moved bool, err error) {
	ev := job.Event
	t.started = a.now()
	t.n, moved, err = a.store.BeginAttempt(ctx, ev.AppID, ev.ID, job.Endpoint.ID, gen, key, t.started)
	if err != nil || !moved {
		return t, false, err
	}
	return t, true, a.send(ctx, job, &t)
}

// send POSTs attempt t, noted in flight, and counts it. When the POST ends
// in an error the attempt is recorded as interrupted at once and the error
// returned.
func (a *Activities) send(ctx context.Context, job store.DeliveryJob, t *tried) error {
	ev := job.Event
	t0 := time.Now()
	ans, err := a.post(ctx, job, t.started)
	t.ans = ans
	t.dur = time.Since(t0)
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := a.store.ReleaseInterrupted(rctx, ev.AppID, ev.ID, job.Endpoint.ID, t.n, max(t.dur.Milliseconds(), 1)); rerr != nil {
			a.log.Warn("record an interrupted attempt (its re-run will)", "event", ev.ID, "endpoint", job.Endpoint.ID, "err", rerr)
		}
		return err
	}
	if a.metrics != nil {
		a.metrics.Attempt(t.ans.status, t.dur)
	}
	return nil
}

// post signs the delivery and sends it through the endpoint's transport.
// Its error is only the activity's context ending (the worker is stopping
// or the activity timed out) or the store failing to give a transform its
// schema: the attempt is then not recorded, and the retried activity makes
// it again.
func (a *Activities) post(ctx context.Context, job store.DeliveryJob, at time.Time) (answer, error) {
	body, extra, failure, err := a.content(ctx, job)
	if err != nil || failure != "" {
		return answer{errText: failure}, err
	}
	keys := []string{job.Secrets.Key}
	if p := job.Secrets; p.PreviousKey != "" && p.PreviousExpiresAt != nil && p.PreviousExpiresAt.After(at) {
		keys = append(keys, p.PreviousKey)
	}
	sig, err := signing.SignatureHeader(keys, job.Event.ID, at, body)
	if err != nil {
		return answer{errText: "sign: " + err.Error()}, nil
	}
	h := make(http.Header, len(job.Endpoint.Headers)+5)
	for k, v := range job.Endpoint.Headers {
		if !strings.HasPrefix(strings.ToLower(k), "webhook-") {
			h.Set(k, v)
		}
	}
	for k, v := range extra { // a transform's headers, over the endpoint's
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", a.cfg.UserAgent)
	h[signing.HeaderID] = []string{job.Event.ID}
	h[signing.HeaderTimestamp] = []string{strconv.FormatInt(at.Unix(), 10)}
	h[signing.HeaderSignature] = []string{sig}

	out, err := a.sender.Send(ctx, outbound.Request{Endpoint: job.Endpoint, Header: h, Body: body})
	if err != nil {
		return answer{}, err
	}
	return answer{status: out.Status, body: out.Body, errText: out.Err, retryAfter: out.RetryAfter}, nil
}

// ok reports whether the answer makes the attempt a success: any 2xx.
func (ans answer) ok() bool { return ans.status >= 200 && ans.status < 300 }

// attempt is the record of the attempt that got ans.
func (ans answer) attempt(n int, started time.Time, durationMS int64) schemas.Attempt {
	return schemas.Attempt{Attempt: n, StartedAt: started, DurationMS: durationMS,
		ResponseStatus: ans.status, Error: ans.errText, ResponseBody: ans.body}
}

func (ans answer) describe() string {
	switch {
	case ans.status != 0 && ans.errText != "":
		return fmt.Sprintf("HTTP %d: %s", ans.status, ans.errText)
	case ans.status != 0:
		return fmt.Sprintf("HTTP %d", ans.status)
	default:
		return ans.errText
	}
}

// retryIn is the wait before the next attempt: the scheduled delay, or a
// 429/503's Retry-After when longer, but never more than twice the
// scheduled delay.
func retryIn(scheduled time.Duration, status int, retryAfter string, now time.Time) time.Duration {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return scheduled
	}
	ra, ok := parseRetryAfter(retryAfter, now)
	if !ok || ra <= scheduled {
		return scheduled
	}
	return min(ra, 2*scheduled)
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(365*24*time.Hour/time.Second))) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
