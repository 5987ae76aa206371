package schemas

import (
	"embed"
	"fmt"
	"io/fs"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// Migrations returns the goose SQL migrations of a dialect ("postgres" or
// "sqlite"), with the numbered .sql files at the root of the returned FS.
func Migrations(dialect string) (fs.FS, error) {
	switch dialect {
	case "postgres", "sqlite":
		return fs.Sub(migrationFiles, "migrations/"+dialect)
	default:
		return nil, fmt.Errorf("no migrations for dialect %q", dialect)
	}
}
