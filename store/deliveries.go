package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

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

// LoadDelivery loads, in one query, an event, its payload, the endpoint of
// one of its deliveries with its secrets, and that delivery's status.
func (s *Store) LoadDelivery(ctx context.Context, appID, eventID, endpointID string) (DeliveryJob, error) {
	var r struct {
		EventType string                 `db:"event_type"`
		Payload   string                 `db:"payload"`
		EventAt   dbTime                 `db:"event_created_at"`
		Status    schemas.DeliveryStatus `db:"delivery_status"`
		Seq       int64                  `db:"delivery_seq"`
		Lane      string                 `db:"delivery_lane"`
		Gen       int64                  `db:"delivery_gen"`
		Attempts  int                    `db:"delivery_attempts"`
		endpointRow
	}
	// The endpoint columns are COALESCEd so a deleted endpoint scans as zeros.
	err := s.get(ctx, s.db, &r, `SELECT e.event_type, e.payload, e.created_at AS event_created_at, d.status AS delivery_status, d.seq AS delivery_seq,
		d.lane AS delivery_lane, d.gen AS delivery_gen,
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
		WHERE d.app_id = ? AND d.event_id = ? AND d.endpoint_id = ?`, appID, eventID, endpointID)
	if isNoRows(err) {
		return DeliveryJob{}, deliveryNotFound(appID, eventID, endpointID)
	}
	if err != nil {
		return DeliveryJob{}, fmt.Errorf("load delivery of event %s to %s: %w", eventID, endpointID, err)
	}
	job := DeliveryJob{
		Event: NewEvent{AppID: appID, ID: eventID, EventType: r.EventType, Payload: []byte(r.Payload),
			CreatedAt: r.EventAt.T()},
		Status:       r.Status,
		Seq:          r.Seq,
		Lane:         r.Lane,
		Gen:          r.Gen,
		Attempts:     r.Attempts,
		EndpointGone: r.ID == "",
	}
	if !job.EndpointGone {
		if job.Endpoint, err = r.endpoint(); err != nil {
			return DeliveryJob{}, err
		}
		if job.Secrets, err = s.secrets(r.endpointRow); err != nil {
			return DeliveryJob{}, err
		}
		if err := s.openAuth(r.endpointRow, job.Endpoint.Auth); err != nil {
			return DeliveryJob{}, err
		}
	}
	return job, nil
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

// AttemptRecord is one attempt to record and the delivery's state after it.
type AttemptRecord struct {
	AppID, EventID, EndpointID string
	StartedAt                  time.Time
	DurationMS                 int64
	ResponseStatus             int
	Error, ResponseBody        string
	Status                     schemas.DeliveryStatus // the delivery's status after this attempt
	NextAttemptAt              *time.Time             // when the next attempt is due, if any
	FinishedAt                 *time.Time             // when the delivery ended, if Status is final (now when nil)
	// Key names the attempt for idempotency (see AttemptByKey); Outcome and
	// RetryIn are what the attempt decided, kept to answer a re-run.
	Key     string
	Outcome schemas.Outcome
	RetryIn time.Duration
	// Gen is the generation the attempt was made for (0: any). An attempt
	// of another generation is recorded but changes no status: the
	// delivery was queued again while it was under way and goes again.
	Gen int64
	// Attempt is the number BeginAttempt gave the attempt, whose in-flight
	// note this record completes; 0: a new attempt, numbered after the last.
	Attempt int
}

// Recorded is what RecordAttemptOf did.
type Recorded struct {
	Attempt     int                 // the attempt's number
	EventStatus schemas.EventStatus // the event's status after it
	// Applied is false when the attempt's generation was not the
	// delivery's: its status did not change.
	Applied bool
}

// RecordedAttempt is an attempt found by its key.
type RecordedAttempt struct {
	Attempt schemas.Attempt
	Outcome schemas.Outcome
	RetryIn time.Duration
}

// AttemptByKey finds the attempt recorded under key for a delivery; ok is
// false when there is none.
func (s *Store) AttemptByKey(ctx context.Context, appID, eventID, endpointID, key string) (RecordedAttempt, bool, error) {
	var r struct {
		attemptRow
		Outcome   schemas.Outcome `db:"outcome"`
		RetryInMS int64           `db:"retry_in_ms"`
	}
	err := s.get(ctx, s.db, &r, `SELECT attempt, started_at, duration_ms, response_status, error, response_body, outcome, retry_in_ms
		FROM attempts WHERE app_id = ? AND event_id = ? AND endpoint_id = ? AND attempt_key = ?`,
		appID, eventID, endpointID, key)
	if isNoRows(err) {
		return RecordedAttempt{}, false, nil
	}
	if err != nil {
		return RecordedAttempt{}, false, fmt.Errorf("find attempt %s of event %s to %s: %w", key, eventID, endpointID, err)
	}
	return RecordedAttempt{Attempt: r.attempt(), Outcome: r.Outcome, RetryIn: time.Duration(r.RetryInMS) * time.Millisecond}, true, nil
}

// RecordAttempt stores an attempt numbered after the delivery's last one,
// sets the delivery's status and next_attempt_at (but a final delivery only
// changes to succeeded: an attempt under way when a cancel came may still
// succeed) and stores the event's recomputed status, in one transaction.
func (s *Store) RecordAttempt(ctx context.Context, r AttemptRecord) (attempt int, eventStatus schemas.EventStatus, err error) {
	rec, err := s.RecordAttemptOf(ctx, r)
	return rec.Attempt, rec.EventStatus, err
}

// RecordAttemptOf is RecordAttempt, saying also whether the attempt's
// generation was the delivery's (see AttemptRecord.Gen).
func (s *Store) RecordAttemptOf(ctx context.Context, r AttemptRecord) (Recorded, error) {
	var out Recorded
	if !r.Status.Valid() {
		return out, fmt.Errorf("record attempt of event %s to %s: unknown delivery status %q", r.EventID, r.EndpointID, r.Status)
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := s.lockDelivery(ctx, tx, r.AppID, r.EventID, r.EndpointID)
		if err != nil {
			return err
		}
		attempt := r.Attempt
		if attempt > 0 {
			n, err := s.exec(ctx, tx, `UPDATE attempts SET started_at = ?, duration_ms = ?, response_status = ?,
				error = ?, response_body = ?, outcome = ?, retry_in_ms = ?
				WHERE app_id = ? AND event_id = ? AND endpoint_id = ? AND attempt = ?`,
				ts(r.StartedAt), r.DurationMS, r.ResponseStatus, cleanText(r.Error, 0),
				cleanText(r.ResponseBody, schemas.MaxResponseBody), r.Outcome, r.RetryIn.Milliseconds(),
				r.AppID, r.EventID, r.EndpointID, attempt)
			if err != nil {
				return err
			}
			if n == 0 {
				attempt = 0 // its note is gone (purged): recorded anew
			}
		}
		if attempt == 0 {
			if attempt, err = s.insertAttempt(ctx, tx, r); err != nil {
				return err
			}
		}
		out.Attempt = attempt
		out.EventStatus, out.Applied, err = s.afterAttempt(ctx, tx, r, cur)
		return err
	})
	if err != nil {
		return Recorded{}, fmt.Errorf("record attempt of event %s to %s: %w", r.EventID, r.EndpointID, err)
	}
	return out, nil
}

