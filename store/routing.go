package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/herald-hq/herald/schemas"
)

// FilterFunc decides at acceptance whether an endpoint with a filter gets
// an event. typed is whether the endpoint names event types (its filter was
// type-checked against their schemas); otherwise its payload is untyped.
type FilterFunc func(endpointID, filter string, typed bool) bool

// admits applies the endpoint's filter, if it has one. With no FilterFunc
// to evaluate it, the filter counts as false, as an evaluation error does.
func (ev NewEvent) admits(sub subscriber) bool {
	if sub.Filter == "" {
		return true
	}
	if ev.Filter == nil {
		return false
	}
	return ev.Filter(sub.ID, sub.Filter, sub.EventTypes != "[]" && sub.EventTypes != "")
}

// RoutedEndpoints lists the endpoints of every app that have a filter or a
// transform and name the event type (to check them again when its schema
// changes).
func (s *Store) RoutedEndpoints(ctx context.Context, eventType string) ([]schemas.Endpoint, error) {
	var rows []endpointRow
	err := s.sel(ctx, s.rdb, &rows, `SELECT `+endpointCols+` FROM endpoints
		WHERE filter_expr <> '' OR transform_expr <> '' ORDER BY app_id, id`)
	if err != nil {
		return nil, fmt.Errorf("endpoints with a filter or transform: %w", err)
	}
	var out []schemas.Endpoint
	for _, r := range rows {
		e, err := r.endpoint()
		if err != nil {
			return nil, err
		}
		if slices.Contains(e.EventTypes, eventType) {
			out = append(out, e)
		}
	}
	return out, nil
}
