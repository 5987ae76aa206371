package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/herald-hq/herald/schemas"
)

// Sealer encrypts secrets before they are written and decrypts them after
// they are read (seal.Keyring). context binds a sealed value to its row.
type Sealer interface {
	Seal(plain, context string) (string, error)
	Open(value, context string) (string, error)
}

// Option configures a Store at Open.
type Option func(*Store)

// WithSealer makes the store seal endpoint secrets (signing keys, auth
// secrets) at rest. Without it they are stored as given; values sealed
// earlier still need it to be read.
func WithSealer(s Sealer) Option {
	return func(st *Store) { st.sealer = s }
}

// plainSealer stores secrets as given, and refuses sealed values it cannot
// open rather than hand ciphertext on as a key.
type plainSealer struct{}

func (plainSealer) Seal(plain, _ string) (string, error) { return plain, nil }

func (plainSealer) Open(value, _ string) (string, error) {
	if strings.HasPrefix(value, "hsv1.") {
		return "", errors.New("the value is encrypted and HERALD_ENCRYPTION_KEYS is not set")
	}
	return value, nil
}

// endpointSealContext binds an endpoint's sealed values to the endpoint:
// a value copied into another endpoint's row does not open. The row id (not
// the column) is bound so that rotating moves secret_key to previous_key
// in SQL without reading it.
func endpointSealContext(id string) string { return "endpoint:" + id }

func (s *Store) sealFor(id string, plain ...*string) error {
	for _, p := range plain {
		v, err := s.sealer.Seal(*p, endpointSealContext(id))
		if err != nil {
			return fmt.Errorf("seal secret of endpoint %s: %w", id, err)
		}
		*p = v
	}
	return nil
}

func (s *Store) openFor(id string, sealed ...*string) error {
	for _, p := range sealed {
		v, err := s.sealer.Open(*p, endpointSealContext(id))
		if err != nil {
			return fmt.Errorf("open secret of endpoint %s: %w", id, err)
		}
		*p = v
	}
	return nil
}

// privateFile makes sure the SQLite file at path exists with mode 0600
// before SQLite opens it: SQLite gives its -wal and -shm files the mode of
// the database file, so this keeps all three readable by the owner only.
// Files from older versions are tightened.
func privateFile(path string) error {
	if path == "" || strings.Contains(path, ":memory:") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file %s: %w", path, err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restrict database file %s: %w", p, err)
		}
	}
	return nil
}

// openAuth puts the row's opened auth secret into auth (nil: no auth).
func (s *Store) openAuth(r endpointRow, auth *schemas.EndpointAuth) error {
	if auth == nil {
		return nil
	}
	secret := r.AuthSecret
	if err := s.openFor(r.ID, &secret); err != nil {
		return err
	}
	auth.SetSecret(secret)
	return nil
}
