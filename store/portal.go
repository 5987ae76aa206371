package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/herald-hq/herald/schemas"
)

// PortalToken is what a portal link's token grants: one app, maybe only
// reads, until it expires.
type PortalToken struct {
	AppID     string    `db:"app_id"`
	ReadOnly  bool      `db:"read_only"`
	ExpiresAt time.Time `db:"-"`
}

// portalTokenHash is what the store keeps of a token. Tokens are 256 random
// bits, so a plain SHA-256 cannot be reversed by guessing; a database dump
// or backup does not hand out working tokens.
func portalTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreatePortalToken stores a token's hash for app, and drops the tokens that
// have expired (so the table does not grow with every link made).
func (s *Store) CreatePortalToken(ctx context.Context, token string, t PortalToken, now time.Time) error {
	if _, err := s.exec(ctx, s.db, `DELETE FROM portal_tokens WHERE expires_at < ?`, ts(now)); err != nil {
		return fmt.Errorf("drop expired portal tokens: %w", err)
	}
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.keepApp(ctx, tx, t.AppID); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, `INSERT INTO portal_tokens (token_hash, app_id, read_only, expires_at, created_at)
			VALUES (?, ?, ?, ?, ?)`, portalTokenHash(token), t.AppID, t.ReadOnly, ts(t.ExpiresAt), ts(now)); err != nil {
			return fmt.Errorf("create portal token for app %s: %w", t.AppID, err)
		}
		return nil
	})
}

// GetPortalToken finds a token by its hash; portal_token_not_found (not
// found) when there is none, which includes every token of a deleted app.
// Expiry is the caller's to judge.
func (s *Store) GetPortalToken(ctx context.Context, token string) (PortalToken, error) {
	var r struct {
		PortalToken
		Expires dbTime `db:"expires_at"`
	}
	err := s.get(ctx, s.rdb, &r, `SELECT app_id, read_only, expires_at FROM portal_tokens WHERE token_hash = ?`,
		portalTokenHash(token))
	if isNoRows(err) {
		return PortalToken{}, schemas.E(schemas.KindNotFound, "portal_token_not_found", "unknown portal token")
	}
	if err != nil {
		return PortalToken{}, fmt.Errorf("load portal token: %w", err)
	}
	r.PortalToken.ExpiresAt = r.Expires.T()
	return r.PortalToken, nil
}
