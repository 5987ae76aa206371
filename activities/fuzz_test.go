package activities

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseRetryAfter: any header value: no panic, never a negative wait,
// never more than a year.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-1", " 5 ", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999", "1e9", "Sun, 06 Nov 1994 08:49:37 GMT", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if !ok {
			return
		}
		if d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %s, a negative wait", v, d)
		}
		if _, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && d > 365*24*time.Hour {
			t.Fatalf("parseRetryAfter(%q) = %s, more than a year", v, d)
		}
	})
}
