package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-hq/herald/signing"
)

// runListen runs `herald listen args...` in process until the test ends
// (as Ctrl-C would end it) and returns its output and a channel of its result.
func runListen(t *testing.T, args ...string) (*syncBuffer, context.CancelFunc, chan error) {
	t.Helper()
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"listen"}, args...), func(string) string { return "" }, out, out)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return out, cancel, done
}

func TestListenForwardsFromHerald(t *testing.T) {
	dev := sharedDev(t)
	c := dev.api.withT(t)
	app := fmt.Sprintf("listen-%d", time.Now().UnixNano())
	c.must(201, "POST", "/v1/apps", map[string]any{"id": app, "name": "Listen"}, nil)
	c.must(201, "POST", "/v1/event-types", map[string]any{"name": "listen." + app}, nil)

	// The developer's local app: it answers 202 and records what it got.
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer local.Close()

	out, stop, done := runListen(t, "--target", c.base, "--token", c.token, "--app", app, "--forward-to", local.URL+"/hook")
	var eps struct {
		Data []struct{ ID, URL string }
	}
	eventually(t, 30*time.Second, "listen's endpoint", func() bool {
		c.must(200, "GET", "/v1/apps/"+app+"/endpoints", nil, &eps)
		return len(eps.Data) == 1
	})
	if !strings.HasPrefix(eps.Data[0].URL, "http://127.0.0.1:") {
		t.Fatalf("endpoint url %s", eps.Data[0].URL)
	}
	var secret struct{ Key string }
	c.must(200, "GET", "/v1/apps/"+app+"/endpoints/"+eps.Data[0].ID+"/secret", nil, &secret)

	var ev struct{ ID string }
	c.must(202, "POST", "/v1/apps/"+app+"/events", map[string]any{"event_type": "listen." + app,
		"payload": map[string]any{"order": "ord_7", "total": 1250}}, &ev)
	eventually(t, 30*time.Second, "the forwarded delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	})
	// Forwarded unchanged: the local app verifies Herald's own signature.
	mu.Lock()
	r, body := got[0], bodies[0]
	mu.Unlock()
	if err := signing.Verify(secret.Key, r.Header, body, time.Minute); err != nil || r.URL.Path != "/hook" {
		t.Fatalf("forwarded request does not verify (%v) or went to %s", err, r.URL.Path)
	}
	// Herald recorded the local app's status as the attempt's.
	var event struct {
		Deliveries []struct {
			Attempts []struct {
				ResponseStatus int `json:"response_status"`
			}
		}
	}
	eventually(t, 30*time.Second, "the recorded attempt", func() bool {
		c.must(200, "GET", "/v1/apps/"+app+"/events/"+ev.ID, nil, &event)
		return len(event.Deliveries) == 1 && len(event.Deliveries[0].Attempts) == 1
	})
	if s := event.Deliveries[0].Attempts[0].ResponseStatus; s != http.StatusAccepted {
		t.Fatalf("attempt status %d", s)
	}
	printed := out.String()
	for _, want := range []string{"listen." + app, ev.ID, "attempt 1", "signature ok", `"order": "ord_7"`, "answered 202"} {
		if !strings.Contains(printed, want) {
			t.Fatalf("output lacks %q:\n%s", want, printed)
		}
	}

	// Ctrl-C: the endpoint is deleted.
	stop()
	if err := <-done; err != nil {
		t.Fatalf("listen: %v", err)
	}
	done <- nil
	c.must(200, "GET", "/v1/apps/"+app+"/endpoints", nil, &eps)
	if len(eps.Data) != 0 || !strings.Contains(out.String(), "Deleted endpoint") {
		t.Fatalf("endpoint left behind: %v\n%s", eps.Data, out.String())
	}
}

func TestListenPlainReceiver(t *testing.T) {
	t.Parallel()
	secret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	out, _, _ := runListen(t, "--secret", secret)
	var base string
	addr := regexp.MustCompile(`Listening on (http://127\.0\.0\.1:\d+/)`)
	eventually(t, 10*time.Second, "the listening address", func() bool {
		m := addr.FindStringSubmatch(out.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	send := func(key string) int {
		t.Helper()
		body := []byte(`{"type":"user.created","timestamp":"2025-01-01T00:00:00Z","data":{"name":"<Ada>"}}`)
		sig, err := signing.SignatureHeader([]string{key}, "msg_1", time.Now(), body)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", base, strings.NewReader(string(body)))
		req.Header.Set("webhook-id", "msg_1")
		req.Header.Set("webhook-timestamp", fmt.Sprint(time.Now().Unix()))
		req.Header.Set("webhook-signature", sig)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := send(secret); s != 200 {
		t.Fatalf("signed delivery answered %d", s)
	}
	other, _ := signing.NewSecret()
	if s := send(other); s != 401 {
		t.Fatalf("wrongly signed delivery answered %d", s)
	}
	printed := out.String()
	for _, want := range []string{"user.created  msg_1  attempt 1  signature ok", `"name": "<Ada>"`,
		"attempt 2  signature FAILED: no matching signature", "answered 401"} {
		if !strings.Contains(printed, want) {
			t.Fatalf("output lacks %q:\n%s", want, printed)
		}
	}
}
