package bench

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/devserver"
)

// FloorConfig is where a floor process keeps its data and listens.
type FloorConfig struct {
	DataDir      string // the embedded Temporal's file and the attempts table
	HTTPAddr     string // the control API
	TemporalAddr string // the embedded Temporal's frontend
	Token        string // bearer token of the control API
	Logger       *slog.Logger
}

// ServeFloor runs the Temporal floor as its own process (`herald
// bench-floor`), so that its CPU counters hold only its own work, like
// `herald dev`'s: an embedded Temporal server, a worker running the floor
// workflow, and a small HTTP API to start it. It serves until ctx ends.
//
// The API: POST /setup {"urls", "secrets", "kind"} points the floor at a
// phase's endpoints; POST /events {"id", "payload"} starts one floor
// workflow eagerly and answers 202 once started; GET /readyz.
func ServeFloor(ctx context.Context, cfg FloorConfig) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("floor: listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	srv, err := devserver.Start(ctx, devserver.Config{
		DataDir:      cfg.DataDir,
		FrontendAddr: cfg.TemporalAddr,
		Namespace:    devserver.DefaultNamespace,
		Logger:       cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	defer srv.Stop()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  srv.FrontendAddr(),
		Namespace: devserver.DefaultNamespace,
		Logger:    sdklog.NewStructuredLogger(cfg.Logger),
	})
	if err != nil {
		return fmt.Errorf("floor: connect to Temporal: %w", err)
	}
	defer c.Close()

	db, stmt, err := openFloorStore(filepath.Join(cfg.DataDir, "floor.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	defer stmt.Close()
	acts := &floorActivities{hc: keepAliveClient(64), record: stmt}
	defer acts.hc.CloseIdleConnections()

	// The options of Herald's worker that change the work: local
	// activities only, so no activity task poller.
	w := worker.New(c, floorTaskQueue, worker.Options{LocalActivityWorkerOnly: true})
	w.RegisterWorkflowWithOptions(floorWorkflow, workflow.RegisterOptions{Name: floorWorkflowName})
	w.RegisterActivityWithOptions(acts.deliver, activity.RegisterOptions{Name: floorDeliverName})
	w.RegisterActivityWithOptions(acts.postAll, activity.RegisterOptions{Name: floorPostAllName})
	if err := w.Start(); err != nil {
		return fmt.Errorf("floor: start worker: %w", err)
	}
	defer w.Stop()

	f := &floorAPI{c: c, acts: acts, token: cfg.Token, created: time.Now()}
	hs := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shut)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("floor: serve: %w", err)
	}
	return nil
}

// floorAPI is the floor's control API.
type floorAPI struct {
	c       client.Client
	acts    *floorActivities
	token   string
	created time.Time

	mu        sync.RWMutex
	endpoints int
	kind      string
}

type floorSetup struct {
	URLs    []string `json:"urls"`
	Secrets []string `json:"secrets"`
	Kind    string   `json:"kind"`
}

type floorEvent struct {
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

func (f *floorAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/readyz" {
		w.WriteHeader(http.StatusOK)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+f.token)) != 1 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/setup":
		var s floorSetup
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil || len(s.URLs) == 0 || len(s.URLs) != len(s.Secrets) {
			http.Error(w, "bad setup", http.StatusBadRequest)
			return
		}
		if s.Kind != FloorBare {
			s.Kind = FloorRecorded
		}
		f.acts.setEndpoints(s.URLs, s.Secrets)
		f.mu.Lock()
		f.endpoints, f.kind = len(s.URLs), s.Kind
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && r.URL.Path == "/events":
		var ev floorEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.ID == "" {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		f.mu.RLock()
		in := floorInput{EventID: ev.ID, CreatedAt: f.created, Payload: ev.Payload, Endpoints: f.endpoints, Kind: f.kind}
		f.mu.RUnlock()
		opts := client.StartWorkflowOptions{ID: "bench-floor/" + ev.ID, TaskQueue: floorTaskQueue, EnableEagerStart: true}
		if _, err := f.c.ExecuteWorkflow(r.Context(), opts, floorWorkflowName, in); err != nil {
			http.Error(w, "start: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}
