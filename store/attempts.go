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
	// Gone (RecordAttempts only) is true when the delivery no longer
	// exists: nothing was recorded.
	Gone bool
}

// RecordedAttempt is an attempt found by its key.
type RecordedAttempt struct {
	Attempt schemas.Attempt
	Outcome schemas.Outcome
	RetryIn time.Duration
	Owner   Owner // of an attempt in flight: whether the process that noted it lives
}

// AttemptByKey finds the attempt recorded under key for a delivery; ok is
// false when there is none.
func (s *Store) AttemptByKey(ctx context.Context, appID, eventID, endpointID, key string) (RecordedAttempt, bool, error) {
	var r struct {
		attemptRow
		Outcome   schemas.Outcome `db:"outcome"`
		RetryInMS int64           `db:"retry_in_ms"`
		Owner     Owner           `db:"owner"`
	}
	owner, args := s.ownerSQL()
	err := s.get(ctx, s.rdb, &r, `SELECT a.attempt, a.started_at, a.duration_ms, a.response_status, a.error, a.response_body,
		a.outcome, a.retry_in_ms, `+owner+` AS owner
		FROM attempts a LEFT JOIN processes p ON p.id = a.process_id
		WHERE a.app_id = ? AND a.event_id = ? AND a.endpoint_id = ? AND a.attempt_key = ?`,
		append(args, appID, eventID, endpointID, key)...)
	if isNoRows(err) {
		return RecordedAttempt{}, false, nil
	}
	if err != nil {
		return RecordedAttempt{}, false, fmt.Errorf("find attempt %s of event %s to %s: %w", key, eventID, endpointID, err)
	}
	if r.Owner == OwnerGone && !s.beats.judging() {
		r.Owner = OwnerAlive // asked again within a lapse (see beats)
	}
	return RecordedAttempt{Attempt: r.attempt(), Outcome: r.Outcome, RetryIn: time.Duration(r.RetryInMS) * time.Millisecond,
		Owner: r.Owner}, true, nil
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
		if err := s.lockEventOf(ctx, tx, r.AppID, r.EventID, r.EndpointID); err != nil {
			return err
		}
		var err error
		if out, err = s.recordAttempt(ctx, tx, r); err != nil {
			return err
		}
		out.EventStatus, err = s.recomputeEvent(ctx, tx, r.AppID, r.EventID)
		return err
	})
	if err != nil {
		return Recorded{}, fmt.Errorf("record attempt of event %s to %s: %w", r.EventID, r.EndpointID, err)
	}
	return out, nil
}

// recordAttempt stores r into its in-flight note (or as a new attempt) and
// applies it to its delivery, locked first. The caller has locked the
// event (lockEventOf), and recomputes its status.
func (s *Store) recordAttempt(ctx context.Context, tx *sqlx.Tx, r AttemptRecord) (Recorded, error) {
	cur, err := s.deliveryForUpdate(ctx, tx, r.AppID, r.EventID, r.EndpointID)
	if err != nil {
		return Recorded{}, err
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
			return Recorded{}, err
		}
		if n == 0 {
			attempt = 0 // its note is gone (purged): recorded anew
		}
	}
	if attempt == 0 {
		if attempt, err = s.insertAttempt(ctx, tx, r); err != nil {
			return Recorded{}, err
		}
	}
	applied, err := s.applyAttempt(ctx, tx, r, cur)
	return Recorded{Attempt: attempt, Applied: applied}, err
}

