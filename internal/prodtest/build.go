// Package prodtest runs Herald in its production shape for tests: a
// Temporal server built from go.temporal.io/server (the version in go.mod)
// as its own process on Postgres persistence, Herald's store on Postgres,
// `herald migrate`, one `herald api` and any number of `herald worker`s,
// each its own process. It takes the steps docker-compose.yml takes, in
// the same order, so that the compose file copies a tested sequence:
//
//  1. create Temporal's two databases and set up their schemas with
//     Temporal's SQL tool (create, setup-schema -v 0.0, update-schema);
//  2. start the Temporal server on them;
//  3. create the namespace, then add Herald's search attributes through the
//     operator service, retrying until the server takes them;
//  4. `herald migrate` on Herald's own database;
//  5. `herald api` and the `herald worker`s.
//
// Everything it starts is stopped, and every database it made dropped, by
// Shape.Stop.
package prodtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// Binaries are Temporal's server and SQL schema tool, built from the
// module version Herald requires, and that version's Postgres schemas.
type Binaries struct {
	Version   string // of go.temporal.io/server
	Server    string // path of the temporal-server executable
	SQLTool   string // path of the temporal-sql-tool executable
	SchemaDir string // the module's schema/postgresql/v12
}

const (
	serverPkg  = "go.temporal.io/server/cmd/server"
	sqlToolPkg = "go.temporal.io/server/cmd/tools/sql"
)

// CacheDir is where built binaries are kept between runs, outside the
// repository: the user's cache dir (HERALD_PRODTEST_CACHE overrides it).
func CacheDir() (string, error) {
	if d := os.Getenv("HERALD_PRODTEST_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("user cache dir: %w", err)
	}
	return filepath.Join(d, "herald-prodtest"), nil
}

// Cached reports whether the binaries for the required server version are
// built already (so a test can tell a fast run from a cold build).
func Cached(ctx context.Context) bool {
	b, err := locate(ctx)
	if err != nil {
		return false
	}
	return exists(b.Server) && exists(b.SQLTool)
}

// Build returns the binaries, building those missing into the cache. A
// cold build of the server takes many minutes; a lock on the cache dir
// keeps concurrent test binaries from building the same thing twice.
func Build(ctx context.Context, logf func(string, ...any)) (Binaries, error) {
	b, err := locate(ctx)
	if err != nil {
		return Binaries{}, err
	}
	if exists(b.Server) && exists(b.SQLTool) {
		return b, nil
	}
	dir := filepath.Dir(b.Server)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("create cache dir: %w", err)
	}
	lock := flock.New(filepath.Join(dir, "build.lock"))
	if _, err := lock.TryLockContext(ctx, time.Second); err != nil {
		return Binaries{}, fmt.Errorf("lock %s: %w", dir, err)
	}
	defer lock.Unlock()
	root, err := moduleRoot(ctx)
	if err != nil {
		return Binaries{}, err
	}
	for _, target := range []struct{ out, pkg string }{{b.Server, serverPkg}, {b.SQLTool, sqlToolPkg}} {
		if exists(target.out) {
			continue
		}
		logf("prodtest: building %s@%s into %s (a cold build takes minutes)", target.pkg, b.Version, target.out)
		start := time.Now()
		tmp := target.out + ".tmp"
		cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, target.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %w\n%s", target.pkg, err, out)
		}
		if err := os.Rename(tmp, target.out); err != nil {
			return Binaries{}, fmt.Errorf("install %s: %w", target.out, err)
		}
		logf("prodtest: built %s in %s", filepath.Base(target.out), time.Since(start).Round(time.Second))
	}
	return b, nil
}

// locate asks the go command which server version the module requires and
// where its source is, and names the cached binaries after that version.
func locate(ctx context.Context) (Binaries, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return Binaries{}, err
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}|{{.Dir}}", "go.temporal.io/server")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return Binaries{}, fmt.Errorf("go list -m go.temporal.io/server: %w", exitDetail(err))
	}
	version, modDir, ok := strings.Cut(strings.TrimSpace(string(out)), "|")
	if !ok || version == "" {
		return Binaries{}, fmt.Errorf("go list -m go.temporal.io/server printed %q", out)
	}
	if modDir == "" {
		// Not downloaded yet: the build below downloads it.
		dl := exec.CommandContext(ctx, "go", "mod", "download", "go.temporal.io/server")
		dl.Dir = root
		if out, err := dl.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go mod download go.temporal.io/server: %w\n%s", err, out)
		}
		return locate(ctx)
	}
	cache, err := CacheDir()
	if err != nil {
		return Binaries{}, err
	}
	dir := filepath.Join(cache, version)
	return Binaries{
		Version:   version,
		Server:    filepath.Join(dir, "temporal-server"),
		SQLTool:   filepath.Join(dir, "temporal-sql-tool"),
		SchemaDir: filepath.Join(modDir, "schema", "postgresql", "v12"),
	}, nil
}

// moduleRoot is the directory of Herald's go.mod, from wherever the test
// runs inside the module.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", exitDetail(err))
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("prodtest: not inside Herald's module")
	}
	return filepath.Dir(gomod), nil
}

func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

func exitDetail(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}
