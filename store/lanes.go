package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/schemas"
)

// The store's half of ordered delivery (docs/architecture.md, "Lanes"), in
// one place: sequence numbers, the open part of each lane, whose turn it
// is, the lane's head, and what a drain may deliver next. The workflow's
// half is workflows/lanes.go, the activities' activities/lanes.go, the
// Temporal client's dispatch/lanes.go.

// openOrdered selects the open part of ordered endpoints' lanes. Its
// values are literals, not parameters, so that the planner can use the
// partial index deliveries_open_lanes, whose predicate this is.
const openOrdered = "seq > 0 AND status IN ('" + string(schemas.DeliveryPending) + "', '" + string(schemas.DeliveryDelivering) + "')"

// A lane is one ordered queue: the deliveries to one ordered endpoint of
// events with one ordering key ("" for events without one). Seqs come from
// the endpoint's counter, so they rise in acceptance order in every lane.

// DeliveryRef names one delivery and its place in its lane.
type DeliveryRef struct {
	AppID, EventID, EndpointID string
	Lane                       string
	Seq                        int64
}

// LaneHead is a lane's first non-final delivery, with what a waiter needs
// to tell whether its workflow is alive.
type LaneHead struct {
	DeliveryRef
	Status        schemas.DeliveryStatus
	UpdatedAt     time.Time
	NextAttemptAt *time.Time
}

// Ahead counts the open deliveries of the lane before seq, up to 2: 0 means
// the turn is seq's, 1 that seq is next behind the head.
func (s *Store) Ahead(ctx context.Context, endpointID, lane string, seq int64) (int, error) {
	var n int
	err := s.get(ctx, s.rdb, &n, `SELECT COUNT(*) FROM (SELECT 1 FROM deliveries
		WHERE endpoint_id = ? AND lane = ? AND seq < ? AND `+openOrdered+` LIMIT 2) AS x`, endpointID, lane, seq)
	if err != nil {
		return 0, fmt.Errorf("turn of endpoint %s lane %q seq %d: %w", endpointID, lane, seq, err)
	}
	return n, nil
}

// TurnAvailable reports whether every delivery of the lane ordered before
// seq (0 < seq' < seq) is final.
func (s *Store) TurnAvailable(ctx context.Context, endpointID, lane string, seq int64) (bool, error) {
	n, err := s.Ahead(ctx, endpointID, lane, seq)
	return n == 0, err
}

// HeadDelivery is the lane's non-final delivery with the lowest seq; ok is
// false when there is none.
func (s *Store) HeadDelivery(ctx context.Context, endpointID, lane string) (LaneHead, bool, error) {
	var d deliveryRow
	err := s.get(ctx, s.rdb, &d, `SELECT app_id, event_id, endpoint_id, lane, status, seq, next_attempt_at, updated_at
		FROM deliveries WHERE endpoint_id = ? AND lane = ? AND `+openOrdered+` ORDER BY seq LIMIT 1`, endpointID, lane)
	if isNoRows(err) {
		return LaneHead{}, false, nil
	}
	if err != nil {
		return LaneHead{}, false, fmt.Errorf("head of endpoint %s lane %q: %w", endpointID, lane, err)
	}
	h := LaneHead{DeliveryRef: d.ref(), Status: d.Status, NextAttemptAt: ptr(d.NextAttemptAt)}
	if d.UpdatedAt != nil {
		h.UpdatedAt = d.UpdatedAt.T()
	}
	return h, true, nil
}

// Backlog counts the non-final ordered deliveries per endpoint, for the
// endpoints that have any.
func (s *Store) Backlog(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		EndpointID string `db:"endpoint_id"`
		N          int    `db:"n"`
	}
	err := s.sel(ctx, s.rdb, &rows, `SELECT endpoint_id, COUNT(*) AS n FROM deliveries
		WHERE `+openOrdered+` GROUP BY endpoint_id`)
	if err != nil {
		return nil, fmt.Errorf("backlog: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.EndpointID] = r.N
	}
	return out, nil
}

