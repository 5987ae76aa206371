package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"
)

// lockFile is the file in the data dir that `herald dev` holds a lock on
// while it runs. Two servers on one SQLite file would fight over
// Temporal's shard; the lock makes the second one stop and say who holds it.
const lockFile = "herald.lock"

// lockDataDir takes the data dir's lock and writes this process's pid into
// the lock file. The lock is the operating system's, so it goes away with
// the process, even after kill -9.
func lockDataDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, lockFile)
	l := flock.New(path)
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("HERALD_DATA_DIR: lock %s: %w", path, err)
	}
	if !ok {
		holder := "another process"
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				holder = fmt.Sprintf("process %d", pid)
			}
		}
		return nil, fmt.Errorf("HERALD_DATA_DIR: %s is in use by %s (another herald dev); stop it or set another HERALD_DATA_DIR", dir, holder)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		_ = l.Unlock()
		return nil, fmt.Errorf("HERALD_DATA_DIR: write %s: %w", path, err)
	}
	return func() { _ = l.Unlock() }, nil
}
