package store

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/lib/pq"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Unreachable reports whether err says the database could not be reached,
// went away during the call, or refused work for a while (restarting,
// shutting down, out of connections or disk, busy): a dependency that is
// down, which the API answers with 503 and workflows retry, and not a
// fault of the request or of Herald.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	var (
		ne net.Error
		pe *pq.Error
		se *sqlite.Error
	)
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &ne):
		return true
	case errors.As(err, &pe):
		return unreachableCode(pe.Code)
	case errors.As(err, &se):
		switch se.Code() & 0xff { // the primary code, without its extension
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
			return true
		}
	}
	return false
}

// unreachableCode says whether a Postgres error code means the server
// cannot do work for now: class 08 (connection exception), 53 (insufficient
// resources: too many connections, disk or memory full), or 57P0x (the
// server shutting down or starting up).
func unreachableCode(c pq.ErrorCode) bool {
	return c.Class() == "08" || c.Class() == "53" || strings.HasPrefix(string(c), "57P0")
}
