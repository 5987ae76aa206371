// Command prebuild builds Temporal's server and SQL tool for the
// production-shape tests into the user's cache dir, so that the tests
// themselves start at once. .ci/run calls it before `go test`; a warm cache
// makes it a no-op.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/herald-hq/herald/internal/prodtest"
)

func main() {
	b, err := prodtest.Build(context.Background(), func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "prebuild:", err)
		os.Exit(1)
	}
	fmt.Printf("Temporal %s: %s, %s\n", b.Version, b.Server, b.SQLTool)
}
