package schemas

import (
	"regexp"
	"strings"
	"testing"
)

func TestIDPattern(t *testing.T) {
	re := regexp.MustCompile(IDPattern)
	for _, ok := range []string{"a", "app_1", "order.created", "...", ".a", "..a", "a..", "-", "_", strings.Repeat("a", 128), "." + strings.Repeat("a", 127), ".." + strings.Repeat("a", 126)} {
		if !re.MatchString(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", "é", "a\x00", strings.Repeat("a", 129), "." + strings.Repeat("a", 128), ".." + strings.Repeat("a", 127)} {
		if re.MatchString(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
