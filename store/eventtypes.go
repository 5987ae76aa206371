package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/herald-hq/herald/schemas"
)

type eventTypeRow struct {
	Name        string  `db:"name"`
	Description string  `db:"description"`
	Schema      *string `db:"json_schema"`
	CreatedAt   dbTime  `db:"created_at"`
	UpdatedAt   dbTime  `db:"updated_at"`
}

const eventTypeCols = `name, description, json_schema, created_at, updated_at`

func (r eventTypeRow) eventType() schemas.EventType {
	t := schemas.EventType{Name: r.Name, Description: r.Description,
		CreatedAt: r.CreatedAt.T(), UpdatedAt: r.UpdatedAt.T()}
	if r.Schema != nil {
		t.Schema = json.RawMessage(*r.Schema)
	}
	return t
}

// schemaArg is the stored form of a schema: NULL when absent or JSON null.
func schemaArg(raw json.RawMessage) any {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return string(raw)
}

func eventTypeNotFound(name string) error {
	return schemas.Errorf(schemas.KindNotFound, "event_type_not_found", "event type %q does not exist", name)
}

// CreateEventType stores a new event type; event_type_exists (conflict) when
// the name is taken.
func (s *Store) CreateEventType(ctx context.Context, t schemas.EventType) error {
	updated := t.UpdatedAt
	if updated.IsZero() {
		updated = t.CreatedAt
	}
	n, err := s.exec(ctx, s.db, `INSERT INTO event_types (`+eventTypeCols+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO NOTHING`, t.Name, t.Description, schemaArg(t.Schema), ts(t.CreatedAt), ts(updated))
	if err != nil {
		return fmt.Errorf("create event type %s: %w", t.Name, err)
	}
	if n == 0 {
		return schemas.Errorf(schemas.KindConflict, "event_type_exists", "event type %q already exists", t.Name)
	}
	return nil
}

// GetEventType loads an event type by name.
func (s *Store) GetEventType(ctx context.Context, name string) (schemas.EventType, error) {
	var r eventTypeRow
	err := s.get(ctx, s.rdb, &r, `SELECT `+eventTypeCols+` FROM event_types WHERE name = ?`, name)
	if isNoRows(err) {
		return schemas.EventType{}, eventTypeNotFound(name)
	}
	if err != nil {
		return schemas.EventType{}, fmt.Errorf("load event type %s: %w", name, err)
	}
	return r.eventType(), nil
}

// ListEventTypes lists event types, newest first.
func (s *Store) ListEventTypes(ctx context.Context, p Page) ([]schemas.EventType, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	where, args := c.after("created_at", "name", nil, nil)
	var rows []eventTypeRow
	err = s.sel(ctx, s.rdb, &rows, `SELECT `+eventTypeCols+` FROM event_types`+whereClause(where)+
		` ORDER BY created_at DESC, name DESC LIMIT ?`, append(args, p.limit()+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list event types: %w", err)
	}
	rows, next := pageOf(rows, p.limit(), func(r eventTypeRow) (time.Time, string) { return r.CreatedAt.T(), r.Name })
	out := make([]schemas.EventType, len(rows))
	for i, r := range rows {
		out[i] = r.eventType()
	}
	return out, next, nil
}

// UpdateEventType replaces an event type's description and schema and sets
// its updated_at (t.UpdatedAt, or now when zero).
func (s *Store) UpdateEventType(ctx context.Context, t schemas.EventType) (schemas.EventType, error) {
	updated := t.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	var r eventTypeRow
	err := s.get(ctx, s.db, &r, `UPDATE event_types SET description = ?, json_schema = ?, updated_at = ?
		WHERE name = ? RETURNING `+eventTypeCols, t.Description, schemaArg(t.Schema), ts(updated), t.Name)
	if isNoRows(err) {
		return schemas.EventType{}, eventTypeNotFound(t.Name)
	}
	if err != nil {
		return schemas.EventType{}, fmt.Errorf("update event type %s: %w", t.Name, err)
	}
	return r.eventType(), nil
}

// DeleteEventType deletes an event type. Events of that type stay.
func (s *Store) DeleteEventType(ctx context.Context, name string) error {
	n, err := s.exec(ctx, s.db, `DELETE FROM event_types WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete event type %s: %w", name, err)
	}
	if n == 0 {
		return eventTypeNotFound(name)
	}
	return nil
}
