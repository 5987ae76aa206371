package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/schemas"
)

// NewEvent is an event as accepted by the API.
type NewEvent struct {
	AppID     string
	ID        string
	EventType string
	Payload   json.RawMessage
	CreatedAt time.Time
	// OnlyEndpoint makes a test event: it goes to this endpoint alone,
	// whatever the endpoint subscribes to.
	OnlyEndpoint string
	// Filter evaluates the filters of endpoints that have one, at
	// acceptance; without it such endpoints get nothing.
	Filter FilterFunc `json:"-"`
	// OrderingKey picks the event's lane at ordered endpoints ("": the
	// endpoint's keyless lane).
	OrderingKey string
}

// EventFilter narrows ListEvents. Since is inclusive, Until exclusive, both
// on created_at; EndpointID keeps events having a delivery to it.
type EventFilter struct {
	Status                             schemas.EventStatus
	EventType, EndpointID, OrderingKey string
	Since, Until                       *time.Time
}

// eventStatusExpr computes an events row's status from its deliveries, as
// schemas.EventStatus does.
const eventStatusExpr = `(CASE
	WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.app_id = events.app_id AND d.event_id = events.id
		AND d.status IN ('` + string(schemas.DeliveryPending) + `', '` + string(schemas.DeliveryDelivering) + `')) THEN '` + string(schemas.EventPending) + `'
	WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.app_id = events.app_id AND d.event_id = events.id
		AND d.status = '` + string(schemas.DeliveryFailed) + `') THEN '` + string(schemas.EventFailed) + `'
	WHEN EXISTS (SELECT 1 FROM deliveries d WHERE d.app_id = events.app_id AND d.event_id = events.id
		AND d.status = '` + string(schemas.DeliveryCancelled) + `') THEN '` + string(schemas.EventCancelled) + `'
	ELSE '` + string(schemas.EventDelivered) + `' END)`

// recomputeEvent stores and returns an event's status derived from its deliveries.
func (s *Store) recomputeEvent(ctx context.Context, tx *sqlx.Tx, appID, eventID string) (schemas.EventStatus, error) {
	var status schemas.EventStatus
	err := s.get(ctx, tx, &status, `UPDATE events SET status = `+eventStatusExpr+`
		WHERE app_id = ? AND id = ? RETURNING status`, appID, eventID)
	if isNoRows(err) {
		return "", eventNotFound(appID, eventID)
	}
	if err != nil {
		return "", fmt.Errorf("event %s status: %w", eventID, err)
	}
	return status, nil
}

// lockEvent locks an event's row until the transaction ends (Postgres; an
// SQLite transaction already holds the one write lock). Every transaction
// that changes a delivery's status takes it first, so the status that
// recomputeEvent derives from the deliveries sees every other change of
// them committed: under read committed, two transactions that each changed
// one delivery and recomputed would otherwise miss each other's change.
func (s *Store) lockEvent(ctx context.Context, tx *sqlx.Tx, appID, eventID string) error {
	var one int
	err := s.get(ctx, tx, &one, `SELECT 1 FROM events WHERE app_id = ? AND id = ?`+s.forUpdate(), appID, eventID)
	if isNoRows(err) {
		return eventNotFound(appID, eventID)
	}
	if err != nil {
		return fmt.Errorf("lock event %s: %w", eventID, err)
	}
	return nil
}

func eventNotFound(appID, id string) error {
	return schemas.Errorf(schemas.KindNotFound, "event_not_found", "event %q of app %q does not exist", id, appID)
}

type eventRow struct {
	AppID     string              `db:"app_id"`
	ID        string              `db:"id"`
	EventType string              `db:"event_type"`
	Payload   string              `db:"payload"`
	Status    schemas.EventStatus `db:"status"`
	CreatedAt dbTime              `db:"created_at"`
	Key       string              `db:"ordering_key"`
}

const eventCols = `app_id, id, event_type, payload, status, created_at, ordering_key`

func (r eventRow) event() schemas.Event {
	return schemas.Event{ID: r.ID, AppID: r.AppID, EventType: r.EventType, Payload: json.RawMessage(r.Payload),
		CreatedAt: r.CreatedAt.T(), Status: r.Status, OrderingKey: r.Key, Deliveries: []schemas.Delivery{}}
}

