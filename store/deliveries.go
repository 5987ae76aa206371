package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/schemas"
)

func deliveryNotFound(appID, eventID, endpointID string) error {
	return schemas.Errorf(schemas.KindNotFound, "delivery_not_found",
		"event %q of app %q has no delivery to endpoint %q", eventID, appID, endpointID)
}

// DeliveryJob is what one delivery attempt needs.
type DeliveryJob struct {
	Event    NewEvent
	Endpoint schemas.Endpoint
	Secrets  schemas.EndpointSecrets
	Status   schemas.DeliveryStatus
	Seq      int64  // the delivery's place at an ordered endpoint (0: unordered)
	Lane     string // the delivery's lane at an ordered endpoint
	Gen      int64  // the delivery's generation (see AttemptRecord.Gen)
	Attempts int    // how many attempts are recorded for the delivery
	// EndpointGone is true when the endpoint was deleted; Endpoint and
	// Secrets are then zero.
	EndpointGone bool
}

// attemptEvent is what an attempt needs of its event, read with its
// delivery (attemptEventCols, from events aliased e).
type attemptEvent struct {
	EventType string `db:"event_type"`
	Payload   string `db:"payload"`
	EventAt   dbTime `db:"event_created_at"`
}

const attemptEventCols = `e.event_type, e.payload, e.created_at AS event_created_at`

func (r attemptEvent) event(appID, eventID string) NewEvent {
	return NewEvent{AppID: appID, ID: eventID, EventType: r.EventType, Payload: []byte(r.Payload), CreatedAt: r.EventAt.T()}
}

// deliveryJobRow is a row of deliveryJobQuery.
type deliveryJobRow struct {
	attemptEvent
	EndpointID string                 `db:"delivery_endpoint_id"`
	Status     schemas.DeliveryStatus `db:"delivery_status"`
	Seq        int64                  `db:"delivery_seq"`
	Lane       string                 `db:"delivery_lane"`
	Gen        int64                  `db:"delivery_gen"`
	Attempts   int                    `db:"delivery_attempts"`
	endpointRow
}

// deliveryJobQuery reads deliveries (d) with their event, their attempt
// count and their endpoint; the endpoint columns are COALESCEd so that a
// deleted endpoint scans as zeros. The caller appends the WHERE clause.
const deliveryJobQuery = `SELECT ` + attemptEventCols + `, d.endpoint_id AS delivery_endpoint_id,
		d.status AS delivery_status, d.seq AS delivery_seq, d.lane AS delivery_lane, d.gen AS delivery_gen,
		(SELECT COUNT(*) FROM attempts a WHERE a.app_id = d.app_id AND a.event_id = d.event_id
			AND a.endpoint_id = d.endpoint_id) AS delivery_attempts,
		COALESCE(ep.id, '') AS id, COALESCE(ep.app_id, '') AS app_id, COALESCE(ep.url, '') AS url,
		COALESCE(ep.description, '') AS description, COALESCE(ep.event_types, '[]') AS event_types,
		COALESCE(ep.ordered, 0 = 1) AS ordered, COALESCE(ep.rate_limit_per_second, 0) AS rate_limit_per_second,
		COALESCE(ep.headers, '{}') AS headers, COALESCE(ep.disabled, 0 = 1) AS disabled,
		COALESCE(ep.disabled_reason, '') AS disabled_reason, ep.disabled_at,
		COALESCE(ep.signature_type, '') AS signature_type, COALESCE(ep.secret_key, '') AS secret_key,
		COALESCE(ep.previous_key, '') AS previous_key, ep.previous_expires_at,
		COALESCE(ep.created_at, e.created_at) AS created_at, COALESCE(ep.updated_at, e.created_at) AS updated_at,
		COALESCE(ep.filter_expr, '') AS filter_expr, COALESCE(ep.transform_expr, '') AS transform_expr,
		COALESCE(ep.auth, '') AS auth, COALESCE(ep.auth_secret, '') AS auth_secret, COALESCE(ep.ca_pem, '') AS ca_pem
		FROM deliveries d
		JOIN events e ON e.app_id = d.app_id AND e.id = d.event_id
		LEFT JOIN endpoints ep ON ep.id = d.endpoint_id AND ep.app_id = d.app_id
		`

