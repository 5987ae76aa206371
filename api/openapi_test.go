package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/herald-hq/herald/api"
)

// validateOpenAPI validates doc against the OpenAPI 3.1 specification with
// libopenapi-validator and returns what it found wrong.
func validateOpenAPI(doc []byte) []string {
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		return []string{err.Error()}
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		var out []string
		for _, e := range errs {
			out = append(out, e.Error())
		}
		return out
	}
	ok, verrs := v.ValidateDocument()
	var out []string
	for _, e := range verrs {
		out = append(out, fmt.Sprintf("%s: %s", e.Message, e.Reason))
		for _, s := range e.SchemaValidationErrors {
			out = append(out, fmt.Sprintf("  %s: %s", s.FieldPath+" "+s.KeywordLocation, s.Reason))
		}
	}
	if !ok && len(out) == 0 {
		out = append(out, "invalid, no reason given")
	}
	return out
}

// TestOpenAPIDocumentIsValid validates the served document with a real
// validator, and checks that the validator does catch a broken document.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := api.OpenAPIDocument("v1.2.3")
	if errs := validateOpenAPI(doc); len(errs) > 0 {
		t.Fatalf("the OpenAPI document is invalid:\n%s", strings.Join(errs, "\n"))
	}
	broken := map[string]func(d map[string]any){
		"no info": func(d map[string]any) { delete(d, "info") },
		"an operation's responses are a string": func(d map[string]any) {
			d["paths"].(map[string]any)["/v1/apps"].(map[string]any)["get"].(map[string]any)["responses"] = "none"
		},
		"a path parameter not required": func(d map[string]any) {
			op := d["paths"].(map[string]any)["/v1/apps/{app}"].(map[string]any)["get"].(map[string]any)
			op["parameters"].([]any)[0].(map[string]any)["required"] = false
		},
	}
	for name, breakIt := range broken {
		var d map[string]any
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatal(err)
		}
		breakIt(d)
		raw, _ := json.Marshal(d)
		if errs := validateOpenAPI(raw); len(errs) == 0 {
			t.Errorf("%s: the validator accepted a broken document", name)
		}
	}
}

type openAPIDoc struct {
	Tags     []struct{ Name, Description string }
	Paths    map[string]map[string]map[string]any
	Webhooks map[string]map[string]map[string]any
	// Components.Schemas and .Responses as raw trees.
	Components struct {
		Schemas   map[string]any
		Responses map[string]map[string]any
	}
}

func loadOpenAPI(t *testing.T) (openAPIDoc, []byte) {
	t.Helper()
	raw := api.OpenAPIDocument("")
	var d openAPIDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d, raw
}

