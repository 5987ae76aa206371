package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/herald-hq/herald/devserver"
	"github.com/herald-hq/herald/schemas"
)

// system is one thing the bench measures in phases: Herald, or the floor.
type system struct {
	name string   // "herald", "versus", "source" or "floor": the JSON key
	proc *devProc // nil for a --target, whose CPU is not read
	tc   client.Client
	// borrowed: proc and tc are another system's, closed with it.
	borrowed bool
	api      *heraldAPI // Herald's API; nil for the floor
	// begin prepares a phase: endpoints at urls, a sender, and the
	// visibility query that finds the phase's workflows.
	begin func(ctx context.Context, urls []string) (phaseSetup, error)
	stop  func()
}

// phaseSetup is a system made ready for one phase.
type phaseSetup struct {
	secrets []string
	send    func(ctx context.Context, id, key string, payload json.RawMessage) error
	// workflows is a visibility query matching this phase's workflows (and
	// possibly earlier ones, counted in earlier); "" when not countable.
	workflows string
	earlier   int
	idPrefix  string // of this phase's webhook ids
	app       string // Herald's app, for the history sample
}

func (s *system) pid() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.PID()
}

// heraldSystem is a Herald (`herald dev` started from exe, or the target):
// each phase gets an app of its own with E endpoints, ordered or not.
func heraldSystem(ctx context.Context, o Options, name, exe string, ordered bool) (*system, error) {
	s := &system{name: name, stop: func() {}}
	url, token, temporalAddr := o.Target, o.Token, o.TemporalAddr
	if url == "" {
		dev, err := startDev(ctx, exe, o.Environ, o.Logger)
		if err != nil {
			return nil, err
		}
		s.proc = dev
		url, token, temporalAddr = dev.URL, dev.Token, dev.TemporalAddr
	}
	if temporalAddr != "" {
		tc, err := dialTemporal(ctx, temporalAddr, o.Logger)
		if err != nil {
			s.close(o.Logger)
			return nil, err
		}
		s.tc = tc
	}
	api, err := newHeraldAPI(url, token, o.conns())
	if err != nil {
		s.close(o.Logger)
		return nil, err
	}
	s.api = api
	var apps []string
	s.begin = func(ctx context.Context, urls []string) (phaseSetup, error) {
		app, secrets, err := api.setup(ctx, urls, ordered)
		if err != nil {
			return phaseSetup{}, fmt.Errorf("set up app and endpoints: %w", err)
		}
		apps = append(apps, app)
		run, err := runID()
		if err != nil {
			return phaseSetup{}, err
		}
		return phaseSetup{
			secrets: secrets,
			send: func(ctx context.Context, id, key string, p json.RawMessage) error {
				return api.postEvent(ctx, app, id, key, p)
			},
			workflows: fmt.Sprintf("WorkflowType = '%s' AND %s = '%s'", schemas.EventWorkflowName, schemas.SearchAttrApp, app),
			idPrefix:  "bench_" + run + "_",
			app:       app,
		}, nil
	}
	s.stop = func() {
		if o.Target == "" {
			return
		}
		// Leave nothing behind on somebody else's Herald.
		for _, app := range apps {
			if err := api.deleteApp(context.WithoutCancel(ctx), app); err != nil {
				o.Logger.Warn("deleting the bench app", "app", app, "error", err)
			}
		}
	}
	return s, nil
}

// floorSystem is the floor in its own process, started from exe.
func floorSystem(ctx context.Context, o Options) (*system, error) {
	p, err := startFloor(ctx, o.Executable, o.Environ, o.Logger)
	if err != nil {
		return nil, err
	}
	s := &system{name: "floor", proc: p, stop: func() {}}
	if s.tc, err = dialTemporal(ctx, p.TemporalAddr, o.Logger); err != nil {
		s.close(o.Logger)
		return nil, err
	}
	api := newAPIClient(p.URL, p.Token, o.conns())
	var started atomic.Int64 // floor workflows started, all phases
	s.begin = func(ctx context.Context, urls []string) (phaseSetup, error) {
		secrets, err := newSecrets(len(urls))
		if err != nil {
			return phaseSetup{}, err
		}
		body := floorSetup{URLs: urls, Secrets: secrets, Kind: o.Floor}
		if _, err := api.do(ctx, http.MethodPost, "/setup", body, nil, http.StatusNoContent); err != nil {
			return phaseSetup{}, fmt.Errorf("set up the floor: %w", err)
		}
		run, err := runID()
		if err != nil {
			return phaseSetup{}, err
		}
		earlier := int(started.Load())
		return phaseSetup{
			secrets: secrets,
			send: func(ctx context.Context, id, _ string, p json.RawMessage) error { // no keys: the floor has no lanes
				_, err := api.do(ctx, http.MethodPost, "/events", floorEvent{ID: id, Payload: p}, nil, http.StatusAccepted)
				if err == nil {
					started.Add(1)
				}
				return err
			},
			workflows: fmt.Sprintf("WorkflowType = '%s'", floorWorkflowName),
			earlier:   earlier,
			idPrefix:  "floor_" + run + "_",
		}, nil
	}
	return s, nil
}

// close stops the system's process and client.
func (s *system) close(logger *slog.Logger) {
	s.stop()
	if s.borrowed {
		return
	}
	if s.tc != nil {
		s.tc.Close()
	}
	if s.proc != nil {
		if err := s.proc.Stop(); err != nil {
			logger.Warn("stopping "+s.name, "error", err)
		}
	}
}

func dialTemporal(ctx context.Context, addr string, logger *slog.Logger) (client.Client, error) {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  addr,
		Namespace: devserver.DefaultNamespace,
		Logger:    sdklog.NewStructuredLogger(logger),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", addr, err)
	}
	return c, nil
}

// closePoll is how often waitClosed asks visibility.
const closePoll = 200 * time.Millisecond

// waitClosed polls Temporal's visibility until it lists want workflows
// matching query (earlier ones included) and none of them running: the
// phase's work, visibility writes included, is then done.
func waitClosed(ctx context.Context, tc client.Client, query string, want int, timeout time.Duration, closed func(int)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	count := func(q string) (int, error) {
		r, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q})
		if err != nil {
			return 0, err
		}
		return int(r.GetCount()), nil
	}
	for {
		all, err := count(query)
		if err != nil {
			return fmt.Errorf("count workflows: %w", err)
		}
		running, err := count(query + " AND ExecutionStatus = 'Running'")
		if err != nil {
			return fmt.Errorf("count running workflows: %w", err)
		}
		closed(all - running)
		if all >= want && running == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for workflows to close: %d of %d closed: %w", all-running, want, ctx.Err())
		case <-time.After(closePoll):
		}
	}
}