// joinLane puts a delivery at the end of its lane, in the accepting
// transaction: it takes the endpoint's next seq and says how many
// deliveries of the lane are ahead of it (from the lane's head).
func (s *Store) joinLane(ctx context.Context, tx *sqlx.Tx, endpointID, lane string) (seq, ahead int64, err error) {
	if seq, err = s.nextSeq(ctx, tx, endpointID); err != nil {
		return 0, 0, err
	}
	var head *int64
	if err := s.get(ctx, tx, &head, `SELECT MIN(seq) FROM deliveries WHERE endpoint_id = ? AND lane = ? AND `+openOrdered,
		endpointID, lane); err != nil {
		return 0, 0, fmt.Errorf("queue of %s: %w", endpointID, err)
	}
	if head != nil {
		ahead = seq - *head
	}
	return seq, ahead, nil
}

// nextSeq takes an endpoint's next sequence number.
func (s *Store) nextSeq(ctx context.Context, tx *sqlx.Tx, endpointID string) (int64, error) {
	var seq int64
	err := s.get(ctx, tx, &seq, `UPDATE endpoints SET next_seq = next_seq + 1 WHERE id = ? RETURNING next_seq`, endpointID)
	if err != nil {
		return 0, fmt.Errorf("next seq of endpoint %s: %w", endpointID, err)
	}
	return seq, nil
}

// DrainKey is the attempt key of an attempt made by a drain (an ordered
// endpoint's turn holder delivering the deliveries queued behind it). The
// delivery's own workflow adopts such an attempt when it fails.
func DrainKey(seq int64) string { return fmt.Sprintf("drain/%d", seq) }

// NextFresh is the delivery queued right behind seq at an ordered endpoint
// in its lane (the non-final one with the lowest seq above it), when no attempt was made
// for it yet; ok is false when there is none or it was already tried.
func (s *Store) NextFresh(ctx context.Context, endpointID, lane string, seq int64) (DeliveryRef, bool, error) {
	var d struct {
		deliveryRow
		Tried bool `db:"tried"`
	}
	err := s.get(ctx, s.rdb, &d, `SELECT `+deliveryCols+`, `+triedCol+` FROM deliveries d
		WHERE endpoint_id = ? AND lane = ? AND seq > ? AND `+openOrdered+` ORDER BY seq LIMIT 1`, endpointID, lane, seq)
	if isNoRows(err) {
		return DeliveryRef{}, false, nil
	}
	if err != nil {
		return DeliveryRef{}, false, fmt.Errorf("next delivery of endpoint %s after seq %d: %w", endpointID, seq, err)
	}
	return d.ref(), d.Status == schemas.DeliveryPending && !d.Tried, nil
}

// triedCol says whether an attempt was made for the delivery aliased d.
const triedCol = `EXISTS (SELECT 1 FROM attempts a WHERE a.app_id = d.app_id AND a.event_id = d.event_id
	AND a.endpoint_id = d.endpoint_id) AS tried`

// Queued is a delivery queued in an ordered lane, with its event: what a
// drain needs to make its attempt, the endpoint aside.
type Queued struct {
	Ref    DeliveryRef
	Status schemas.DeliveryStatus
	Gen    int64
	Tried  bool // an attempt was made for it already
	Event  NewEvent
}

// LaneBatch is the next deliveries queued in an ordered lane and their
// endpoint, read at once.
type LaneBatch struct {
	Queued       []Queued
	Endpoint     schemas.Endpoint
	Secrets      schemas.EndpointSecrets
	EndpointGone bool // deleted: Endpoint and Secrets are zero
}

