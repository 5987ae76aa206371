package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/schemas"
)

// endpointRow is an endpoints row; event_types and headers are JSON text.
type endpointRow struct {
	ID                 string  `db:"id"`
	AppID              string  `db:"app_id"`
	URL                string  `db:"url"`
	Description        string  `db:"description"`
	EventTypes         string  `db:"event_types"`
	Ordered            bool    `db:"ordered"`
	RateLimitPerSecond int     `db:"rate_limit_per_second"`
	Headers            string  `db:"headers"`
	Disabled           bool    `db:"disabled"`
	DisabledReason     string  `db:"disabled_reason"`
	DisabledAt         *dbTime `db:"disabled_at"`
	SignatureType      string  `db:"signature_type"`
	SecretKey          string  `db:"secret_key"`
	PreviousKey        string  `db:"previous_key"`
	PreviousExpiresAt  *dbTime `db:"previous_expires_at"`
	Auth               string  `db:"auth"`        // public part, JSON; '' when none
	AuthSecret         string  `db:"auth_secret"` // sealed
	CAPEM              string  `db:"ca_pem"`
	CreatedAt          dbTime  `db:"created_at"`
	UpdatedAt          dbTime  `db:"updated_at"`
	FilterExpr         string  `db:"filter_expr"`
	TransformExpr      string  `db:"transform_expr"`
}

const endpointCols = `id, app_id, url, description, event_types, ordered, rate_limit_per_second, headers,
	disabled, disabled_reason, disabled_at, signature_type, secret_key, previous_key, previous_expires_at,
	created_at, updated_at, filter_expr, transform_expr, auth, auth_secret, ca_pem`

