package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The production build (-tags nodev, as the Dockerfile builds it) links
// neither the embedded Temporal server nor its Web UI.
func TestProductionBuildHasNoEmbeddedServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "nodev", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list printed %d packages", len(deps))
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "go.temporal.io/server") || strings.HasPrefix(d, "github.com/temporalio/ui-server") ||
			d == "github.com/herald-hq/herald/devserver" {
			t.Errorf("production build depends on %s", d)
		}
	}
}
