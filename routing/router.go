// Package routing is Herald's content routing: an endpoint's `filter` (which
// events it gets) and `transform` (what body and headers it gets), both CEL
// expressions (cel.dev) type-checked against the JSON Schemas of the
// endpoint's event types. It maps schemas to CEL types, compiles with a cost
// limit, caches programs per endpoint and event type version, and evaluates.
package routing

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/herald-hq/herald/schemas"
)

// Counters count what goes wrong at run time (*metrics.Metrics is one).
type Counters interface {
	// RoutingError counts an evaluation error of a filter or transform.
	RoutingError(kind string)
}

// Router checks, caches and runs endpoint filters and transforms. Safe for
// concurrent use.
type Router struct {
	base    *cel.Env
	metrics Counters

	mu    sync.RWMutex
	progs map[progKey]*entry
}

// EventType is an event type's name and schema at one version.
type EventType struct {
	Name      string
	Schema    []byte
	UpdatedAt time.Time
}

// EventTypeOf is t as the router needs it.
func EventTypeOf(t schemas.EventType) EventType {
	return EventType{Name: t.Name, Schema: t.Schema, UpdatedAt: t.UpdatedAt}
}

// progKey names a program by what it is compiled from: the expression and
// the schema version that types it. An endpoint's programs are thus cached
// per endpoint version (a PATCH that changes the expression or the event
// types compiles anew), and endpoints with the same expression share one.
type progKey struct {
	kind      Kind
	expr      string
	typed     bool // false: the endpoint takes every event type, payload is dyn
	eventType string
	schemaAt  int64
}

// entry is a cached program. A program that no longer type-checks against
// its event type's current schema runs untyped (payload dyn): the event-type
// PATCH that made it so reported it.
type entry struct {
	c         *compiled
	err       error // compiling failed even untyped
	unchecked bool
}

// cacheSize bounds the cache; past it the cache starts over (old
// expressions and schema versions are never asked for again, so nothing
// smarter is needed).
const cacheSize = 4096

// New makes a Router. metrics may be nil.
func New(metrics Counters) (*Router, error) {
	base, err := baseEnv()
	if err != nil {
		return nil, fmt.Errorf("routing: CEL environment: %w", err)
	}
	return &Router{base: base, metrics: metrics, progs: map[progKey]*entry{}}, nil
}

// Check compiles expr as kind against each event type's schema (against an
// untyped payload when types is empty: the endpoint takes every type). The
// refusal is a *CheckError.
func (r *Router) Check(kind Kind, expr string, types []EventType) error {
	if len(types) == 0 {
		_, err := compile(r.base, kind, expr, nil)
		return err
	}
	for _, t := range types {
		if _, err := compile(r.base, kind, expr, &Schema{EventType: t.Name, Raw: t.Schema}); err != nil {
			return err
		}
	}
	return nil
}

// program is the cached program for an expression and event type version,
// compiled on first use.
func (r *Router) program(kind Kind, expr string, typed bool, et EventType) (*entry, error) {
	k := progKey{kind: kind, expr: expr, typed: typed}
	if typed {
		k.eventType, k.schemaAt = et.Name, et.UpdatedAt.UnixNano()
	}
	r.mu.RLock()
	e, ok := r.progs[k]
	r.mu.RUnlock()
	if ok {
		return e, e.err
	}
	e = &entry{}
	var sch *Schema
	if typed {
		sch = &Schema{EventType: et.Name, Raw: et.Schema}
	}
	e.c, e.err = compile(r.base, kind, expr, sch)
	var refused *CheckError
	if typed && errors.As(e.err, &refused) {
		e.unchecked = true
		e.c, e.err = compile(r.base, kind, expr, nil)
	}
	r.mu.Lock()
	if len(r.progs) >= cacheSize {
		clear(r.progs)
	}
	r.progs[k] = e
	r.mu.Unlock()
	return e, e.err
}

func (r *Router) count(kind Kind) {
	if r.metrics != nil {
		r.metrics.RoutingError(string(kind))
	}
}
