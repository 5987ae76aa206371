package seal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// KeyFile returns the key kept in the file at path, making one (mode 0600)
// on first use. `herald dev` keeps its key there when HERALD_ENCRYPTION_KEYS
// is unset. A file with looser permissions is tightened: it is the one
// thing that turns the database's sealed values back into secrets.
func KeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		key := strings.TrimSpace(string(b))
		if _, err := decodeKey(key); err != nil {
			return "", fmt.Errorf("encryption key file %s: %w", path, err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("encryption key file %s: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read encryption key file %s: %w", path, err)
	}
	key, err := NewKey()
	if err != nil {
		return "", err
	}
	// O_EXCL: two processes starting on one data dir must not each write
	// their own key; the loser reads the winner's.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return KeyFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("write encryption key file %s: %w", path, err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("write encryption key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("write encryption key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write encryption key file %s: %w", path, err)
	}
	return key, nil
}
