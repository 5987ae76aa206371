package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/herald-hq/herald/seal"
	"github.com/herald-hq/herald/store"
)

// devKeyFile is where `herald dev` keeps its encryption key, in the data dir.
const devKeyFile = "encryption-key"

// devKeys is the keyring `herald dev` runs with: HERALD_ENCRYPTION_KEYS when
// set, with the data dir's key (if any) after them so values sealed before
// the variable was set still open; otherwise the data dir's key, made on
// first use.
func devKeys(cfg Config) (string, error) {
	path := filepath.Join(cfg.DataDir, devKeyFile)
	if cfg.EncryptionKeys == "" {
		return seal.KeyFile(path)
	}
	if _, err := os.Stat(path); err != nil {
		return cfg.EncryptionKeys, nil
	}
	fileKey, err := seal.KeyFile(path)
	if err != nil {
		return "", err
	}
	return cfg.EncryptionKeys + "," + fileKey, nil
}

// sealOption makes the store seal secrets with cfg's keys. Without keys
// (only `herald api` and `herald worker` can get here) secrets are stored
// in plain text, with a warning at every start: setting the keys later and
// running `herald rekey` seals what is there.
func sealOption(cfg Config, logger *slog.Logger) ([]store.Option, error) {
	if cfg.EncryptionKeys == "" {
		logger.Warn("HERALD_ENCRYPTION_KEYS is not set: endpoint secrets are stored unencrypted")
		return nil, nil
	}
	kr, err := seal.ParseKeys(cfg.EncryptionKeys)
	if err != nil {
		return nil, fmt.Errorf("HERALD_ENCRYPTION_KEYS: %w", err)
	}
	return []store.Option{store.WithSealer(kr)}, nil
}

type rekeyCmd struct{}

// Run seals every stored secret again with the first key. Against the
// `herald dev` database (HERALD_DATABASE_URL unset) it uses the data dir's
// key as `herald dev` does.
func (rekeyCmd) Run(e *env) error {
	m := modeMigrate
	if e.getenv("HERALD_DATABASE_URL") == "" {
		m = modeDev
	}
	cfg, err := loadConfig(e.getenv, m)
	if err != nil {
		return err
	}
	dsn := cfg.DatabaseURL
	if m == modeDev {
		dsn = "sqlite:" + filepath.Join(cfg.DataDir, "herald.db")
		if _, err := os.Stat(strings.TrimPrefix(dsn, "sqlite:")); err != nil {
			return fmt.Errorf("no herald dev database in %s (set HERALD_DATA_DIR or HERALD_DATABASE_URL): %w", cfg.DataDir, err)
		}
		if cfg.EncryptionKeys, err = devKeys(cfg); err != nil {
			return err
		}
	}
	if cfg.EncryptionKeys == "" {
		return errors.New("HERALD_ENCRYPTION_KEYS is required: the new key first, then the keys in use")
	}
	kr, err := seal.ParseKeys(cfg.EncryptionKeys)
	if err != nil {
		return fmt.Errorf("HERALD_ENCRYPTION_KEYS: %w", err)
	}
	st, err := openStore(e.ctx, dsn, store.WithSealer(kr))
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.Rekey(e.ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "re-encrypted the secrets of %d endpoints with key %s\n", n, kr.SealingKeyID())
	return err
}
