package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaURL is where a payload schema is registered inside its compiler. It
// names nothing real: the compiler never loads any URL.
const schemaURL = "urn:herald:payload-schema"

// PayloadSchema is a compiled JSON Schema (draft 2020-12 unless the schema's
// $schema says otherwise) that event payloads of one type must satisfy.
type PayloadSchema struct {
	schema *jsonschema.Schema
}

// SchemaError is one way a payload fails its schema: Path is a JSON pointer
// into the payload ("" for the payload itself).
type SchemaError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// noLoader refuses every URL, so a $ref to a file or to the network is a
// compile error instead of a read or a fetch. The standard meta-schemas are
// embedded in the library and need no loader.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("remote references are not allowed (%s)", url)
}

// CompileSchema compiles a JSON Schema. Errors are invalid_schema (422) with
// the compiler's message.
func CompileSchema(raw json.RawMessage) (*PayloadSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Code: "invalid_schema",
			Message: "the schema is not valid JSON: " + err.Error(), Err: err}
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, E(KindInvalid, "invalid_schema", "the schema must be a JSON object")
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, &Error{Kind: KindInvalid, Code: "invalid_schema", Message: "the schema is invalid: " + err.Error(), Err: err}
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Code: "invalid_schema",
			Message: "the schema is invalid: " + compileMessage(err), Err: err}
	}
	return &PayloadSchema{schema: sch}, nil
}

// compileMessage keeps the compiler's message but drops the internal URL the
// schema is registered under.
func compileMessage(err error) string {
	msg := strings.ReplaceAll(err.Error(), schemaURL, "schema")
	return strings.Join(strings.Fields(msg), " ")
}

// Validate checks a payload; it returns nil when the payload satisfies the
// schema, else one SchemaError per failing leaf keyword, in the library's order.
func (p *PayloadSchema) Validate(payload json.RawMessage) []SchemaError {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return []SchemaError{{Path: "", Message: "the payload is not valid JSON: " + err.Error()}}
	}
	err = p.schema.Validate(v)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return []SchemaError{{Path: "", Message: err.Error()}}
	}
	printer := message.NewPrinter(language.English)
	var out []SchemaError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, SchemaError{Path: pointer(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(verr)
	return out
}

// pointer makes a JSON pointer (RFC 6901) of path tokens.
func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		sb.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return sb.String()
}
