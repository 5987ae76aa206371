package api_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// contractRoutes reads the routes docs/api.md promises: the first cell of
// each route table (`GET /v1/apps/{app}` · `PATCH` · `DELETE`, with
// `.../endpoints/{ep}` short for /v1/apps/{app}/endpoints/{ep}), and the
// operations routes named in prose (`GET /healthz`).
func contractRoutes(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	span := regexp.MustCompile("`([^`]+)`")
	route := regexp.MustCompile(`^([A-Z]+(?:/[A-Z]+)*)(?: (\S+))?$`)
	routes := map[string]bool{}
	inTable := false
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case strings.HasPrefix(line, "| route |"):
			inTable = true
			continue
		case !strings.HasPrefix(line, "|"):
			inTable = false
		}
		text := line
		if inTable {
			text = strings.SplitN(strings.TrimPrefix(line, "|"), "|", 2)[0]
		}
		last := ""
		for _, m := range span.FindAllStringSubmatch(text, -1) {
			r := route.FindStringSubmatch(m[1])
			if r == nil || (!inTable && r[2] == "") {
				continue
			}
			path := r[2]
			switch {
			case path == "":
				path = last
			case strings.HasPrefix(path, "..."):
				path = "/v1/apps/{app}" + strings.TrimPrefix(path, "...")
			}
			if !strings.HasPrefix(path, "/") {
				continue
			}
			last = path
			for _, method := range strings.Split(r[1], "/") {
				routes[method+" "+normalisePath(path)] = true
			}
		}
	}
	return routes
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// normalisePath forgets parameter names: {app} and {app_id} are one path.
func normalisePath(p string) string { return pathParam.ReplaceAllString(p, "{}") }

// TestContractRoutesAreInOpenAPI keeps docs/api.md and the OpenAPI document
// in step: every route the contract promises is documented and served.
func TestContractRoutesAreInOpenAPI(t *testing.T) {
	h := newHarness(t)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	r := h.req("GET", "/openapi.json", nil, "Authorization", "")
	if err := json.Unmarshal(r.body, &doc); err != nil || r.status != 200 {
		t.Fatalf("openapi.json: %d %v", r.status, err)
	}
	documented := map[string]bool{}
	for path, methods := range doc.Paths {
		for m := range methods {
			documented[strings.ToUpper(m)+" "+normalisePath(path)] = true
		}
	}
	contract := contractRoutes(t)
	if len(contract) < 30 {
		t.Fatalf("read only %d routes from docs/api.md: %v", len(contract), contract)
	}
	for rt := range contract {
		if !documented[rt] {
			t.Errorf("docs/api.md promises %s; the OpenAPI document does not have it", rt)
		}
	}
}
