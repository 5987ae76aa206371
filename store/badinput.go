package store

import (
	"errors"
	"time"

	"github.com/lib/pq"

	"github.com/herald-hq/herald/schemas"
)

// The range of times both databases hold: Postgres has no year 0 and
// SQLite compares the fixed-width text of timeLayout, which has four
// digits of year. Times outside are clamped when written or compared (no
// stored time lies outside, so a comparison keeps its meaning).
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

func clampTime(t time.Time) time.Time {
	switch {
	case t.Before(minTime):
		return minTime
	case t.After(maxTime):
		return maxTime
	}
	return t
}

// badInput turns a database's refusal of a value (Postgres class 22, "data
// exception": a NUL byte or invalid UTF-8 in text, a number out of range,
// a time out of range) into invalid_input (400): it is the request's value
// that is wrong, not the server. Everything else passes unchanged. The API
// checks the values it knows of first, with their own codes; this is the
// net under them, so that no bad value is ever a 500.
func badInput(err error) error {
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code.Class() == "22" {
		return &schemas.Error{Kind: schemas.KindBadRequest, Code: "invalid_input",
			Message: "a value in the request cannot be stored or searched for: " + pe.Message, Err: err}
	}
	return err
}
