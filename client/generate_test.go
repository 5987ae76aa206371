package client_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/herald-hq/herald/api"
)

// TestClientIsCurrent fails when the committed client is stale: when
// openapi.json is not the document the API serves, or when oapi-codegen
// makes another client.gen.go from it. `go generate ./client` mends both.
func TestClientIsCurrent(t *testing.T) {
	var served, committed any
	if err := json.Unmarshal(api.OpenAPIDocument("v1"), &served); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &committed); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(served, committed) {
		t.Fatal("client/openapi.json is not the API's OpenAPI document: run go generate ./client")
	}

	// The same settings, writing elsewhere.
	dir := t.TempDir()
	config, err := os.ReadFile("oapi-codegen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "client.gen.go")
	config = bytes.Replace(config, []byte("output: client.gen.go"), []byte("output: "+out), 1)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "tool", "oapi-codegen", "-config", filepath.Join(dir, "config.yaml"), "openapi.json")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, msg)
	}
	fresh, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	current, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, current) {
		t.Fatal("client/client.gen.go is not what oapi-codegen makes of openapi.json: run go generate ./client")
	}
}
