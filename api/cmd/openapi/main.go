// Command openapi writes Herald's OpenAPI document (what /openapi.json
// serves), indented, to the file named by its argument, so that the client
// package is generated from it without a running server (client/doc.go).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/herald-hq/herald/api"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: openapi FILE")
		os.Exit(2)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, api.OpenAPIDocument("v1"), "", "  "); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
	out.WriteByte('\n')
	if err := os.WriteFile(os.Args[1], out.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "openapi:", err)
		os.Exit(1)
	}
}
