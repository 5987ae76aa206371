package chaos

import (
	"encoding/json"
	"sync"
	"time"
)

// span is when an operation was first sent and when its definite answer
// came: it took effect somewhere inside. An operation whose answer never
// came has at = never.
type span struct{ sent, at time.Time }

var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// world is what the test did and what Herald answered: the model the
// checks compare Herald's record and the receivers' with.
type world struct {
	mu     sync.Mutex
	start  time.Time
	apps   []*appState // every app made, deleted ones included
	events []*eventState
}

type appState struct {
	slot, incarnation int
	id                string
	keys              bool // its events may carry ordering keys
	endpoints         []*endpointState
	deleted           *span
}

// endpointState is one endpoint with its receiver and what was done to it.
type endpointState struct {
	app     *appState
	role    role
	id      string
	rc      *receiver
	created span
	secrets []string // every key it was given (rotated-out keys keep signing)
	deleted *span
	// toggles are the PATCHes of disabled, in the order sent.
	toggles []toggle
	// recovers may deliver any of its failed deliveries again.
	recovers []recovery
}

type toggle struct {
	disable bool
	span
}

// role is what an endpoint is for in an app.
type role struct {
	name    string
	ordered bool
	types   []string // nil: every type
}

// roles are the endpoints every app has: ordered for every type, ordered
// for one type, and unordered.
var roles = []role{
	{name: "ord", ordered: true},
	{name: "ordb", ordered: true, types: []string{"chaos.b"}},
	{name: "unord", ordered: false},
}

func (r role) wants(eventType string) bool {
	if len(r.types) == 0 {
		return true
	}
	for _, t := range r.types {
		if t == eventType {
			return true
		}
	}
	return false
}

type recovery struct {
	status int // of the answer; 0 while none came
	span
}

type eventState struct {
	app     *appState
	id, typ string
	key     string // ordering key, "" for none
	payload json.RawMessage
	post    span
	status  int // of the definite answer; 200 or 202 means accepted
	// none: the accepting answer listed no delivery (no endpoint was
	// subscribed), so no workflow is owed: a start that a kill stopped is
	// not made again.
	none    bool
	cancels []span
	replays []replay
}

type replay struct {
	endpointID string // "" for every endpoint
	status     int    // of the answer; 0 while none came
	span
}

func (e *eventState) accepted() bool { return e.status == 200 || e.status == 202 }

// liveApps are the apps not being deleted.
func (w *world) liveApps() []*appState {
	var out []*appState
	for _, a := range w.apps {
		if a.deleted == nil {
			out = append(out, a)
		}
	}
	return out
}

func (a *appState) liveEndpoints() []*endpointState {
	var out []*endpointState
	for _, e := range a.endpoints {
		if e.deleted == nil {
			out = append(out, e)
		}
	}
	return out
}

// recentEvents are up to n of the last accepted events of live apps, the
// likeliest to be under way when cancelled or replayed.
func (w *world) recentEvents(n int) []*eventState {
	var out []*eventState
	for i := len(w.events) - 1; i >= 0 && len(out) < n; i-- {
		if e := w.events[i]; e.accepted() && e.app.deleted == nil {
			out = append(out, e)
		}
	}
	return out
}