// TestOpenAPIDescribesEverything: what makes the document fit for
// generating clients and reading docs from: stable human operationIds,
// tags, descriptions on every operation, parameter and schema property,
// errors in the contract's shape.
func TestOpenAPIDescribesEverything(t *testing.T) {
	d, _ := loadOpenAPI(t)
	tagNames := map[string]bool{}
	for _, tg := range d.Tags {
		if tg.Description == "" {
			t.Errorf("tag %s has no description", tg.Name)
		}
		tagNames[tg.Name] = true
	}
	ids := map[string]string{}
	human := regexp.MustCompile(`^[a-z]+(?:[A-Z][a-z]*)*(?:API)?$`)
	check := func(where string, o map[string]any) {
		id, _ := o["operationId"].(string)
		if !human.MatchString(id) || strings.Contains(id, "V1") {
			t.Errorf("%s: operationId %q is not a human camelCase name", where, id)
		}
		if other, dup := ids[id]; dup {
			t.Errorf("%s: operationId %q is also %s's", where, id, other)
		}
		ids[id] = where
		if s, _ := o["description"].(string); len(s) < 10 {
			t.Errorf("%s: no description", where)
		}
		if s, _ := o["summary"].(string); s == "" {
			t.Errorf("%s: no summary", where)
		}
		tg, _ := o["tags"].([]any)
		if len(tg) != 1 || !tagNames[fmt.Sprint(tg[0])] {
			t.Errorf("%s: tags %v are not one of the document's tags", where, tg)
		}
		params, _ := o["parameters"].([]any)
		for _, p := range params {
			if p, _ := p.(map[string]any); p["description"] == nil || p["description"] == "" {
				t.Errorf("%s: parameter %v has no description", where, p["name"])
			}
		}
		responses, _ := o["responses"].(map[string]any)
		if strings.HasPrefix(where, "paths ") && strings.Contains(where, "/v1/") {
			for _, code := range []string{"401", "default"} {
				if responses[code] == nil {
					t.Errorf("%s: no %s response", where, code)
				}
			}
		}
		if rb, _ := o["requestBody"].(map[string]any); rb != nil && rb["description"] == nil {
			t.Errorf("%s: request body without description", where)
		}
	}
	for path, methods := range d.Paths {
		for m, o := range methods {
			check("paths "+strings.ToUpper(m)+" "+path, o)
		}
	}
	for name, methods := range d.Webhooks {
		for m, o := range methods {
			check("webhooks "+m+" "+name, o)
		}
	}
	for _, want := range []string{"createEvent", "listEvents", "getEvent", "cancelEvent", "replayEvent", "createEndpoint", "createApp", "receiveEvent"} {
		if ids[want] == "" {
			t.Errorf("no operation %s", want)
		}
	}

	// Every schema and property is described (generated clients carry it).
	var walk func(where string, s any)
	walk = func(where string, s any) {
		m, ok := s.(map[string]any)
		if !ok {
			return
		}
		if _, isRef := m["$ref"]; !isRef && m["description"] == nil && !strings.HasSuffix(where, "]") {
			t.Errorf("schema %s has no description", where)
		}
		props, _ := m["properties"].(map[string]any)
		for name, p := range props {
			walk(where+"."+name, p)
		}
		if items, ok := m["items"].(map[string]any); ok {
			walk(where+"[]", items)
		}
	}
	for name, s := range d.Components.Schemas {
		walk(name, s)
	}

	// The error answers are the contract's shape, with an example of it.
	for name, r := range d.Components.Responses {
		content, _ := r["content"].(map[string]any)["application/json"].(map[string]any)
		if ref, _ := content["schema"].(map[string]any)["$ref"].(string); ref != "#/components/schemas/Error" {
			t.Errorf("response %s is not an Error: %v", name, content["schema"])
		}
	}
	for _, field := range []string{"code", "message", "details"} {
		errSchema := d.Components.Schemas["Error"].(map[string]any)["properties"].(map[string]any)["error"].(map[string]any)
		if errSchema["properties"].(map[string]any)[field] == nil {
			t.Errorf("Error lacks %s", field)
		}
	}
}