// insertAttempt stores r as the delivery's next attempt and returns its
// number, taken in the insert itself: one statement where a read of the
// last number and the insert were two, on every attempt's path. The
// delivery's row lock, held by the caller, orders it against any other.
func (s *Store) insertAttempt(ctx context.Context, tx *sqlx.Tx, r AttemptRecord) (int, error) {
	var key any
	if r.Key != "" {
		key = r.Key
	}
	var process any
	if r.Outcome == schemas.OutcomeInFlight && s.process != "" {
		process = s.process
	}
	var attempt int
	err := s.get(ctx, tx, &attempt, `INSERT INTO attempts (app_id, event_id, endpoint_id, attempt, started_at,
		duration_ms, response_status, error, response_body, attempt_key, outcome, retry_in_ms, process_id)
		VALUES (?, ?, ?, (SELECT COALESCE(MAX(attempt), 0) + 1 FROM attempts
			WHERE app_id = ? AND event_id = ? AND endpoint_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING attempt`,
		r.AppID, r.EventID, r.EndpointID, r.AppID, r.EventID, r.EndpointID, ts(r.StartedAt), r.DurationMS,
		r.ResponseStatus, cleanText(r.Error, 0), cleanText(r.ResponseBody, schemas.MaxResponseBody), key,
		r.Outcome, r.RetryIn.Milliseconds(), process)
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
		n, moved, err = s.beginAttempt(ctx, tx, AttemptStart{AppID: appID, EventID: eventID, EndpointID: endpointID,
			Gen: gen, Key: key, StartedAt: startedAt})
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

// beginAttempt is BeginAttempt's transaction for one attempt.
func (s *Store) beginAttempt(ctx context.Context, tx *sqlx.Tx, a AttemptStart) (n int, moved bool, err error) {
	if a.Holder != nil {
		if holds, err := s.stillHolds(ctx, tx, *a.Holder); err != nil || !holds {
			return 0, false, err
		}
	}
	// The delivery's row lock, taken by the update, orders this attempt's
	// number against any other's.
	changed, err := s.markDelivering(ctx, tx, a.AppID, a.EventID, a.EndpointID, a.Gen)
	if err != nil || changed == 0 {
		return 0, false, err
	}
	n, err = s.insertAttempt(ctx, tx, AttemptRecord{AppID: a.AppID, EventID: a.EventID, EndpointID: a.EndpointID,
		StartedAt: a.StartedAt, Error: schemas.InterruptedError, Key: a.Key, Outcome: schemas.OutcomeInFlight})
	return n, err == nil, err
}

// AttemptStart is one attempt for BeginAttempts to note in flight.
type AttemptStart struct {
	AppID, EventID, EndpointID string
	Gen                        int64 // the generation it is made for (0: any)
	Key                        string
	StartedAt                  time.Time
	// Holder, when set, is the delivery whose drain makes the attempt: it
	// may begin only while the holder still holds its lane (delivering, at
	// its seq), checked in the same transaction, so that a cancel or
	// replay of the holder that commits first stops the drain.
	Holder *DeliveryRef
}

// stillHolds reports whether the delivery h is delivering at h.Seq, its
// row locked on Postgres until tx ends: a cancel or replay of it then waits
// for the attempt begun in tx, which it will find.
func (s *Store) stillHolds(ctx context.Context, tx *sqlx.Tx, h DeliveryRef) (bool, error) {
	st, seq, err := s.deliveryState(ctx, tx, s.forUpdate(), h.AppID, h.EventID, h.EndpointID)
	if schemas.IsNotFound(err) {
		return false, nil
	}
	return err == nil && st == schemas.DeliveryDelivering && seq == h.Seq, err
}

// Begun is what BeginAttempts did for one AttemptStart, as BeginAttempt
// says it: the attempt's number, and whether the delivery may go.
type Begun struct {
	N     int
	Moved bool
}

// BeginAttempts is BeginAttempt for several attempts (one event's fan-out,
// say) in one transaction: one write instead of one each, which on SQLite
// is a turn of its one write connection. Moved is false, and nothing is
// noted, for a delivery that may not go, gone ones included: its caller
// finds out why on its own (BeginAttempt tells gone apart with an error).
func (s *Store) BeginAttempts(ctx context.Context, starts []AttemptStart) ([]Begun, error) {
	out := make([]Begun, len(starts))
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		for _, i := range inLockOrder(starts, func(a AttemptStart) [3]string { return [3]string{a.AppID, a.EventID, a.EndpointID} }) {
			n, moved, err := s.beginAttempt(ctx, tx, starts[i])
			if err != nil {
				return fmt.Errorf("event %s to %s: %w", starts[i].EventID, starts[i].EndpointID, err)
			}
			out[i] = Begun{N: n, Moved: moved}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("begin %d attempts: %w", len(starts), err)
	}
	return out, nil
}

// EndpointResult is an attempt's answer as auto-disable counts it (see
// NoteEndpointResult).
type EndpointResult struct {
	EndpointID string
	OK         bool
	At         time.Time
}

// RecordAttempts is RecordAttemptOf for several attempts noted by
// BeginAttempts, in one transaction, which also keeps the failure streaks
// of results as NoteEndpointResult does; whether a streak is long enough
// to disable its endpoint is DisableIfFailing's to say. Every Recorded has
// the event's status after them all. A delivery deleted meanwhile is not
// an error: its Recorded is Gone and nothing is recorded for it.
//
// The streaks are kept first: disabling an endpoint locks it before the
// events and deliveries it cancels, and so does this.
func (s *Store) RecordAttempts(ctx context.Context, recs []AttemptRecord, results []EndpointResult) ([]Recorded, error) {
	var out []Recorded
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		out, err = s.recordAttempts(ctx, tx, recs, results)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record %d attempts: %w", len(recs), err)
	}
	return out, nil
}

