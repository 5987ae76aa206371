package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/devserver"
)

// The floor's own names, apart from Herald's.
const (
	floorTaskQueue    = "herald-bench-floor"
	floorWorkflowName = "HeraldBenchFloor"
	floorActivityName = "HeraldBenchFloorPost"
)

// floorInput is the floor workflow's argument: the event, not the endpoints.
type floorInput struct {
	EventID   string
	CreatedAt time.Time
	Payload   json.RawMessage
}

// floorWorkflow is the least a Temporal workflow can do for Herald's hot
// path: its first task runs one local activity that signs and POSTs.
func floorWorkflow(ctx workflow.Context, in floorInput) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 15 * time.Second})
	return workflow.ExecuteLocalActivity(ctx, floorActivityName, in).Get(ctx, nil)
}

// floorActivities holds what the floor's activity needs: the endpoints and
// a keep-alive client.
type floorActivities struct {
	hc      *http.Client
	urls    []string
	secrets []string
}

// post delivers the event to every endpoint, one after another.
func (a *floorActivities) post(ctx context.Context, in floorInput) error {
	for i, u := range a.urls {
		w := webhook{URL: u, ID: in.EventID, EventType: benchEventType, CreatedAt: in.CreatedAt, Payload: in.Payload, Secret: a.secrets[i]}
		if err := w.post(ctx, a.hc); err != nil {
			return err
		}
	}
	return nil
}

// runFloor starts an embedded Temporal server (package devserver, on a
// temporary dir) with a worker and client in this process, and starts M
// floor workflows eagerly at concurrency C. Latency runs from the start
// request to the receipt; events/s counts completed events.
func runFloor(ctx context.Context, o Options, recv *Receivers, stderr io.Writer) (phase, error) {
	dir, err := os.MkdirTemp("", "herald-bench-floor-")
	if err != nil {
		return phase{}, fmt.Errorf("make temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	fmt.Fprintln(stderr, "starting an embedded Temporal server for the floor...")
	srv, err := devserver.Start(ctx, devserver.Config{
		DataDir:      dir,
		FrontendAddr: "127.0.0.1:0",
		Namespace:    devserver.DefaultNamespace,
		Logger:       o.Logger,
	})
	if err != nil {
		return phase{}, err
	}
	defer srv.Stop()

	c, err := client.DialContext(ctx, client.Options{
		HostPort:  srv.FrontendAddr(),
		Namespace: devserver.DefaultNamespace,
		Logger:    sdklog.NewStructuredLogger(o.Logger),
	})
	if err != nil {
		return phase{}, fmt.Errorf("connect to the floor's Temporal: %w", err)
	}
	defer c.Close()

	secrets, err := newSecrets(o.Endpoints)
	if err != nil {
		return phase{}, err
	}
	acts := &floorActivities{hc: keepAliveClient(o.Concurrency), secrets: secrets}
	for i := range o.Endpoints {
		acts.urls = append(acts.urls, recv.URL(phaseFloor, i))
	}
	defer acts.hc.CloseIdleConnections()
	// Eager start hands the first workflow task to a worker that shares the
	// starting client.
	w := worker.New(c, floorTaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(floorWorkflow, workflow.RegisterOptions{Name: floorWorkflowName})
	w.RegisterActivityWithOptions(acts.post, activity.RegisterOptions{Name: floorActivityName})
	if err := w.Start(); err != nil {
		return phase{}, fmt.Errorf("start the floor's worker: %w", err)
	}
	defer w.Stop()

	rec := recv.Record(phaseFloor, secrets)
	run, err := runID()
	if err != nil {
		return phase{}, err
	}
	log := newSendLog(o.Events)
	var started atomic.Int64
	want := o.Events * o.Endpoints
	stop := progress(stderr, "temporal floor", func() string {
		return fmt.Sprintf("started %d/%d, delivered %d/%d", started.Load(), o.Events, rec.Delivered(), want)
	})
	defer stop()

	created := time.Now()
	err = pool(ctx, o.Events, o.Concurrency, func(ctx context.Context, i int) error {
		in := floorInput{EventID: fmt.Sprintf("floor_%s_%07d", run, i), CreatedAt: created, Payload: benchPayload(i)}
		opts := client.StartWorkflowOptions{
			ID:               "bench-floor/" + in.EventID,
			TaskQueue:        floorTaskQueue,
			EnableEagerStart: true,
		}
		sendAt := time.Now()
		if _, err := c.ExecuteWorkflow(ctx, opts, floorWorkflowName, in); err != nil {
			return fmt.Errorf("start floor workflow: %w", err)
		}
		log.add(in.EventID, sent{sendAt: sendAt, acceptAt: time.Now()})
		started.Add(1)
		return nil
	})
	if err != nil {
		return phase{}, err
	}
	if err := rec.Wait(ctx, want, o.Timeout); err != nil {
		return phase{}, err
	}
	stop()
	firstSend, _ := log.span()
	return measure(rec, log.sends, firstSend, o.Events), nil
}
