package store

import (
	"database/sql/driver"
	"fmt"
	"time"
)

// timeLayout is how times are written to the database: UTC, microseconds,
// fixed width, so SQLite TEXT columns compare and sort as the times do, and
// Postgres reads it as a timestamptz.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// dbTime is a time as stored: written in timeLayout, read from a time.Time
// (Postgres) or text (SQLite).
type dbTime time.Time

func ts(t time.Time) dbTime { return dbTime(t.UTC().Truncate(time.Microsecond)) }

// nts is a nullable time argument.
func nts(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

func (t dbTime) Value() (driver.Value, error) {
	return clampTime(time.Time(t).UTC()).Format(timeLayout), nil
}

func (t *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*t = ts(v)
		return nil
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	default:
		return fmt.Errorf("cannot scan %T into a time", src)
	}
}

func (t *dbTime) parse(s string) error {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// modernc may hand back its own format for typed columns.
		v, err = time.Parse("2006-01-02 15:04:05.999999999-07:00", s)
		if err != nil {
			return fmt.Errorf("parse time %q: %w", s, err)
		}
	}
	*t = ts(v)
	return nil
}

// T is the time in UTC.
func (t dbTime) T() time.Time { return time.Time(t) }

// ptr is a nullable scanned time as a *time.Time.
func ptr(t *dbTime) *time.Time {
	if t == nil {
		return nil
	}
	v := t.T()
	return &v
}