// QueuedBehind reads up to limit deliveries queued behind seq in an ordered
// lane (the non-final ones above it, by seq), with their events, and the
// endpoint once for all of them: a drain's reads, two queries for a batch
// where one delivery at a time took three, each parsing the endpoint
// again. A delivery read here may change before its attempt begins; the
// begin checks its generation and status (BeginAttempts).
func (s *Store) QueuedBehind(ctx context.Context, appID, endpointID, lane string, seq int64, limit int) (LaneBatch, error) {
	var b LaneBatch
	r, err := s.endpointRow(ctx, s.rdb, appID, endpointID, false)
	switch {
	case schemas.IsNotFound(err):
		b.EndpointGone = true
		return b, nil
	case err != nil:
		return b, err
	}
	if b.Endpoint, b.Secrets, err = s.deliverable(r); err != nil {
		return b, err
	}
	var rows []struct {
		deliveryRow
		Tried bool `db:"tried"`
		attemptEvent
	}
	err = s.sel(ctx, s.rdb, &rows, `SELECT d.app_id, d.event_id, d.endpoint_id, d.lane, d.status, d.seq, d.gen,
		`+triedCol+`, `+attemptEventCols+`
		FROM (SELECT `+deliveryCols+` FROM deliveries
			WHERE endpoint_id = ? AND lane = ? AND seq > ? AND `+openOrdered+` ORDER BY seq LIMIT ?) AS d
		JOIN events e ON e.app_id = d.app_id AND e.id = d.event_id
		ORDER BY d.seq`, endpointID, lane, seq, limit)
	if err != nil {
		return b, fmt.Errorf("deliveries queued in lane %q of endpoint %s after seq %d: %w", lane, endpointID, seq, err)
	}
	b.Queued = make([]Queued, len(rows))
	for i, r := range rows {
		b.Queued[i] = Queued{Ref: r.ref(), Status: r.Status, Gen: r.Gen, Tried: r.Tried, Event: r.event(r.AppID, r.EventID)}
	}
	return b, nil
}

// AdoptAttempt gives the attempt recorded under fromKey to r.Key, with the
// outcome its delivery's workflow decided (r.Outcome, r.RetryIn), and sets
// the delivery's status as RecordAttempt would. found is false when no
// attempt has fromKey (already adopted, or never made).
func (s *Store) AdoptAttempt(ctx context.Context, r AttemptRecord, fromKey string) (a schemas.Attempt, eventStatus schemas.EventStatus, found bool, err error) {
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var row attemptRow
		err := s.get(ctx, tx, &row, `SELECT event_id, endpoint_id, attempt, started_at, duration_ms, response_status, error, response_body
			FROM attempts WHERE app_id = ? AND event_id = ? AND endpoint_id = ? AND attempt_key = ?`,
			r.AppID, r.EventID, r.EndpointID, fromKey)
		if isNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		found, a = true, row.attempt()
		cur, err := s.lockDelivery(ctx, tx, r.AppID, r.EventID, r.EndpointID)
		if err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `UPDATE attempts SET attempt_key = ?, outcome = ?, retry_in_ms = ?
			WHERE app_id = ? AND event_id = ? AND endpoint_id = ? AND attempt = ?`,
			r.Key, r.Outcome, r.RetryIn.Milliseconds(), r.AppID, r.EventID, r.EndpointID, row.Attempt); err != nil {
			return err
		}
		eventStatus, _, err = s.afterAttempt(ctx, tx, r, cur)
		return err
	})
	if err != nil {
		return a, "", false, fmt.Errorf("adopt attempt %s of event %s to %s: %w", fromKey, r.EventID, r.EndpointID, err)
	}
	return a, eventStatus, found, nil
}

// notDraining leaves out of an update of deliveries the holder of a lane
// whose drain is under way: its own attempt succeeded and was recorded, and
// it stays delivering only so that no other delivery of its lane goes
// before the drain ends (activities' drain). A cancel, a disable or a
// status change must not end it: its success stands (the contract: an
// attempt under way that succeeds stays a success), and ending it frees
// the lane while the drain may be POSTing the next delivery, whose own
// workflow would then take that attempt for a dead one and POST it again.
const notDraining = `NOT (deliveries.status = '` + string(schemas.DeliveryDelivering) + `' AND COALESCE((
	SELECT a.outcome FROM attempts a WHERE a.app_id = deliveries.app_id AND a.event_id = deliveries.event_id
	AND a.endpoint_id = deliveries.endpoint_id ORDER BY a.attempt DESC LIMIT 1), '') = '` + string(schemas.OutcomeSucceeded) + `')`
