package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runEvents runs `herald events args...` in process with env as its
// environment.
func runEvents(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, append([]string{"events"}, args...), func(k string) string { return env[k] }, &out, &out)
	return out.String(), err
}

// TestEventsCancelAndReplay cancels an event waiting behind a failing one
// on an ordered endpoint, then replays it, with `herald events` against a
// running `herald dev`, as the README's quickstart does.
func TestEventsCancelAndReplay(t *testing.T) {
	dev := sharedDev(t)
	api := apiFor(t, dev)
	f := newFixture(t, api, nil)
	var first string
	rc := newReceiver(t, func(_ int, r *http.Request) (int, http.Header, time.Duration) {
		if r.Header.Get("webhook-id") == first {
			return http.StatusInternalServerError, nil, time.Second // holds the lane through its retries
		}
		return http.StatusOK, nil, 0
	})
	f.endpoint(t, map[string]any{"url": rc.URL()}) // ordered by default
	var ev struct{ ID, Status string }
	first = "first-" + f.app
	api.must(202, "POST", "/v1/apps/"+f.app+"/events", map[string]any{"id": first, "event_type": f.eventType, "payload": map[string]any{"n": 1}}, nil)
	api.must(202, "POST", "/v1/apps/"+f.app+"/events", map[string]any{"id": "second", "event_type": f.eventType, "payload": map[string]any{"n": 2}}, &ev)
	env := map[string]string{"HERALD_API_URL": api.base, "HERALD_API_TOKEN": api.token}

	out, err := runEvents(t, env, "cancel", f.app, "second")
	if err != nil {
		t.Fatalf("events cancel: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Cancelled") || !strings.Contains(out, "Event second ("+f.eventType+", app "+f.app) {
		t.Fatalf("events cancel printed:\n%s", out)
	}
	eventually(t, 30*time.Second, "the second event cancelled", func() bool {
		api.must(200, "GET", "/v1/apps/"+f.app+"/events/second", nil, &ev)
		return ev.Status == "cancelled"
	})

	// Replay it at once: the cancelled run may still be open, and its own
	// cancel step must not undo the replay (TestCancelReplayRaces).
	if out, err = runEvents(t, env, "replay", f.app, "second"); err != nil || !strings.Contains(out, "Replaying") {
		t.Fatalf("events replay: %v\n%s", err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for ev.Status != "delivered" {
		if time.Now().After(deadline) {
			dump, _ := runEvents(t, env, "get", "--json", f.app, "second")
			dumpFirst, _ := runEvents(t, env, "get", f.app, first)
			t.Fatalf("the replayed event was not delivered:\n%s\n%s", dump, dumpFirst)
		}
		time.Sleep(100 * time.Millisecond)
		api.must(200, "GET", "/v1/apps/"+f.app+"/events/second", nil, &ev)
	}
	got := 0
	for _, r := range rc.received() {
		if r.ID == "second" {
			got++
		}
	}
	if got != 1 {
		t.Fatalf("the receiver got the second event %d times", got)
	}

	// get, with the token herald dev would keep in its data dir.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "api-token"), []byte(api.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runEvents(t, map[string]string{"HERALD_API_URL": api.base, "HERALD_DATA_DIR": dir}, "get", f.app, "second")
	if err != nil || !strings.Contains(out, ": delivered") || !strings.Contains(out, "the last answered 200") {
		t.Fatalf("events get: %v\n%s", err, out)
	}
	out, err = runEvents(t, env, "get", "--json", f.app, "second")
	if err != nil || !strings.Contains(out, `"status": "delivered"`) {
		t.Fatalf("events get --json: %v\n%s", err, out)
	}

	// Errors are the API's, with their code.
	if _, err := runEvents(t, env, "cancel", f.app, "no-such-event"); err == nil || !strings.Contains(err.Error(), "404 event_not_found") {
		t.Fatalf("cancel of an unknown event: %v", err)
	}
	if _, err := runEvents(t, map[string]string{"HERALD_API_URL": api.base, "HERALD_API_TOKEN": "wrong"}, "get", f.app, "second"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a wrong token: %v", err)
	}
	if _, err := runEvents(t, map[string]string{"HERALD_API_URL": api.base, "HERALD_DATA_DIR": t.TempDir()}, "get", f.app, "second"); err == nil || !strings.Contains(err.Error(), "no API token") {
		t.Fatalf("no token anywhere: %v", err)
	}
}