// job makes the row a DeliveryJob, its endpoint's secrets opened.
func (s *Store) job(r deliveryJobRow, appID, eventID string) (DeliveryJob, error) {
	job := DeliveryJob{
		Event:        r.event(appID, eventID),
		Status:       r.Status,
		Seq:          r.Seq,
		Lane:         r.Lane,
		Gen:          r.Gen,
		Attempts:     r.Attempts,
		EndpointGone: r.ID == "",
	}
	if !job.EndpointGone {
		var err error
		if job.Endpoint, job.Secrets, err = s.deliverable(r.endpointRow); err != nil {
			return DeliveryJob{}, err
		}
	}
	return job, nil
}

// LoadDelivery loads, in one query, an event, its payload, the endpoint of
// one of its deliveries with its secrets, and that delivery's status.
func (s *Store) LoadDelivery(ctx context.Context, appID, eventID, endpointID string) (DeliveryJob, error) {
	var r deliveryJobRow
	err := s.get(ctx, s.rdb, &r, deliveryJobQuery+`WHERE d.app_id = ? AND d.event_id = ? AND d.endpoint_id = ?`,
		appID, eventID, endpointID)
	if isNoRows(err) {
		return DeliveryJob{}, deliveryNotFound(appID, eventID, endpointID)
	}
	if err != nil {
		return DeliveryJob{}, fmt.Errorf("load delivery of event %s to %s: %w", eventID, endpointID, err)
	}
	return s.job(r, appID, eventID)
}

// LoadDeliveries is LoadDelivery for every delivery of one event, in one
// query, by endpoint id: an event's first attempts are made together
// (activities.DeliverFirst), and ten endpoints were ten reads of the same
// event.
func (s *Store) LoadDeliveries(ctx context.Context, appID, eventID string) (map[string]DeliveryJob, error) {
	var rows []deliveryJobRow
	if err := s.sel(ctx, s.rdb, &rows, deliveryJobQuery+`WHERE d.app_id = ? AND d.event_id = ?`, appID, eventID); err != nil {
		return nil, fmt.Errorf("load the deliveries of event %s: %w", eventID, err)
	}
	jobs := make(map[string]DeliveryJob, len(rows))
	for _, r := range rows {
		job, err := s.job(r, appID, eventID)
		if err != nil {
			return nil, err
		}
		jobs[r.EndpointID] = job
	}
	return jobs, nil
}

// MarkDelivering makes a non-final delivery of generation gen (0: any)
// delivering, just before an attempt, and reports whether it did: false
// means the delivery became final (a cancel came after it was loaded) or
// was queued again under another generation, and the attempt must not be
// made. A delivery already delivering (its last attempt's process died)
// is marked again.
func (s *Store) MarkDelivering(ctx context.Context, appID, eventID, endpointID string, gen int64) (bool, error) {
	n, err := s.markDelivering(ctx, s.db, appID, eventID, endpointID, gen)
	if err != nil {
		return false, fmt.Errorf("mark delivery of event %s to %s delivering: %w", eventID, endpointID, err)
	}
	if n == 0 {
		_, err := s.DeliveryStatus(ctx, appID, eventID, endpointID)
		return false, err
	}
	return true, nil
}

func (s *Store) markDelivering(ctx context.Context, db querier, appID, eventID, endpointID string, gen int64) (int64, error) {
	return s.exec(ctx, db, `UPDATE deliveries SET status = ?, updated_at = ?
		WHERE app_id = ? AND event_id = ? AND endpoint_id = ? AND status IN (?, ?) AND (gen = ? OR ? = 0)`,
		schemas.DeliveryDelivering, ts(time.Now()), appID, eventID, endpointID,
		schemas.DeliveryPending, schemas.DeliveryDelivering, gen, gen)
}