func (r endpointRow) endpoint() (schemas.Endpoint, error) {
	e := schemas.Endpoint{
		ID: r.ID, AppID: r.AppID, URL: r.URL, Description: r.Description, Ordered: r.Ordered,
		RateLimitPerSecond: r.RateLimitPerSecond, Disabled: r.Disabled, DisabledReason: r.DisabledReason,
		DisabledAt: ptr(r.DisabledAt), SignatureType: r.SignatureType, CAPEM: r.CAPEM,
		CreatedAt: r.CreatedAt.T(), UpdatedAt: r.UpdatedAt.T(),
		EventTypes: []string{}, Headers: map[string]string{},
		Filter: r.FilterExpr, Transform: r.TransformExpr,
	}
	if err := json.Unmarshal([]byte(r.EventTypes), &e.EventTypes); err != nil {
		return e, fmt.Errorf("endpoint %s event_types: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Headers), &e.Headers); err != nil {
		return e, fmt.Errorf("endpoint %s headers: %w", r.ID, err)
	}
	if r.Auth != "" {
		e.Auth = new(schemas.EndpointAuth)
		if err := json.Unmarshal([]byte(r.Auth), e.Auth); err != nil {
			return e, fmt.Errorf("endpoint %s auth: %w", r.ID, err)
		}
	}
	if e.EventTypes == nil {
		e.EventTypes = []string{}
	}
	if e.Headers == nil {
		e.Headers = map[string]string{}
	}
	return e, nil
}

// secrets opens the row's signing keys.
func (s *Store) secrets(r endpointRow) (schemas.EndpointSecrets, error) {
	sec := schemas.EndpointSecrets{Key: r.SecretKey, PreviousKey: r.PreviousKey,
		PreviousExpiresAt: ptr(r.PreviousExpiresAt)}
	err := s.openFor(r.ID, &sec.Key, &sec.PreviousKey)
	return sec, err
}

// deliverable is what an attempt needs of the row: the endpoint with its
// auth secret opened, and its signing keys.
func (s *Store) deliverable(r endpointRow) (schemas.Endpoint, schemas.EndpointSecrets, error) {
	e, err := r.endpoint()
	if err != nil {
		return e, schemas.EndpointSecrets{}, err
	}
	sec, err := s.secrets(r)
	if err != nil {
		return e, sec, err
	}
	return e, sec, s.openAuth(r, e.Auth)
}

// authArgs encodes an endpoint's auth for its columns: the public part as
// JSON and the secret sealed.
func (s *Store) authArgs(e schemas.Endpoint) (auth, secret string, err error) {
	if e.Auth == nil {
		return "", "", nil
	}
	b, err := json.Marshal(e.Auth) // the secret does not encode
	if err != nil {
		return "", "", fmt.Errorf("endpoint %s auth: %w", e.ID, err)
	}
	secret = e.Auth.Secret()
	if err := s.sealFor(e.ID, &secret); err != nil {
		return "", "", err
	}
	return string(b), secret, nil
}

// jsonArgs encodes an endpoint's event types and headers for their columns.
func jsonArgs(e schemas.Endpoint) (eventTypes, headers string, err error) {
	types := e.EventTypes
	if types == nil {
		types = []string{}
	}
	h := e.Headers
	if h == nil {
		h = map[string]string{}
	}
	tb, err := json.Marshal(types)
	if err != nil {
		return "", "", err
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return "", "", err
	}
	return string(tb), string(hb), nil
}

func endpointNotFound(appID, id string) error {
	return schemas.Errorf(schemas.KindNotFound, "endpoint_not_found", "endpoint %q of app %q does not exist", id, appID)
}

// CreateEndpoint stores a new endpoint and its secrets; app_not_found when
// the app is missing, endpoint_exists when the id is taken.
func (s *Store) CreateEndpoint(ctx context.Context, e schemas.Endpoint, sec schemas.EndpointSecrets) error {
	types, headers, err := jsonArgs(e)
	if err != nil {
		return fmt.Errorf("create endpoint %s: %w", e.ID, err)
	}
	updated := e.UpdatedAt
	if updated.IsZero() {
		updated = e.CreatedAt
	}
	sig := e.SignatureType
	if sig == "" {
		sig = schemas.SignatureHMAC
	}
	if e.Disabled && e.DisabledAt == nil {
		e.DisabledAt = &e.CreatedAt
	}
	auth, authSecret, err := s.authArgs(e)
	if err != nil {
		return err
	}
	if err := s.sealFor(e.ID, &sec.Key, &sec.PreviousKey); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.keepApp(ctx, tx, e.AppID); err != nil {
			return err
		}
		n, err := s.exec(ctx, tx, `INSERT INTO endpoints (`+endpointCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			e.ID, e.AppID, e.URL, e.Description, types, e.Ordered, e.RateLimitPerSecond, headers,
			e.Disabled, e.DisabledReason, nts(e.DisabledAt), sig, sec.Key, sec.PreviousKey,
			nts(sec.PreviousExpiresAt), ts(e.CreatedAt), ts(updated), e.Filter, e.Transform, auth, authSecret, e.CAPEM)
		if err != nil {
			return fmt.Errorf("create endpoint %s: %w", e.ID, err)
		}
		if n == 0 {
			return schemas.Errorf(schemas.KindConflict, "endpoint_exists", "endpoint %q already exists", e.ID)
		}
		return nil
	})
}

func (s *Store) endpointRow(ctx context.Context, db querier, appID, id string, lock bool) (endpointRow, error) {
	var r endpointRow
	q := `SELECT ` + endpointCols + ` FROM endpoints WHERE app_id = ? AND id = ?`
	if lock {
		q += s.forUpdate()
	}
	err := s.get(ctx, db, &r, q, appID, id)
	if isNoRows(err) {
		return r, endpointNotFound(appID, id)
	}
	if err != nil {
		return r, fmt.Errorf("load endpoint %s: %w", id, err)
	}
	return r, nil
}

// GetEndpoint loads an endpoint of an app.
func (s *Store) GetEndpoint(ctx context.Context, appID, id string) (schemas.Endpoint, error) {
	r, err := s.endpointRow(ctx, s.rdb, appID, id, false)
	if err != nil {
		return schemas.Endpoint{}, err
	}
	return r.endpoint()
}

