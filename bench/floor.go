package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
	_ "modernc.org/sqlite" // SQLite driver "sqlite", as Herald's store uses
)

// The floor's own names, apart from Herald's.
const (
	floorTaskQueue    = "herald-bench-floor"
	floorWorkflowName = "HeraldBenchFloor"
	floorDeliverName  = "HeraldBenchFloorDeliver"
	floorPostAllName  = "HeraldBenchFloorPostAll"
)

// Floor kinds: what the floor workflow does for one event.
const (
	// FloorRecorded makes E recorded deliveries: E local activities started
	// together in the first workflow task, each signing, POSTing to its
	// endpoint and writing one attempt row to SQLite, as Herald does.
	FloorRecorded = "recorded"
	// FloorBare is the least a workflow can do: one local activity that
	// signs and POSTs to every endpoint in turn, and records nothing.
	FloorBare = "bare"
	// FloorNone measures no floor (a run that compares two Heralds).
	FloorNone = "none"
)

// floorInput is the floor workflow's argument: the event, not the endpoints.
type floorInput struct {
	EventID   string
	CreatedAt time.Time
	Payload   json.RawMessage
	Endpoints int
	Kind      string
}

// floorDelivery is one delivery of the recorded floor.
type floorDelivery struct {
	Event    floorInput
	Endpoint int
}

// floorWorkflow is the floor: its first (eagerly started) task runs the
// local activities of one event.
func floorWorkflow(ctx workflow.Context, in floorInput) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 15 * time.Second})
	if in.Kind == FloorBare {
		return workflow.ExecuteLocalActivity(ctx, floorPostAllName, in).Get(ctx, nil)
	}
	futures := make([]workflow.Future, in.Endpoints)
	for i := range futures {
		futures[i] = workflow.ExecuteLocalActivity(ctx, floorDeliverName, floorDelivery{Event: in, Endpoint: i})
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// floorActivities holds what the floor's activities need: the endpoints of
// the current phase, a keep-alive client and the attempts table.
type floorActivities struct {
	hc     *http.Client
	record *sql.Stmt

	mu      sync.RWMutex
	urls    []string
	secrets []string
}

// setEndpoints points the activities at a new phase's endpoints.
func (a *floorActivities) setEndpoints(urls, secrets []string) {
	a.mu.Lock()
	a.urls, a.secrets = urls, secrets
	a.mu.Unlock()
}

func (a *floorActivities) endpoint(i int) (string, string, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if i < 0 || i >= len(a.urls) {
		return "", "", fmt.Errorf("floor: no endpoint %d", i)
	}
	return a.urls[i], a.secrets[i], nil
}

// deliver signs and POSTs one delivery and records the attempt, like
// Herald's delivery activity (one write transaction per attempt).
func (a *floorActivities) deliver(ctx context.Context, d floorDelivery) error {
	u, secret, err := a.endpoint(d.Endpoint)
	if err != nil {
		return err
	}
	in := d.Event
	w := webhook{URL: u, ID: in.EventID, EventType: benchEventType, CreatedAt: in.CreatedAt, Payload: in.Payload, Secret: secret}
	start := time.Now()
	postErr := w.post(ctx, a.hc)
	outcome := schemas.OutcomeSucceeded
	if postErr != nil {
		outcome = schemas.OutcomeFailed
	}
	if _, err := a.record.ExecContext(ctx, in.EventID, d.Endpoint, outcome, start.UnixMicro(), time.Since(start).Microseconds()); err != nil {
		return fmt.Errorf("floor: record attempt: %w", err)
	}
	return postErr
}

// postAll delivers the event to every endpoint, one after another, and
// records nothing: the bare floor.
func (a *floorActivities) postAll(ctx context.Context, in floorInput) error {
	for i := range in.Endpoints {
		u, secret, err := a.endpoint(i)
		if err != nil {
			return err
		}
		w := webhook{URL: u, ID: in.EventID, EventType: benchEventType, CreatedAt: in.CreatedAt, Payload: in.Payload, Secret: secret}
		if err := w.post(ctx, a.hc); err != nil {
			return err
		}
	}
	return nil
}

// openFloorStore opens the floor's attempts table in a SQLite file with the
// settings of Herald's store (WAL, synchronous=NORMAL, one connection) and
// prepares its insert.
func openFloorStore(path string) (*sql.DB, *sql.Stmt, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, nil, fmt.Errorf("floor: open store: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	const ddl = `CREATE TABLE IF NOT EXISTS attempts (
		id INTEGER PRIMARY KEY,
		event_id TEXT NOT NULL,
		endpoint INTEGER NOT NULL,
		outcome TEXT NOT NULL,
		started_us INTEGER NOT NULL,
		duration_us INTEGER NOT NULL)`
	if _, err := db.Exec(ddl); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("floor: create attempts table: %w", err)
	}
	stmt, err := db.Prepare(`INSERT INTO attempts (event_id, endpoint, outcome, started_us, duration_us) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("floor: prepare insert: %w", err)
	}
	return db, stmt, nil
}