// lockDelivery returns a delivery's status and generation, locking its
// event's row and its own on Postgres until the transaction ends.
func (s *Store) lockDelivery(ctx context.Context, tx *sqlx.Tx, appID, eventID, endpointID string) (deliveryRow, error) {
	if err := s.lockEventOf(ctx, tx, appID, eventID, endpointID); err != nil {
		return deliveryRow{}, err
	}
	return s.deliveryForUpdate(ctx, tx, appID, eventID, endpointID)
}

// lockEventOf is lockEvent for a change to one of the event's deliveries,
// which the caller reads next: a missing event is that delivery's
// not-found. On SQLite, whose transactions hold the one write lock, it
// runs nothing: the delivery's read finds a missing event (an event's
// deliveries are deleted with it).
func (s *Store) lockEventOf(ctx context.Context, tx *sqlx.Tx, appID, eventID, endpointID string) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	err := s.lockEvent(ctx, tx, appID, eventID)
	if schemas.IsNotFound(err) {
		return deliveryNotFound(appID, eventID, endpointID)
	}
	return err
}

// deliveryForUpdate is lockDelivery for a transaction that holds the
// event's lock already.
func (s *Store) deliveryForUpdate(ctx context.Context, tx *sqlx.Tx, appID, eventID, endpointID string) (deliveryRow, error) {
	var cur deliveryRow
	err := s.get(ctx, tx, &cur, `SELECT `+deliveryCols+` FROM deliveries WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`+
		s.forUpdate(), appID, eventID, endpointID)
	if isNoRows(err) {
		return deliveryRow{}, deliveryNotFound(appID, eventID, endpointID)
	}
	return cur, err
}

// SetDeliveryStatus sets the status of an event's non-final deliveries to
// the given endpoints (nil: all of them), e.g. cancelled, and returns the
// event's recomputed status. A lane's holder whose drain is under way is
// left to end as it will (notDraining).
func (s *Store) SetDeliveryStatus(ctx context.Context, appID, eventID string, endpointIDs []string, status schemas.DeliveryStatus, now time.Time) (eventStatus schemas.EventStatus, err error) {
	if !status.Valid() {
		return "", fmt.Errorf("set deliveries of event %s: unknown delivery status %q", eventID, status)
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockEvent(ctx, tx, appID, eventID); err != nil {
			return err
		}
		var finished any
		if status.Final() {
			finished = ts(now)
		}
		q := `UPDATE deliveries SET status = ?, finished_at = ?, next_attempt_at = NULL, updated_at = ?
			WHERE app_id = ? AND event_id = ? AND status IN (?, ?) AND ` + notDraining
		args := []any{status, finished, ts(now), appID, eventID, schemas.DeliveryPending, schemas.DeliveryDelivering}
		if endpointIDs != nil {
			if len(endpointIDs) == 0 {
				q += ` AND 1 = 0`
			} else {
				q += ` AND endpoint_id IN (?)`
				args = append(args, endpointIDs)
			}
		}
		q, args, err := sqlx.In(q, args...)
		if err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, q, args...); err != nil {
			return err
		}
		eventStatus, err = s.recomputeEvent(ctx, tx, appID, eventID)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("set deliveries of event %s %s: %w", eventID, status, err)
	}
	return eventStatus, nil
}

