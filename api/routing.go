package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/herald-hq/herald/routing"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// newRouter is the router of d, or a new one counting into d.Metrics.
func newRouter(d Deps) *routing.Router {
	if d.Router != nil {
		return d.Router
	}
	var counters routing.Counters
	if d.Metrics != nil {
		counters = d.Metrics
	}
	r, err := routing.New(counters)
	if err != nil {
		panic(err) // the standard CEL environment always builds
	}
	return r
}

// expression reads a filter or transform field: absent (nil) leaves it,
// null or "" removes it.
func expression(field string, raw json.RawMessage) (*string, error) {
	if raw == nil {
		return nil, nil
	}
	none := ""
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return &none, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, schemas.Errorf(schemas.KindBadRequest, "invalid_field_type", "field %q must be a string or null", field)
	}
	return &s, nil
}

// applyRouting sets the endpoint's filter and transform from the request
// and type-checks them against its event types' schemas (as e has them
// now), whenever the request touches either or the event types.
func (s *server) applyRouting(ctx context.Context, req endpointRequest, e *schemas.Endpoint) error {
	filter, err := expression("filter", req.Filter)
	if err != nil {
		return err
	}
	transform, err := expression("transform", req.Transform)
	if err != nil {
		return err
	}
	if filter != nil {
		e.Filter = *filter
	}
	if transform != nil {
		e.Transform = *transform
	}
	if filter == nil && transform == nil && req.EventTypes == nil {
		return nil
	}
	if e.Filter == "" && e.Transform == "" {
		return nil
	}
	types, err := s.routingTypes(ctx, e.EventTypes)
	if err != nil {
		return err
	}
	if e.Filter != "" {
		if err := s.router.Check(routing.Filter, e.Filter, types); err != nil {
			return refused(err)
		}
	}
	if e.Transform != "" {
		if err := s.router.Check(routing.Transform, e.Transform, types); err != nil {
			return refused(err)
		}
	}
	return nil
}

// routingTypes loads the endpoint's event types with their schemas; a type
// deleted meanwhile types nothing.
func (s *server) routingTypes(ctx context.Context, names []string) ([]routing.EventType, error) {
	out := make([]routing.EventType, 0, len(names))
	for _, name := range names {
		t, err := s.Store.GetEventType(ctx, name)
		if schemas.IsNotFound(err) {
			out = append(out, routing.EventType{Name: name})
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, routing.EventTypeOf(t))
	}
	return out, nil
}

// refused is the 422 of an expression that does not compile or type-check,
// with the errors and their positions in details.
func refused(err error) error {
	var ce *routing.CheckError
	if !errors.As(err, &ce) {
		return err
	}
	msg := fmt.Sprintf("the %s does not compile: %s", ce.Field, ce.Issues[0].Message)
	if ce.EventType != "" {
		msg = fmt.Sprintf("the %s does not type-check against the schema of event type %s: %s",
			ce.Field, ce.EventType, ce.Issues[0].Message)
	}
	return &schemas.Error{Kind: schemas.KindInvalid, Code: "invalid_" + string(ce.Field), Message: msg, Details: ce}
}

// filterFor is the acceptance-time filter of an event of type t: it
// evaluates the filters of the endpoints that have one. An evaluation error
// is no match, counted by the router and logged here.
func (s *server) filterFor(ctx context.Context, ne store.NewEvent, t schemas.EventType) store.FilterFunc {
	ev := &routing.Event{ID: ne.ID, Type: routing.EventTypeOf(t), Payload: ne.Payload}
	return func(endpointID, filter string, typed bool) bool {
		ok, err := s.router.Match(ctx, endpointID, filter, typed, ev)
		if err != nil {
			s.Logger.Warn("endpoint filter failed: no match", "app", ne.AppID, "event", ne.ID, "err", err)
		}
		return ok
	}
}

// routingWarning is an endpoint whose filter or transform no longer
// type-checks against an event type's new schema. It keeps running, with
// the payload untyped, until it is fixed.
type routingWarning struct {
	AppID      string              `json:"app_id"`
	EndpointID string              `json:"endpoint_id"`
	Field      routing.Kind        `json:"field"`
	Message    string              `json:"message"`
	Details    *routing.CheckError `json:"details"`
}

// recheckRouting type-checks again the filters and transforms of the
// endpoints that take event type t, after its schema changed.
func (s *server) recheckRouting(ctx context.Context, t schemas.EventType) ([]routingWarning, error) {
	eps, err := s.Store.RoutedEndpoints(ctx, t.Name)
	if err != nil {
		return nil, err
	}
	types := []routing.EventType{routing.EventTypeOf(t)}
	var out []routingWarning
	for _, e := range eps {
		for _, c := range []struct {
			kind routing.Kind
			expr string
		}{{routing.Filter, e.Filter}, {routing.Transform, e.Transform}} {
			if c.expr == "" {
				continue
			}
			var ce *routing.CheckError
			if err := s.router.Check(c.kind, c.expr, types); errors.As(err, &ce) {
				out = append(out, routingWarning{AppID: e.AppID, EndpointID: e.ID, Field: c.kind,
					Message: refused(err).Error(), Details: ce})
				if s.Metrics != nil {
					s.Metrics.RoutingUnchecked(string(c.kind))
				}
				s.Logger.Warn("an event type's new schema breaks an endpoint's "+string(c.kind)+"; it runs untyped",
					"event_type", t.Name, "app", e.AppID, "endpoint", e.ID, "err", err)
			}
		}
	}
	return out, nil
}