// ListEndpoints lists an app's endpoints, newest first. An unknown app has
// none.
func (s *Store) ListEndpoints(ctx context.Context, appID string, p Page) ([]schemas.Endpoint, string, error) {
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	where, args := c.after("created_at", "id", []string{"app_id = ?"}, []any{appID})
	var rows []endpointRow
	err = s.sel(ctx, s.rdb, &rows, `SELECT `+endpointCols+` FROM endpoints`+whereClause(where)+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, append(args, p.limit()+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list endpoints of %s: %w", appID, err)
	}
	rows, next := pageOf(rows, p.limit(), func(r endpointRow) (time.Time, string) { return r.CreatedAt.T(), r.ID })
	out := make([]schemas.Endpoint, len(rows))
	for i, r := range rows {
		if out[i], err = r.endpoint(); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// UpdateEndpoint replaces an endpoint's mutable fields (disabled_at defaults
// to when it got disabled when e leaves it nil). An auth without its secret
// keeps the stored secret when the auth type is unchanged. When it goes from
// enabled to disabled, its non-final deliveries become cancelled in the same
// transaction; when it is enabled again its failure streak is forgotten.
func (s *Store) UpdateEndpoint(ctx context.Context, e schemas.Endpoint) (schemas.Endpoint, error) {
	types, headers, err := jsonArgs(e)
	if err != nil {
		return schemas.Endpoint{}, fmt.Errorf("update endpoint %s: %w", e.ID, err)
	}
	updated := e.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	auth, authSecret, err := s.authArgs(e)
	if err != nil {
		return schemas.Endpoint{}, err
	}
	var out schemas.Endpoint
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		old, err := s.endpointRow(ctx, tx, e.AppID, e.ID, true)
		if err != nil {
			return err
		}
		if e.Disabled && e.DisabledAt == nil {
			e.DisabledAt = ptr(old.DisabledAt) // still disabled since then
			if !old.Disabled {
				e.DisabledAt = &updated
			}
		}
		if e.Auth != nil && authSecret == "" && old.Auth != "" {
			var was schemas.EndpointAuth
			if json.Unmarshal([]byte(old.Auth), &was) == nil && was.Type == e.Auth.Type {
				authSecret = old.AuthSecret
			}
		}
		clearFailing := ""
		if old.Disabled && !e.Disabled {
			clearFailing = ", failing_since = NULL"
		}
		var r endpointRow
		err = s.get(ctx, tx, &r, `UPDATE endpoints SET url = ?, description = ?, event_types = ?, ordered = ?,
			rate_limit_per_second = ?, headers = ?, disabled = ?, disabled_reason = ?, disabled_at = ?,
			updated_at = ?, filter_expr = ?, transform_expr = ?, auth = ?, auth_secret = ?, ca_pem = ?`+clearFailing+`
			WHERE app_id = ? AND id = ? RETURNING `+endpointCols,
			e.URL, e.Description, types, e.Ordered, e.RateLimitPerSecond, headers, e.Disabled,
			e.DisabledReason, nts(e.DisabledAt), ts(updated), e.Filter, e.Transform, auth, authSecret, e.CAPEM, e.AppID, e.ID)
		if err != nil {
			return fmt.Errorf("update endpoint %s: %w", e.ID, err)
		}
		if !old.Disabled && e.Disabled {
			if err := s.cancelEndpointDeliveries(ctx, tx, e.ID, updated); err != nil {
				return err
			}
		}
		out, err = r.endpoint()
		return err
	})
	return out, err
}

// DeleteEndpoint deletes an endpoint; its non-final deliveries become
// cancelled in the same transaction. Its delivery history stays.
func (s *Store) DeleteEndpoint(ctx context.Context, appID, id string, now time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := s.endpointRow(ctx, tx, appID, id, true); err != nil {
			return err
		}
		if err := s.cancelEndpointDeliveries(ctx, tx, id, now); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM endpoints WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete endpoint %s: %w", id, err)
		}
		return nil
	})
}

// GetEndpointSecrets loads the keys that sign deliveries to an endpoint.
func (s *Store) GetEndpointSecrets(ctx context.Context, appID, id string) (schemas.EndpointSecrets, error) {
	r, err := s.endpointRow(ctx, s.rdb, appID, id, false)
	if err != nil {
		return schemas.EndpointSecrets{}, err
	}
	return s.secrets(r)
}