// insertAttempt stores r as the delivery's next attempt and returns its number.
func (s *Store) insertAttempt(ctx context.Context, tx *sqlx.Tx, r AttemptRecord) (int, error) {
	var attempt int
	err := s.get(ctx, tx, &attempt, `SELECT COALESCE(MAX(attempt), 0) + 1 FROM attempts
		WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`, r.AppID, r.EventID, r.EndpointID)
	if err != nil {
		return 0, err
	}
	var key any
	if r.Key != "" {
		key = r.Key
	}
	_, err = s.exec(ctx, tx, `INSERT INTO attempts (app_id, event_id, endpoint_id, attempt, started_at,
		duration_ms, response_status, error, response_body, attempt_key, outcome, retry_in_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.AppID, r.EventID, r.EndpointID, attempt, ts(r.StartedAt), r.DurationMS, r.ResponseStatus,
		cleanText(r.Error, 0), cleanText(r.ResponseBody, schemas.MaxResponseBody), key, r.Outcome,
		r.RetryIn.Milliseconds())
	return attempt, err
}

// BeginAttempt is MarkDelivering for an attempt about to be made, and in
// the same transaction notes the attempt, under key, as in flight
// (schemas.OutcomeInFlight, with schemas.InterruptedError): readers do not
// see it until RecordAttemptOf completes it (AttemptRecord.Attempt = n),
// and if the process dies first, the attempt's re-run finds it under its
// key and makes it interrupted (ReleaseInterrupted), so that an attempt
// the endpoint may have received is never missing from the record.
// moved is false, and nothing is noted, when the delivery may not go.
func (s *Store) BeginAttempt(ctx context.Context, appID, eventID, endpointID string, gen int64, key string,
	startedAt time.Time) (n int, moved bool, err error) {
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		// The delivery's row lock, taken by the update, orders this
		// attempt's number against any other's.
		changed, err := s.markDelivering(ctx, tx, appID, eventID, endpointID, gen)
		if err != nil || changed == 0 {
			return err
		}
		n, err = s.insertAttempt(ctx, tx, AttemptRecord{AppID: appID, EventID: eventID, EndpointID: endpointID,
			StartedAt: startedAt, Error: schemas.InterruptedError, Key: key, Outcome: schemas.OutcomeInFlight})
		moved = err == nil
		return err
	})
	if err == nil && !moved {
		_, err = s.DeliveryStatus(ctx, appID, eventID, endpointID) // gone: not found
	}
	if err != nil {
		return 0, false, fmt.Errorf("begin attempt of event %s to %s: %w", eventID, endpointID, err)
	}
	return n, moved, nil
}

// ReleaseInterrupted makes attempt n of a delivery, if it is still in
// flight, interrupted: it shows from now on, as BeginAttempt noted it
// (durationMS > 0 replaces its duration), and its key is freed to name the
// attempt made in its place.
func (s *Store) ReleaseInterrupted(ctx context.Context, appID, eventID, endpointID string, n int, durationMS int64) error {
	_, err := s.exec(ctx, s.db, `UPDATE attempts SET outcome = ?, attempt_key = NULL,
		duration_ms = CASE WHEN ? > 0 THEN ? ELSE duration_ms END
		WHERE app_id = ? AND event_id = ? AND endpoint_id = ? AND attempt = ? AND outcome = ?`,
		schemas.OutcomeInterrupted, durationMS, durationMS, appID, eventID, endpointID, n, schemas.OutcomeInFlight)
	if err != nil {
		return fmt.Errorf("record attempt %d of event %s to %s as interrupted: %w", n, eventID, endpointID, err)
	}
	return nil
}

// lockDelivery returns a delivery's status and generation, locking its
// event's row and its own on Postgres until the transaction ends.
func (s *Store) lockDelivery(ctx context.Context, tx *sqlx.Tx, appID, eventID, endpointID string) (deliveryRow, error) {
	if err := s.lockEvent(ctx, tx, appID, eventID); err != nil {
		if schemas.IsNotFound(err) {
			return deliveryRow{}, deliveryNotFound(appID, eventID, endpointID)
		}
		return deliveryRow{}, err
	}
	var cur deliveryRow
	err := s.get(ctx, tx, &cur, `SELECT `+deliveryCols+` FROM deliveries WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`+
		s.forUpdate(), appID, eventID, endpointID)
	if isNoRows(err) {
		return deliveryRow{}, deliveryNotFound(appID, eventID, endpointID)
	}
	return cur, err
}

// afterAttempt sets a delivery's status (now cur) and next attempt after an
// attempt of its generation and returns the event's recomputed status and
// whether the attempt applied. A final delivery only changes to succeeded:
// MarkDelivering lets no attempt start once it is final, so a success that
// finds it final was under way when a cancel came, and the contract keeps
// that delivery succeeded.
func (s *Store) afterAttempt(ctx context.Context, tx *sqlx.Tx, r AttemptRecord, cur deliveryRow) (schemas.EventStatus, bool, error) {
	applied := r.Gen == 0 || r.Gen == cur.Gen
	if applied && (!cur.Status.Final() ||
		(r.Status == schemas.DeliverySucceeded && cur.Status != schemas.DeliverySucceeded)) {
		now := time.Now()
		var finished any
		if r.Status.Final() {
			if r.FinishedAt != nil {
				finished = ts(*r.FinishedAt)
			} else {
				finished = ts(now)
			}
		}
		if _, err := s.exec(ctx, tx, `UPDATE deliveries SET status = ?, next_attempt_at = ?, finished_at = ?, updated_at = ?
			WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`, r.Status, nts(r.NextAttemptAt), finished, ts(now),
			r.AppID, r.EventID, r.EndpointID); err != nil {
			return "", false, err
		}
	}
	st, err := s.recomputeEvent(ctx, tx, r.AppID, r.EventID)
	return st, applied, err
}

// cleanText makes s storable as text: valid UTF-8 without NUL bytes, cut to
// at most max bytes (0: no limit) on a rune boundary.
func cleanText(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\x00", "")
	if max > 0 && len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return s
}

// SetDeliveryStatus sets the status of an event's non-final deliveries to
// the given endpoints (nil: all of them), e.g. cancelled, and returns the
// event's recomputed status.
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
			WHERE app_id = ? AND event_id = ? AND status IN (?, ?)`
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
// (see schemas.Generations.Covers; nil: all of them) cancelled, in one
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
				WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`,
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
	var r struct {
		Status schemas.DeliveryStatus `db:"status"`
		Seq    int64                  `db:"seq"`
	}
	err = s.get(ctx, s.db, &r, `SELECT status, seq FROM deliveries WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`,
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
	err := s.get(ctx, s.db, &status, `SELECT status FROM deliveries WHERE app_id = ? AND event_id = ? AND endpoint_id = ?`,
		appID, eventID, endpointID)
	if isNoRows(err) {
		return "", deliveryNotFound(appID, eventID, endpointID)
	}
	if err != nil {
		return "", fmt.Errorf("load delivery of event %s to %s: %w", eventID, endpointID, err)
	}
	return status, nil
}