// RecordAttemptsAndBegin is RecordAttempts, then BeginAttempts of next, in
// the same transaction: an ordered lane's drain records each attempt as it
// begins the next, one write per delivery, and never has more than one
// POST made and not recorded (the one under way), so that a delivery made
// again after a crash is the lane's last one sent.
func (s *Store) RecordAttemptsAndBegin(ctx context.Context, recs []AttemptRecord, results []EndpointResult, next AttemptStart) ([]Recorded, Begun, error) {
	var out []Recorded
	var begun Begun
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if out, err = s.recordAttempts(ctx, tx, recs, results); err != nil {
			return err
		}
		begun.N, begun.Moved, err = s.beginAttempt(ctx, tx, next)
		if err != nil {
			return fmt.Errorf("event %s to %s: %w", next.EventID, next.EndpointID, err)
		}
		return nil
	})
	if err != nil {
		return nil, Begun{}, fmt.Errorf("record %d attempts and begin the next: %w", len(recs), err)
	}
	return out, begun, nil
}

// recordAttempts is RecordAttempts' work inside tx.
func (s *Store) recordAttempts(ctx context.Context, tx *sqlx.Tx, recs []AttemptRecord, results []EndpointResult) ([]Recorded, error) {
	for _, r := range recs {
		if !r.Status.Valid() {
			return nil, fmt.Errorf("record attempt of event %s to %s: unknown delivery status %q", r.EventID, r.EndpointID, r.Status)
		}
	}
	out := make([]Recorded, len(recs))
	if err := s.noteStreaks(ctx, tx, results); err != nil {
		return nil, err
	}
	// Each event is locked once (lockEventOf), by its first record in lock
	// order: one statement per event where each record took its own.
	events := map[[2]string]schemas.EventStatus{}
	found := map[[2]string]bool{} // locked, or gone when false
	for _, i := range inLockOrder(recs, func(r AttemptRecord) [3]string { return [3]string{r.AppID, r.EventID, r.EndpointID} }) {
		r := recs[i]
		ev := [2]string{r.AppID, r.EventID}
		if _, seen := found[ev]; !seen {
			err := s.lockEventOf(ctx, tx, r.AppID, r.EventID, r.EndpointID)
			if err != nil && !schemas.IsNotFound(err) {
				return nil, err
			}
			found[ev] = err == nil
		}
		if !found[ev] {
			out[i].Gone = true
			continue
		}
		got, err := s.recordAttempt(ctx, tx, r)
		if schemas.IsNotFound(err) {
			out[i].Gone = true
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("event %s to %s: %w", r.EventID, r.EndpointID, err)
		}
		out[i] = got
		events[[2]string{r.AppID, r.EventID}] = ""
	}
	for ev := range events {
		st, err := s.recomputeEvent(ctx, tx, ev[0], ev[1])
		if err != nil {
			return nil, err
		}
		events[ev] = st
	}
	for i, r := range recs {
		out[i].EventStatus = events[[2]string{r.AppID, r.EventID}]
	}
	return out, nil
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

// afterAttempt sets a delivery's status (now cur) and next attempt after an
// attempt of its generation and returns the event's recomputed status and
// whether the attempt applied (see applyAttempt).
func (s *Store) afterAttempt(ctx context.Context, tx *sqlx.Tx, r AttemptRecord, cur deliveryRow) (schemas.EventStatus, bool, error) {
	applied, err := s.applyAttempt(ctx, tx, r, cur)
	if err != nil {
		return "", false, err
	}
	st, err := s.recomputeEvent(ctx, tx, r.AppID, r.EventID)
	return st, applied, err
}

// applyAttempt sets a delivery's status (now cur) and next attempt after an
// attempt of its generation and says whether the attempt applied. A final
// delivery only changes to succeeded: MarkDelivering lets no attempt start
// once it is final, so a success that finds it final was under way when a
// cancel came, and the contract keeps that delivery succeeded.
func (s *Store) applyAttempt(ctx context.Context, tx *sqlx.Tx, r AttemptRecord, cur deliveryRow) (bool, error) {
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
			return false, err
		}
	}
	return applied, nil
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

type attemptRow struct {
	EventID        string `db:"event_id"`
	EndpointID     string `db:"endpoint_id"`
	Attempt        int    `db:"attempt"`
	StartedAt      dbTime `db:"started_at"`
	DurationMS     int64  `db:"duration_ms"`
	ResponseStatus int    `db:"response_status"`
	Error          string `db:"error"`
	ResponseBody   string `db:"response_body"`
}

func (a attemptRow) attempt() schemas.Attempt {
	return schemas.Attempt{Attempt: a.Attempt, StartedAt: a.StartedAt.T(), DurationMS: a.DurationMS,
		ResponseStatus: a.ResponseStatus, Error: a.Error, ResponseBody: a.ResponseBody}
}
