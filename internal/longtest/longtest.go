// Package longtest marks the tests of the long suite: the production shape
// (a Temporal server built from source and run as processes), the chaos run,
// the headless browser and the broker kill tests. Each takes minutes, so
// `go test ./...` skips them unless HERALD_TEST_LONG=1 asks for them;
// .ci/run does.
package longtest

import (
	"os"
	"testing"
)

// Var is the environment variable that turns the long suite on.
const Var = "HERALD_TEST_LONG"

// Enabled says whether the long suite was asked for.
func Enabled() bool { return os.Getenv(Var) == "1" && !testing.Short() }

// Require skips t unless the long suite was asked for; what names the test's
// kind in the skip message.
func Require(t testing.TB, what string) {
	t.Helper()
	if !Enabled() {
		t.Skipf("%s is in the long suite: set %s=1 to run it (.ci/run does)", what, Var)
	}
}
