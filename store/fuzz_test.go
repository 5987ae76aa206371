package store

import (
	"testing"
	"time"
)

// FuzzDecodeCursor: any cursor string: no panic; an accepted cursor has a
// time both databases hold, a key, and encodes back to what it decodes to.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), "app_01"))
	f.Add("LTkyMjMzNzIwMzY4NTQ3NzU4MDh8eA") // -9223372036854775808|x
	f.Add("")
	f.Add("!!!")
	f.Add(encodeCursor(maxTime, "|"))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil || c == nil {
			return
		}
		if c.at.Before(minTime) || c.at.After(maxTime) || c.key == "" {
			t.Fatalf("accepted cursor %q: %v %q", s, c.at, c.key)
		}
		again, err := decodeCursor(encodeCursor(c.at, c.key))
		if err != nil || !again.at.Equal(c.at) || again.key != c.key {
			t.Fatalf("cursor %q does not survive a round trip: %v %v", s, again, err)
		}
	})
}