// RotateEndpointSecret makes newKey the endpoint's key; the current key
// becomes the previous one, signing beside it until overlapUntil.
func (s *Store) RotateEndpointSecret(ctx context.Context, appID, id, newKey string, overlapUntil time.Time) error {
	if err := s.sealFor(id, &newKey); err != nil {
		return err
	}
	n, err := s.exec(ctx, s.db, `UPDATE endpoints SET previous_key = secret_key, previous_expires_at = ?,
		secret_key = ?, updated_at = ? WHERE app_id = ? AND id = ?`,
		ts(overlapUntil), newKey, ts(time.Now()), appID, id)
	if err != nil {
		return fmt.Errorf("rotate secret of endpoint %s: %w", id, err)
	}
	if n == 0 {
		return endpointNotFound(appID, id)
	}
	return nil
}

// DisableEndpoint disables an endpoint with a reason and cancels its
// non-final deliveries, in one transaction.
func (s *Store) DisableEndpoint(ctx context.Context, appID, id, reason string, at time.Time) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		return s.disable(ctx, tx, appID, id, reason, at)
	})
}

func (s *Store) disable(ctx context.Context, tx *sqlx.Tx, appID, id, reason string, at time.Time) error {
	n, err := s.exec(ctx, tx, `UPDATE endpoints SET disabled = ?, disabled_reason = ?, disabled_at = ?, updated_at = ?
		WHERE app_id = ? AND id = ?`, true, reason, ts(at), ts(at), appID, id)
	if err != nil {
		return fmt.Errorf("disable endpoint %s: %w", id, err)
	}
	if n == 0 {
		return endpointNotFound(appID, id)
	}
	return s.cancelEndpointDeliveries(ctx, tx, id, at)
}

// cancelEndpointDeliveries makes every non-final delivery to an endpoint
// (but a lane's holder whose drain is under way, see notDraining) cancelled
// and recomputes the status of the events they belong to.
func (s *Store) cancelEndpointDeliveries(ctx context.Context, tx *sqlx.Tx, endpointID string, now time.Time) error {
	// Lock the events first, in one order, as every status change does (see lockEvent).
	var locked []struct {
		AppID string `db:"app_id"`
		ID    string `db:"id"`
	}
	if err := s.sel(ctx, tx, &locked, `SELECT app_id, id FROM events WHERE EXISTS (SELECT 1 FROM deliveries d
		WHERE d.app_id = events.app_id AND d.event_id = events.id AND d.endpoint_id = ? AND d.status IN (?, ?))
		ORDER BY app_id, id`+s.forUpdate(), endpointID, schemas.DeliveryPending, schemas.DeliveryDelivering); err != nil {
		return fmt.Errorf("cancel deliveries to %s: lock events: %w", endpointID, err)
	}
	if len(locked) == 0 {
		return nil
	}
	n, err := s.exec(ctx, tx, `UPDATE deliveries SET status = ?, finished_at = ?, next_attempt_at = NULL, updated_at = ?
		WHERE endpoint_id = ? AND status IN (?, ?) AND `+notDraining, schemas.DeliveryCancelled, ts(now), ts(now),
		endpointID, schemas.DeliveryPending, schemas.DeliveryDelivering)
	if err != nil {
		return fmt.Errorf("cancel deliveries to %s: %w", endpointID, err)
	}
	if n == 0 {
		return nil
	}
	// Only the events locked above: every pending event with a delivery
	// to the endpoint, the final ones too, locked those others in no order,
	// and deadlocked beside an app's deletion or another endpoint's
	// disable (seen in the production-shape chaos run).
	for len(locked) > 0 {
		chunk := locked[:min(len(locked), maxInList)]
		locked = locked[len(chunk):]
		ids := make([]string, len(chunk))
		for i, e := range chunk {
			ids[i] = e.ID
		}
		q, args, err := sqlx.In(`UPDATE events SET status = `+eventStatusExpr+`
			WHERE app_id = ? AND id IN (?) AND status = ?`, chunk[0].AppID, ids, schemas.EventPending)
		if err != nil {
			return fmt.Errorf("cancel deliveries to %s: event status: %w", endpointID, err)
		}
		if _, err := s.exec(ctx, tx, q, args...); err != nil {
			return fmt.Errorf("cancel deliveries to %s: event status: %w", endpointID, err)
		}
	}
	return nil
}

// maxInList bounds the values of one IN list, under SQLite's limit on a
// statement's parameters.
const maxInList = 1000