func (r eventRow) newEvent() NewEvent {
	return NewEvent{AppID: r.AppID, ID: r.ID, EventType: r.EventType, Payload: json.RawMessage(r.Payload),
		CreatedAt: r.CreatedAt.T(), OrderingKey: r.Key}
}

// subscriber is an endpoint an accepted event goes to.
type subscriber struct {
	ID         string `db:"id"`
	EventTypes string `db:"event_types"`
	Ordered    bool   `db:"ordered"`
	Filter     string `db:"filter_expr"`
}

func (sub subscriber) wants(eventType string) (bool, error) {
	var types []string
	if err := json.Unmarshal([]byte(sub.EventTypes), &types); err != nil {
		return false, fmt.Errorf("endpoint %s event_types: %w", sub.ID, err)
	}
	return len(types) == 0 || slices.Contains(types, eventType), nil
}

// AcceptEvent records an event and its deliveries in one transaction. If the
// app already has an event with that id, nothing changes and it returns
// created=false with the existing event. Otherwise the deliveries go to a
// snapshot of the app's enabled endpoints subscribed to the event type; an
// ordered endpoint's delivery takes the endpoint's next sequence number
// (the counter's row lock orders concurrent accepts on Postgres). targets
// are ordered by endpoint id.
func (s *Store) AcceptEvent(ctx context.Context, ev NewEvent) (created bool, event schemas.Event, targets []schemas.Target, err error) {
	errRaced := errors.New("a concurrent accept of the same event won")
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var r eventRow
		err := s.get(ctx, tx, &r, `SELECT `+eventCols+` FROM events WHERE app_id = ? AND id = ?`, ev.AppID, ev.ID)
		if err == nil {
			event = r.event()
			return s.withDeliveries(ctx, tx, []*schemas.Event{&event})
		}
		if !isNoRows(err) {
			return fmt.Errorf("accept event %s: %w", ev.ID, err)
		}
		// The app and the endpoints it reads are kept from deletion until
		// the event and its deliveries are in (a deletion that came first
		// is seen). Without it a delete committed in between failed the
		// accept: a deleted endpoint had no seq to take, a deleted app no
		// row for the event to reference (the chaos test's 500s).
		if err := s.keepApp(ctx, tx, ev.AppID); err != nil {
			return err
		}
		var subs []subscriber
		err = s.sel(ctx, tx, &subs, `SELECT id, event_types, ordered, filter_expr FROM endpoints
			WHERE app_id = ? AND disabled = ? ORDER BY id`+s.forKeyShare(), ev.AppID, false)
		if err != nil {
			return fmt.Errorf("accept event %s: endpoints: %w", ev.ID, err)
		}
		subs = slices.DeleteFunc(subs, func(sub subscriber) bool {
			if ev.OnlyEndpoint != "" {
				return sub.ID != ev.OnlyEndpoint
			}
			ok, e := sub.wants(ev.EventType)
			if e != nil && err == nil {
				err = e
			}
			return !ok || !ev.admits(sub)
		})
		if err != nil {
			return err
		}
		status, dispatch := schemas.EventPending, DispatchStart
		if len(subs) == 0 {
			status, dispatch = schemas.EventDelivered, ""
		}
		n, err := s.exec(ctx, tx, `INSERT INTO events (`+eventCols+`, dispatch, dispatch_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (app_id, id) DO NOTHING`, ev.AppID, ev.ID, ev.EventType, string(ev.Payload), status, ts(ev.CreatedAt),
			ev.OrderingKey, dispatch, ts(ev.CreatedAt))
		if err != nil {
			return fmt.Errorf("accept event %s: %w", ev.ID, err)
		}
		if n == 0 {
			return errRaced
		}
		created = true
		event = schemas.Event{ID: ev.ID, AppID: ev.AppID, EventType: ev.EventType, Payload: ev.Payload,
			CreatedAt: ts(ev.CreatedAt).T(), Status: status, OrderingKey: ev.OrderingKey, Deliveries: []schemas.Delivery{}}
		targets = make([]schemas.Target, 0, len(subs))
		for _, sub := range subs {
			t := schemas.Target{EndpointID: sub.ID, Ordered: sub.Ordered, Gen: 1}
			if sub.Ordered {
				t.Lane = ev.OrderingKey
				if t.Seq, t.Ahead, err = s.joinLane(ctx, tx, sub.ID, t.Lane); err != nil {
					return fmt.Errorf("accept event %s: %w", ev.ID, err)
				}
			}
			if _, err := s.exec(ctx, tx, `INSERT INTO deliveries (app_id, event_id, endpoint_id, lane, status, seq, gen, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ev.AppID, ev.ID, sub.ID, t.Lane, schemas.DeliveryPending, t.Seq, t.Gen,
				ts(ev.CreatedAt)); err != nil {
				return fmt.Errorf("accept event %s: delivery to %s: %w", ev.ID, sub.ID, err)
			}
			targets = append(targets, t)
			event.Deliveries = append(event.Deliveries, schemas.Delivery{EndpointID: sub.ID,
				Status: schemas.DeliveryPending, Attempts: []schemas.Attempt{}})
		}
		return nil
	})
	if errors.Is(err, errRaced) {
		// A concurrent accept of the same id committed first.
		event, err = s.GetEvent(ctx, ev.AppID, ev.ID)
		return false, event, nil, err
	}
	if err != nil {
		return false, schemas.Event{}, nil, err
	}
	return created, event, targets, nil
}

// GetEvent loads an event with its deliveries (by endpoint id) and their
// attempts (by number).
func (s *Store) GetEvent(ctx context.Context, appID, id string) (schemas.Event, error) {
	var r eventRow
	err := s.get(ctx, s.rdb, &r, `SELECT `+eventCols+` FROM events WHERE app_id = ? AND id = ?`, appID, id)
	if isNoRows(err) {
		return schemas.Event{}, eventNotFound(appID, id)
	}
	if err != nil {
		return schemas.Event{}, fmt.Errorf("load event %s: %w", id, err)
	}
	ev := r.event()
	if err := s.withDeliveries(ctx, s.rdb, []*schemas.Event{&ev}); err != nil {
		return schemas.Event{}, err
	}
	return ev, nil
}

// ListEvents lists an app's events, newest first, with deliveries and attempts.
func (s *Store) ListEvents(ctx context.Context, appID string, f EventFilter, p Page) ([]schemas.Event, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	where, args := []string{"app_id = ?"}, []any{appID}
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.EventType != "" {
		where, args = append(where, "event_type = ?"), append(args, f.EventType)
	}
	if f.OrderingKey != "" {
		where, args = append(where, "ordering_key = ?"), append(args, f.OrderingKey)
	}
	if f.EndpointID != "" {
		where = append(where, `EXISTS (SELECT 1 FROM deliveries d
			WHERE d.app_id = events.app_id AND d.event_id = events.id AND d.endpoint_id = ?)`)
		args = append(args, f.EndpointID)
	}
	if f.Since != nil {
		where, args = append(where, "created_at >= ?"), append(args, ts(*f.Since))
	}
	if f.Until != nil {
		where, args = append(where, "created_at < ?"), append(args, ts(*f.Until))
	}
	where, args = c.after("created_at", "id", where, args)
	var rows []eventRow
	err = s.sel(ctx, s.rdb, &rows, `SELECT `+eventCols+` FROM events`+whereClause(where)+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, p.limit()+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list events of %s: %w", appID, err)
	}
	rows, next := pageOf(rows, p.limit(), func(r eventRow) (time.Time, string) { return r.CreatedAt.T(), r.ID })
	events := make([]schemas.Event, len(rows))
	ptrs := make([]*schemas.Event, len(rows))
	for i, r := range rows {
		events[i] = r.event()
		ptrs[i] = &events[i]
	}
	if err := s.withDeliveries(ctx, s.rdb, ptrs); err != nil {
		return nil, "", err
	}
	return events, next, nil
}

type deliveryRow struct {
	AppID         string                 `db:"app_id"`
	EventID       string                 `db:"event_id"`
	EndpointID    string                 `db:"endpoint_id"`
	Lane          string                 `db:"lane"`
	Status        schemas.DeliveryStatus `db:"status"`
	Seq           int64                  `db:"seq"`
	Gen           int64                  `db:"gen"`
	NextAttemptAt *dbTime                `db:"next_attempt_at"`
	FinishedAt    *dbTime                `db:"finished_at"`
	UpdatedAt     *dbTime                `db:"updated_at"`
}

// deliveryCols are the columns a target is made of.
const deliveryCols = `app_id, event_id, endpoint_id, lane, status, seq, gen`

func (d deliveryRow) ref() DeliveryRef {
	return DeliveryRef{AppID: d.AppID, EventID: d.EventID, EndpointID: d.EndpointID, Lane: d.Lane, Seq: d.Seq}
}

// withDeliveries fills in the deliveries and attempts of events of one app.
func (s *Store) withDeliveries(ctx context.Context, db querier, events []*schemas.Event) error {
	if len(events) == 0 {
		return nil
	}
	appID := events[0].AppID
	ids := make([]string, len(events))
	byID := make(map[string]*schemas.Event, len(events))
	for i, e := range events {
		ids[i] = e.ID
		byID[e.ID] = e
		e.Deliveries = []schemas.Delivery{}
	}
	q, args, err := sqlx.In(`SELECT app_id, event_id, endpoint_id, status, seq, next_attempt_at, finished_at
		FROM deliveries WHERE app_id = ? AND event_id IN (?) ORDER BY event_id, endpoint_id`, appID, ids)
	if err != nil {
		return err
	}
	var ds []deliveryRow
	if err := s.sel(ctx, db, &ds, q, args...); err != nil {
		return fmt.Errorf("load deliveries: %w", err)
	}
	if len(ds) == 0 {
		return nil
	}
	q, args, err = sqlx.In(`SELECT event_id, endpoint_id, attempt, started_at, duration_ms, response_status, error, response_body
		FROM attempts WHERE app_id = ? AND event_id IN (?) AND outcome <> ? ORDER BY event_id, endpoint_id, attempt`,
		appID, ids, schemas.OutcomeInFlight)
	if err != nil {
		return err
	}
	var as []attemptRow
	if err := s.sel(ctx, db, &as, q, args...); err != nil {
		return fmt.Errorf("load attempts: %w", err)
	}
	attempts := map[[2]string][]schemas.Attempt{}
	for _, a := range as {
		k := [2]string{a.EventID, a.EndpointID}
		attempts[k] = append(attempts[k], a.attempt())
	}
	for _, d := range ds {
		e := byID[d.EventID]
		at := attempts[[2]string{d.EventID, d.EndpointID}]
		if at == nil {
			at = []schemas.Attempt{}
		}
		e.Deliveries = append(e.Deliveries, schemas.Delivery{EndpointID: d.EndpointID, Status: d.Status,
			Attempts: at, NextAttemptAt: ptr(d.NextAttemptAt)})
	}
	return nil
}

// EventInput is what (re)starting an event's workflow needs: the event and
// its non-final deliveries as targets (by endpoint id).
func (s *Store) EventInput(ctx context.Context, appID, id string) (NewEvent, []schemas.Target, error) {
	var r eventRow
	err := s.get(ctx, s.rdb, &r, `SELECT `+eventCols+` FROM events WHERE app_id = ? AND id = ?`, appID, id)
	if isNoRows(err) {
		return NewEvent{}, nil, eventNotFound(appID, id)
	}
	if err != nil {
		return NewEvent{}, nil, fmt.Errorf("load event %s: %w", id, err)
	}
	var ds []deliveryRow
	err = s.sel(ctx, s.rdb, &ds, `SELECT `+deliveryCols+` FROM deliveries
		WHERE app_id = ? AND event_id = ? AND status IN (?, ?) ORDER BY endpoint_id`,
		appID, id, schemas.DeliveryPending, schemas.DeliveryDelivering)
	if err != nil {
		return NewEvent{}, nil, fmt.Errorf("load deliveries of event %s: %w", id, err)
	}
	targets := make([]schemas.Target, len(ds))
	for i, d := range ds {
		targets[i] = d.target()
	}
	return r.newEvent(), targets, nil
}

// target is a delivery as a workflow target: ordered deliveries have a seq.
func (d deliveryRow) target() schemas.Target {
	return schemas.Target{EndpointID: d.EndpointID, Ordered: d.Seq > 0, Seq: d.Seq, Lane: d.Lane, Gen: d.Gen}
}