// TestOpenAPIExamplesMatchSchemas validates every example in the document
// (request and response bodies, schema properties, webhook body) against
// its schema, so the docs never show a body the API would refuse.
func TestOpenAPIExamplesMatchSchemas(t *testing.T) {
	d, raw := loadOpenAPI(t)
	// The component schemas as $defs of one JSON Schema resource.
	defs := strings.ReplaceAll(string(raw), "#/components/schemas/", "#/$defs/")
	var rewritten struct {
		Components struct{ Schemas map[string]any }
	}
	if err := json.Unmarshal([]byte(defs), &rewritten); err != nil {
		t.Fatal(err)
	}
	compile := func(where string, schema any) *jsonschema.Schema {
		t.Helper()
		b, _ := json.Marshal(schema)
		var s map[string]any
		_ = json.Unmarshal([]byte(strings.ReplaceAll(string(b), "#/components/schemas/", "#/$defs/")), &s)
		s["$defs"] = rewritten.Components.Schemas
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource("mem:///schema.json", s); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		sch, err := c.Compile("mem:///schema.json")
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		return sch
	}
	checked := 0
	validate := func(where string, schema, example any) {
		t.Helper()
		if err := compile(where, schema).Validate(example); err != nil {
			t.Errorf("%s: example %v does not match its schema: %v", where, example, err)
		}
		checked++
	}
	var media func(where string, content map[string]any)
	media = func(where string, content map[string]any) {
		for mt, c := range content {
			c, _ := c.(map[string]any)
			if ex, ok := c["example"]; ok {
				validate(where+" "+mt, c["schema"], ex)
			}
		}
	}
	ops := func(prefix string, paths map[string]map[string]map[string]any) {
		for path, methods := range paths {
			for m, o := range methods {
				where := prefix + " " + strings.ToUpper(m) + " " + path
				if rb, ok := o["requestBody"].(map[string]any); ok {
					media(where+" request", rb["content"].(map[string]any))
				}
				for code, r := range o["responses"].(map[string]any) {
					if c, ok := r.(map[string]any)["content"].(map[string]any); ok {
						media(where+" "+code, c)
					}
				}
				params, _ := o["parameters"].([]any)
				for _, p := range params {
					p := p.(map[string]any)
					if ex, ok := p["example"]; ok {
						validate(fmt.Sprintf("%s parameter %v", where, p["name"]), p["schema"], ex)
					}
				}
			}
		}
	}
	ops("paths", d.Paths)
	ops("webhooks", d.Webhooks)
	for name, r := range d.Components.Responses {
		media("response "+name, r["content"].(map[string]any))
	}
	// Property examples.
	var walk func(where string, s any)
	walk = func(where string, s any) {
		m, ok := s.(map[string]any)
		if !ok {
			return
		}
		if exs, ok := m["examples"].([]any); ok {
			for _, ex := range exs {
				validate(where, m, ex)
			}
		}
		props, _ := m["properties"].(map[string]any)
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walk(where+"."+k, props[k])
		}
		if items, ok := m["items"]; ok {
			walk(where+"[]", items)
		}
	}
	for name, s := range d.Components.Schemas {
		walk(name, s)
	}
	if checked < 40 {
		t.Fatalf("only %d examples checked", checked)
	}
	// And a wrong example is caught.
	if err := compile("App", map[string]any{"$ref": "#/components/schemas/AppCreate"}).Validate(map[string]any{"nom": "x"}); err == nil {
		t.Fatal("an AppCreate without name validated")
	}
}

