package devserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/config"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives/timestamp"
	sqliteschema "go.temporal.io/server/schema/sqlite"
)

// ensureSchema makes sure path is a SQLite file holding Temporal's schema.
//
// The schema is written to a side file that is renamed into place only once it
// is complete, so a process killed during the first start leaves no half-made
// database behind: path either does not exist or is whole. An existing file is
// reused as is, which is what keeps workflows across restarts.
func ensureSchema(path string) error {
	if _, err := os.Stat(path); err == nil {
		return restrict(path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking database file: %w", err)
	}

	tmp := path + ".setup"
	if err := removeDB(tmp); err != nil {
		return fmt.Errorf("removing leftover of an interrupted setup: %w", err)
	}
	// SQLite gives its journals the mode of the database file: made 0600
	// here, the file and every journal stay readable by the owner only.
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	// The default rollback journal is used for the setup, so that after
	// closing, the side file is the whole database (no -wal file to carry).
	cfg := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      tmp,
		ConnectAttributes: map[string]string{"mode": "rwc"},
	}
	if err := sqliteschema.SetupSchema(cfg); err != nil {
		_ = removeDB(tmp)
		return fmt.Errorf("setting up the Temporal schema in %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("moving the new database into place: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// visibilityPath is the SQLite file for Temporal's visibility store, or ""
// to keep visibility in DBFile: when the tuning says so, or for a data dir
// made before visibility had a file of its own (its listing is in DBFile).
func visibilityPath(dataDir string, t tuning) (string, error) {
	if !t.separateVisibility {
		return "", nil
	}
	vis := filepath.Join(dataDir, VisibilityFile)
	if _, err := os.Stat(vis); err == nil {
		return vis, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("checking visibility file: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, DBFile)); err == nil {
		return "", nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("checking database file: %w", err)
	}
	return vis, nil
}

// ensureNamespace registers namespace in the database unless it exists.
// Doing it before the server starts (rather than through the API after) means
// the namespace is in the server's cache from its first request. The search
// attributes are mapped to visibility columns at creation; Start adds any that
// are missing from an older namespace through the operator API.
func ensureNamespace(cfg *config.SQL, namespace string, retention time.Duration, attrs map[string]enumspb.IndexedValueType) error {
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, namespace, false, attrs)
	if err != nil {
		return fmt.Errorf("describing namespace %q: %w", namespace, err)
	}
	ns.Detail.Config.Retention = timestamp.DurationPtr(retention)
	if err := sqliteschema.CreateNamespaces(cfg, ns); err != nil {
		return fmt.Errorf("creating namespace %q: %w", namespace, err)
	}
	return nil
}

// restrict makes a SQLite file and its journals, if present, readable by
// the owner only (data dirs from older versions have them 0644).
func restrict(path string) error {
	for _, p := range []string{path, path + "-journal", path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restricting %s: %w", p, err)
		}
	}
	return nil
}

// removeDB removes a SQLite file and its journals, if present.
func removeDB(path string) error {
	for _, p := range []string{path, path + "-journal", path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// syncDir flushes a directory entry change (the rename) to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening data dir to sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing data dir: %w", err)
	}
	return nil
}
