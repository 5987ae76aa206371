package store

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/herald-hq/herald/schemas"
)

// Page asks for one page of a list. Limit is validated by the API (1..250);
// Cursor is opaque, "" for the first page.
type Page struct {
	Limit  int
	Cursor string
}

const defaultLimit = 50

func (p Page) limit() int {
	if p.Limit <= 0 {
		return defaultLimit
	}
	return p.Limit
}

// cursor is the sort key of the last row of a page: lists go newest first,
// by (created_at, key) descending.
type cursor struct {
	at  time.Time
	key string
}

func encodeCursor(at time.Time, key string) string {
	raw := strconv.FormatInt(at.UTC().UnixMicro(), 10) + "|" + key
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := schemas.E(schemas.KindBadRequest, "invalid_cursor", "the cursor is not one this server made")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	micros, key, ok := strings.Cut(string(raw), "|")
	if !ok || key == "" {
		return nil, bad
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil || n < minTime.UnixMicro() || n > maxTime.UnixMicro() {
		return nil, bad
	}
	return &cursor{at: time.UnixMicro(n).UTC(), key: key}, nil
}

// after adds the keyset condition "older than the cursor" on the given
// columns to where/args.
func (c *cursor) after(atCol, keyCol string, where []string, args []any) ([]string, []any) {
	if c == nil {
		return where, args
	}
	where = append(where, "("+atCol+" < ? OR ("+atCol+" = ? AND "+keyCol+" < ?))")
	return where, append(args, ts(c.at), ts(c.at), c.key)
}

// pageOf trims rows fetched with limit+1 to the page and returns the next
// cursor, "" when there is no more.
func pageOf[T any](rows []T, limit int, key func(T) (time.Time, string)) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	at, k := key(rows[limit-1])
	return rows, encodeCursor(at, k)
}

func whereClause(where []string) string {
	if len(where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(where, " AND ")
}
