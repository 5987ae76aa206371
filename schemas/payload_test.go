package schemas_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/herald-hq/herald/schemas"
)

const orderSchema = `{
	"type": "object",
	"required": ["id", "amount"],
	"properties": {
		"id": {"type": "string"},
		"amount": {"type": "number", "minimum": 0},
		"items": {"type": "array", "items": {"type": "object", "required": ["sku"]}}
	}
}`

func TestCompileAndValidate(t *testing.T) {
	s, err := schemas.CompileSchema(json.RawMessage(orderSchema))
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.Validate(json.RawMessage(`{"id": "o1", "amount": 3.5, "items": [{"sku": "a"}]}`)); errs != nil {
		t.Fatalf("valid payload: %v", errs)
	}
	errs := s.Validate(json.RawMessage(`{"amount": -1, "items": [{"sku": "a"}, {}]}`))
	got := map[string]string{}
	for _, e := range errs {
		got[e.Path] = e.Message
	}
	for _, path := range []string{"", "/amount", "/items/1"} {
		if got[path] == "" {
			t.Errorf("no error at %q in %+v", path, errs)
		}
	}
	if !strings.Contains(got[""], "id") {
		t.Errorf("root error %q does not name the missing property", got[""])
	}
	if errs := s.Validate(json.RawMessage(`"a string"`)); len(errs) != 1 || errs[0].Path != "" {
		t.Errorf("string payload: %+v", errs)
	}
}

func TestPointerEscapes(t *testing.T) {
	s, err := schemas.CompileSchema(json.RawMessage(`{"properties": {"a/b~c": {"type": "integer"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	errs := s.Validate(json.RawMessage(`{"a/b~c": "x"}`))
	if len(errs) != 1 || errs[0].Path != "/a~1b~0c" {
		t.Fatalf("errs = %+v", errs)
	}
}

func TestDraft2020Default(t *testing.T) {
	// prefixItems exists only from draft 2020-12 on.
	s, err := schemas.CompileSchema(json.RawMessage(`{"prefixItems": [{"type": "string"}], "items": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.Validate(json.RawMessage(`["a", 1]`)); len(errs) == 0 {
		t.Fatal("items:false after prefixItems accepted an extra item")
	}
	if errs := s.Validate(json.RawMessage(`[1]`)); len(errs) == 0 {
		t.Fatal("prefixItems not applied")
	}
}

func TestCompileErrors(t *testing.T) {
	for name, raw := range map[string]string{
		"not json":       `{`,
		"not an object":  `[1]`,
		"bad keyword":    `{"type": "nonsense"}`,
		"bad minimum":    `{"minimum": "x"}`,
		"bad pattern":    `{"pattern": "("}`,
		"remote ref":     `{"$ref": "https://example.com/schema.json"}`,
		"file ref":       `{"$ref": "file:///etc/passwd"}`,
		"unknown anchor": `{"$ref": "#/$defs/missing"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := schemas.CompileSchema(json.RawMessage(raw))
			var e *schemas.Error
			if err == nil {
				t.Fatal("compiled")
			}
			if !asError(err, &e) || e.Kind != schemas.KindInvalid || e.Code != "invalid_schema" || e.Message == "" {
				t.Fatalf("err = %#v", err)
			}
			if strings.Contains(e.Message, "urn:herald") {
				t.Errorf("message leaks the internal url: %s", e.Message)
			}
		})
	}
}

func TestLocalRefs(t *testing.T) {
	s, err := schemas.CompileSchema(json.RawMessage(`{"$defs": {"pos": {"type": "integer", "minimum": 1}},
		"properties": {"n": {"$ref": "#/$defs/pos"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if errs := s.Validate(json.RawMessage(`{"n": 0}`)); len(errs) != 1 || errs[0].Path != "/n" {
		t.Fatalf("errs = %+v", errs)
	}
}

func asError(err error, target **schemas.Error) bool {
	e, ok := err.(*schemas.Error)
	*target = e
	return ok
}