// CancelDeliveries makes the event's non-final deliveries that upTo covers
// (see schemas.Generations.Covers; nil: all of them; never a lane's holder
// whose drain is under way, see notDraining) cancelled, in one
// transaction under the event's lock, and returns the event's recomputed
// status and the generation of each of its deliveries as the cancel found
// them: the bound of this cancel, which a later cancel step of the same
// cancel passes as its upTo so that it leaves alone what a replay or
// recover re-queued in between.
func (s *Store) CancelDeliveries(ctx context.Context, appID, eventID string, upTo schemas.Generations, now time.Time) (eventStatus schemas.EventStatus, found schemas.Generations, err error) {
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockEvent(ctx, tx, appID, eventID); err != nil {
			return err
		}
		var rows []struct {
			EndpointID string                 `db:"endpoint_id"`
			Status     schemas.DeliveryStatus `db:"status"`
			Gen        int64                  `db:"gen"`
		}
		if err := s.sel(ctx, tx, &rows, `SELECT endpoint_id, status, gen FROM deliveries WHERE app_id = ? AND event_id = ?`,
			appID, eventID); err != nil {
			return err
		}
		found = make(schemas.Generations, len(rows))
		for _, r := range rows {
			found[r.EndpointID] = r.Gen
			if r.Status.Final() || !upTo.Covers(schemas.Target{EndpointID: r.EndpointID, Gen: r.Gen}) {
				continue
			}
			if _, err := s.exec(ctx, tx, `UPDATE deliveries SET status = ?, finished_at = ?, next_attempt_at = NULL, updated_at = ?
				WHERE app_id = ? AND event_id = ? AND endpoint_id = ? AND `+notDraining,
				schemas.DeliveryCancelled, ts(now), ts(now), appID, eventID, r.EndpointID); err != nil {
				return err
			}
		}
		eventStatus, err = s.recomputeEvent(ctx, tx, appID, eventID)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("cancel deliveries of event %s: %w", eventID, err)
	}
	return eventStatus, found, nil
}

// FinishDelivery makes a non-final delivery of generation gen (0: any)
// final with status, and returns the event's status and whether it did.
func (s *Store) FinishDelivery(ctx context.Context, appID, eventID, endpointID string, gen int64, status schemas.DeliveryStatus, now time.Time) (eventStatus schemas.EventStatus, done bool, err error) {
	if !status.Final() {
		return "", false, fmt.Errorf("finish delivery of event %s: %q is not final", eventID, status)
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := s.lockDelivery(ctx, tx, appID, eventID, endpointID)
		if err != nil {
			return err
		}
		if !cur.Status.Final() && (gen == 0 || gen == cur.Gen) {
			if _, err := s.exec(ctx, tx, `UPDATE deliveries SET status = ?, finished_at = ?, next_attempt_at = NULL, updated_at = ?
				WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`, status, ts(now), ts(now), appID, eventID, endpointID); err != nil {
				return err
			}
			done = true
		}
		eventStatus, err = s.recomputeEvent(ctx, tx, appID, eventID)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("finish delivery of event %s to %s: %w", eventID, endpointID, err)
	}
	return eventStatus, done, nil
}

// DeliveryState is the status and the ordered-endpoint sequence number of
// one delivery.
func (s *Store) DeliveryState(ctx context.Context, appID, eventID, endpointID string) (status schemas.DeliveryStatus, seq int64, err error) {
	return s.deliveryState(ctx, s.rdb, "", appID, eventID, endpointID)
}

// deliveryState is DeliveryState read on db, the query ending with lock
// (s.forUpdate() inside a transaction, or "").
func (s *Store) deliveryState(ctx context.Context, db querier, lock, appID, eventID, endpointID string) (schemas.DeliveryStatus, int64, error) {
	var r struct {
		Status schemas.DeliveryStatus `db:"status"`
		Seq    int64                  `db:"seq"`
	}
	err := s.get(ctx, db, &r, `SELECT status, seq FROM deliveries WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`+lock,
		appID, eventID, endpointID)
	if isNoRows(err) {
		return "", 0, deliveryNotFound(appID, eventID, endpointID)
	}
	if err != nil {
		return "", 0, fmt.Errorf("load delivery of event %s to %s: %w", eventID, endpointID, err)
	}
	return r.Status, r.Seq, nil
}

// DeliveryStatus is the status of one delivery.
func (s *Store) DeliveryStatus(ctx context.Context, appID, eventID, endpointID string) (schemas.DeliveryStatus, error) {
	var status schemas.DeliveryStatus
	err := s.get(ctx, s.rdb, &status, `SELECT status FROM deliveries WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`,
		appID, eventID, endpointID)
	if isNoRows(err) {
		return "", deliveryNotFound(appID, eventID, endpointID)
	}
	if err != nil {
		return "", fmt.Errorf("load delivery of event %s to %s: %w", eventID, endpointID, err)
	}
	return status, nil
}
