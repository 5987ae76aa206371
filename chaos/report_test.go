package chaos

import (
	"fmt"
	"sort"
	"strings"
)

// report is what the checks found: violations fail the test, notes are
// figures and explained oddities.
type report struct {
	violations []string
	notes      []string
	tally      map[string]int // how much each check looked at, so a vacuous pass shows
}

func (rep *report) add(what string, n int) {
	if rep.tally == nil {
		rep.tally = map[string]int{}
	}
	rep.tally[what] += n
}

func (rep *report) violate(format string, args ...any) {
	// A broken invariant tends to break many times over: the first few say it.
	const most = 40
	if len(rep.violations) == most {
		rep.violations = append(rep.violations, "(more violations left out)")
	}
	if len(rep.violations) < most {
		rep.violations = append(rep.violations, fmt.Sprintf(format, args...))
	}
}

func (rep *report) tallyLine() string {
	names := make([]string, 0, len(rep.tally))
	for n := range rep.tally {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, rep.tally[n])
	}
	return strings.Join(parts, ", ")
}

func (rep *report) note(format string, args ...any) {
	rep.notes = append(rep.notes, fmt.Sprintf(format, args...))
}
