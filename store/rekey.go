package store

import (
	"context"
	"errors"
	"fmt"
)

// Rekeyer is a Sealer that tells values sealed with its sealing key from
// others (seal.Keyring).
type Rekeyer interface {
	Sealer
	Current(value string) bool
}

// Rekey seals again, with the sealer's first key, every endpoint secret
// sealed with another key or not sealed at all, and returns how many
// endpoints it changed. Each row is rewritten only if its secrets did not
// change meanwhile (a rotation racing the rekey wins; run it again).
func (s *Store) Rekey(ctx context.Context) (int, error) {
	rk, ok := s.sealer.(Rekeyer)
	if !ok {
		return 0, errors.New("rekey: no encryption keys configured")
	}
	var rows []struct {
		ID          string `db:"id"`
		SecretKey   string `db:"secret_key"`
		PreviousKey string `db:"previous_key"`
		AuthSecret  string `db:"auth_secret"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT id, secret_key, previous_key, auth_secret FROM endpoints`); err != nil {
		return 0, fmt.Errorf("rekey: list endpoints: %w", err)
	}
	n := 0
	for _, r := range rows {
		if rk.Current(r.SecretKey) && rk.Current(r.PreviousKey) && rk.Current(r.AuthSecret) {
			continue
		}
		vals := []string{r.SecretKey, r.PreviousKey, r.AuthSecret}
		for i := range vals {
			if err := s.openFor(r.ID, &vals[i]); err != nil {
				return n, fmt.Errorf("rekey: %w", err)
			}
			if err := s.sealFor(r.ID, &vals[i]); err != nil {
				return n, fmt.Errorf("rekey: %w", err)
			}
		}
		done, err := s.exec(ctx, s.db, `UPDATE endpoints SET secret_key = ?, previous_key = ?, auth_secret = ?
			WHERE id = ? AND secret_key = ? AND previous_key = ? AND auth_secret = ?`,
			vals[0], vals[1], vals[2], r.ID, r.SecretKey, r.PreviousKey, r.AuthSecret)
		if err != nil {
			return n, fmt.Errorf("rekey endpoint %s: %w", r.ID, err)
		}
		n += int(done)
	}
	return n, nil
}
