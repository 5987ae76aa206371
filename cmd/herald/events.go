package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/herald-hq/herald/client"
)

// eventsCmd works on one event through the API, as the Temporal signals of
// the same names would, without the Temporal CLI.
type eventsCmd struct {
	Get    eventsGetCmd    `cmd:"" help:"Show an event: its status, and each delivery's status and attempts."`
	Cancel eventsCancelCmd `cmd:"" help:"Cancel the event's deliveries that have not succeeded (POST .../events/{id}/cancel)."`
	Replay eventsReplayCmd `cmd:"" help:"Deliver the event again, to every endpoint it was for or to --endpoint (POST .../events/{id}/replay)."`
}

// apiFlags say which Herald to talk to.
type apiFlags struct {
	APIURL string `name:"api-url" placeholder:"URL" help:"Herald's API (default: HERALD_API_URL, else http:// + HERALD_HTTP_ADDR)."`
	Token  string `help:"API token (default: HERALD_API_TOKEN, else the token herald dev keeps in HERALD_DATA_DIR)."`
	JSON   bool   `name:"json" help:"Print the event as the API's JSON."`
}

// eventArgs name the event.
type eventArgs struct {
	App   string `arg:"" name:"APP_ID" help:"The app's id."`
	Event string `arg:"" name:"EVENT_ID" help:"The event's id."`
}

type eventsGetCmd struct {
	apiFlags  `embed:""`
	eventArgs `embed:""`
}

type eventsCancelCmd struct {
	apiFlags  `embed:""`
	eventArgs `embed:""`
}

type eventsReplayCmd struct {
	apiFlags  `embed:""`
	eventArgs `embed:""`
	Endpoint  string `placeholder:"EP_ID" help:"Only this endpoint (default: every endpoint the event was for)."`
}

// eventsEnv is the part of --help that lists the variables.
const eventsEnv = `Environment:
  HERALD_API_URL (default http:// + HERALD_HTTP_ADDR)
      the API to talk to
  HERALD_HTTP_ADDR (default 127.0.0.1:8080)
      where the API listens, when HERALD_API_URL is unset
  HERALD_API_TOKEN
      the bearer token (default: the token herald dev keeps in the data dir)
  HERALD_DATA_DIR (default ./.herald)
      herald dev's data dir, read for its api-token when HERALD_API_TOKEN is unset`

func (eventsCmd) Help() string       { return eventsEnv }
func (eventsGetCmd) Help() string    { return eventsEnv }
func (eventsCancelCmd) Help() string { return eventsEnv }
func (eventsReplayCmd) Help() string { return eventsEnv }

func (c eventsGetCmd) Run(e *env) error {
	return c.call(e, "get", "", http.StatusOK, func(ctx context.Context, api *client.ClientWithResponses) (client.Response, error) {
		return api.GetEventWithResponse(ctx, c.App, c.Event)
	})
}

func (c eventsCancelCmd) Run(e *env) error {
	return c.call(e, "cancel", "Cancelled: deliveries not yet succeeded stop for good.", http.StatusAccepted,
		func(ctx context.Context, api *client.ClientWithResponses) (client.Response, error) {
			return api.CancelEventWithResponse(ctx, c.App, c.Event)
		})
}

func (c eventsReplayCmd) Run(e *env) error {
	var body client.Replay
	if c.Endpoint != "" {
		body.EndpointID = &c.Endpoint
	}
	return c.call(e, "replay", "Replaying: the event is being delivered again.", http.StatusAccepted,
		func(ctx context.Context, api *client.ClientWithResponses) (client.Response, error) {
			return api.ReplayEventWithResponse(ctx, c.App, c.Event, body)
		})
}

// call makes the client, calls the API with it, and prints note and the
// event the API answered with status want.
func (f apiFlags) call(e *env, what, note string, want int, do func(context.Context, *client.ClientWithResponses) (client.Response, error)) error {
	api, err := f.client(e)
	if err != nil {
		return err
	}
	res, err := do(e.ctx, api)
	if err == nil {
		err = client.Expect(res, want)
	}
	if err != nil {
		return fmt.Errorf("events %s: %w", what, err)
	}
	if note != "" && !f.JSON {
		fmt.Fprintln(e.stdout, note)
	}
	return f.print(e.stdout, res.GetBody())
}

// client is a client of the Herald the flags and environment name.
func (f apiFlags) client(e *env) (*client.ClientWithResponses, error) {
	base := f.APIURL
	if base == "" {
		base = e.getenv("HERALD_API_URL")
	}
	if base == "" {
		addr := e.getenv("HERALD_HTTP_ADDR")
		if addr == "" {
			addr = "127.0.0.1:8080"
		}
		base = "http://" + addr
	}
	token, err := f.token(e)
	if err != nil {
		return nil, err
	}
	return client.NewClientWithResponses(strings.TrimRight(base, "/"), client.WithBearer(token),
		client.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
}

// token is --token, HERALD_API_TOKEN, or the one herald dev made and keeps
// in its data dir (see devToken).
func (f apiFlags) token(e *env) (string, error) {
	if f.Token != "" {
		return f.Token, nil
	}
	if t := e.getenv("HERALD_API_TOKEN"); t != "" {
		return t, nil
	}
	dir := e.getenv("HERALD_DATA_DIR")
	if dir == "" {
		dir = "./.herald"
	}
	raw, err := os.ReadFile(filepath.Join(dir, "api-token"))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no API token: pass --token or set HERALD_API_TOKEN (herald dev keeps the one it made in %s)", filepath.Join(dir, "api-token"))
	}
	if err != nil {
		return "", fmt.Errorf("read the API token: %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}

// print shows the event: as the API's JSON with --json, else a summary.
func (f apiFlags) print(w io.Writer, raw []byte) error {
	if f.JSON {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("the API's answer is not JSON: %w", err)
		}
		out, _ := json.MarshalIndent(v, "", "  ")
		_, err := fmt.Fprintf(w, "%s\n", out)
		return err
	}
	var ev client.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return fmt.Errorf("the API's answer is not an event: %w", err)
	}
	key := ""
	if ev.OrderingKey != nil {
		key = ", ordering key " + *ev.OrderingKey
	}
	fmt.Fprintf(w, "Event %s (%s, app %s%s), accepted %s: %s\n", ev.ID, ev.EventType, ev.AppID, key,
		ev.CreatedAt.UTC().Format(time.RFC3339), ev.Status)
	if len(ev.Deliveries) == 0 {
		fmt.Fprintln(w, "  no deliveries: no endpoint subscribed to it")
	}
	for _, d := range ev.Deliveries {
		fmt.Fprintf(w, "  endpoint %s: %s, %s", d.EndpointID, d.Status, plural(len(d.Attempts), "attempt"))
		if n := len(d.Attempts); n > 0 {
			a := d.Attempts[n-1]
			switch {
			case a.ResponseStatus != nil:
				fmt.Fprintf(w, ", the last answered %d in %d ms", *a.ResponseStatus, a.DurationMs)
			case a.Error != nil:
				fmt.Fprintf(w, ", the last failed: %s", *a.Error)
			}
		}
		if d.NextAttemptAt != nil {
			fmt.Fprintf(w, "; next attempt at %s", d.NextAttemptAt.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(w)
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