// TestOpenAPIDescribesRealAnswers sends requests of most routes, good and
// bad, to a real server, and validates each request and answer against the
// document with libopenapi-validator: what a generated client sends is
// accepted and what it gets back has the documented shape.
func TestOpenAPIDescribesRealAnswers(t *testing.T) {
	h := newHarness(t)
	d, err := libopenapi.NewDocument(api.OpenAPIDocument("test"))
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	codes := map[string]bool{}
	call := func(want int, method, path string, body any, hdr ...string) map[string]any {
		t.Helper()
		var raw []byte
		if body != nil {
			raw, _ = json.Marshal(body)
		}
		r := h.req(method, path, raw, hdr...)
		if r.status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, want)
		}
		req, _ := http.NewRequest(method, h.url+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res := &http.Response{StatusCode: r.status, Header: r.header, Body: io.NopCloser(bytes.NewReader(r.body)), Request: req}
		if ok, verrs := v.ValidateHttpRequestResponse(req, res); !ok {
			for _, e := range verrs {
				t.Errorf("%s %s (%d): %s: %s", method, path, r.status, e.Message, e.Reason)
				for _, s := range e.SchemaValidationErrors {
					t.Errorf("    %s %s: %s", s.FieldPath, s.KeywordLocation, s.Reason)
				}
			}
		}
		codes[fmt.Sprint(r.status)] = true
		var out map[string]any
		_ = json.Unmarshal(r.body, &out)
		return out
	}
	call(201, "POST", "/v1/apps", map[string]any{"id": "acme", "name": "Acme Inc."})
	call(409, "POST", "/v1/apps", map[string]any{"id": "acme", "name": "Acme Inc."})
	call(200, "GET", "/v1/apps?limit=10", nil)
	call(200, "PATCH", "/v1/apps/acme", map[string]any{"name": "Acme Corporation"})
	call(201, "POST", "/v1/event-types", map[string]any{"name": "order.created", "description": "An order",
		"schema": map[string]any{"type": "object", "required": []string{"order"}, "properties": map[string]any{"order": map[string]any{"type": "string"}}, "examples": []any{map[string]any{"order": "o_1"}}}})
	call(200, "GET", "/v1/event-types/order.created", nil)
	call(200, "PATCH", "/v1/event-types/order.created", map[string]any{"description": "An order was placed"})
	call(200, "GET", "/v1/event-types", nil)
	ep := call(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/hook", "event_types": []string{"order.created"},
		"filter": "payload.order != ''", "headers": map[string]string{"X-Team": "orders"}})
	epID := fmt.Sprint(ep["id"])
	call(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/other", "signature_type": "ed25519", "ordered": false})
	call(200, "GET", "/v1/apps/acme/endpoints", nil)
	call(200, "GET", "/v1/apps/acme/endpoints/"+epID, nil)
	call(200, "PATCH", "/v1/apps/acme/endpoints/"+epID, map[string]any{"rate_limit_per_second": 10, "filter": nil})
	call(200, "GET", "/v1/apps/acme/endpoints/"+epID+"/secret", nil)
	call(200, "POST", "/v1/apps/acme/endpoints/"+epID+"/secret/rotate", nil)
	call(200, "GET", "/v1/apps/acme/endpoints/"+epID+"/stats", nil)
	call(202, "POST", "/v1/apps/acme/endpoints/"+epID+"/test", nil)
	call(202, "POST", "/v1/apps/acme/endpoints/"+epID+"/recover", map[string]any{"since": "2026-01-01T00:00:00Z"})
	call(202, "POST", "/v1/apps/acme/events", map[string]any{"id": "ord_1", "event_type": "order.created", "payload": map[string]any{"order": "o_1"}, "ordering_key": "c-42"})
	call(200, "POST", "/v1/apps/acme/events", map[string]any{"event_type": "order.created", "payload": map[string]any{"order": "o_1"}}, "Idempotency-Key", "ord_1")
	call(422, "POST", "/v1/apps/acme/events", map[string]any{"event_type": "order.created", "payload": map[string]any{"total": 1}})
	call(422, "POST", "/v1/apps/acme/events", map[string]any{"event_type": "nope", "payload": 1})
	call(404, "POST", "/v1/apps/nope/events", map[string]any{"event_type": "order.created", "payload": map[string]any{"order": "o_1"}})
	call(200, "GET", "/v1/apps/acme/events?status=pending&limit=5", nil)
	call(200, "GET", "/v1/apps/acme/events/ord_1", nil)
	call(202, "POST", "/v1/apps/acme/events/ord_1/cancel", nil)
	call(202, "POST", "/v1/apps/acme/events/ord_1/replay", map[string]any{"endpoint_id": epID})
	call(404, "GET", "/v1/apps/acme/events/nope", nil)
	link := call(201, "POST", "/v1/apps/acme/portal-links", map[string]any{"expires_in": 600, "read_only": true})
	call(200, "GET", "/v1/apps/acme/portal-links/self", nil, "Authorization", "Bearer "+fmt.Sprint(link["token"]))
	call(403, "DELETE", "/v1/apps/acme", nil, "Authorization", "Bearer "+fmt.Sprint(link["token"]))
	call(401, "GET", "/v1/apps", nil, "Authorization", "Bearer wrong")
	call(204, "DELETE", "/v1/apps/acme/endpoints/"+epID, nil)
	call(204, "DELETE", "/v1/event-types/order.created", nil)
	call(204, "DELETE", "/v1/apps/acme", nil)
	call(200, "GET", "/healthz", nil)
	call(200, "GET", "/readyz", nil)
	call(200, "GET", "/metrics", nil)
	call(200, "GET", "/openapi.json", nil)
	call(200, "GET", "/docs", nil)
	for _, c := range []string{"200", "201", "202", "204", "401", "403", "404", "409", "422"} {
		if !codes[c] {
			t.Errorf("no answer %s was checked", c)
		}
	}
	// And an answer off the document is caught.
	req, _ := http.NewRequest("GET", h.url+"/v1/apps/acme", nil)
	res := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"id": 5, "name": "Acme"}`)), Request: req}
	if ok, _ := v.ValidateHttpResponse(req, res); ok {
		t.Fatal("an App without created_at and with a numeric id validated")
	}
}
