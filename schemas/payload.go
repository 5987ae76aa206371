package schemas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// schemaURL is where a payload schema is registered inside its compiler. It
// names nothing real: the compiler never loads any URL.
const schemaURL = "urn:herald:payload-schema"

// PayloadSchema is a compiled JSON Schema (draft 2020-12 unless the schema's
// $schema says otherwise) that event payloads of one type must satisfy.
// Each validation runs on a compiled copy of its own, so that it can count
// its own work (see budget); copies are compiled when needed and kept.
type PayloadSchema struct {
	doc  []byte // the schema as sent, to compile more copies from
	mu   sync.Mutex
	free []*compiled
}

// compiled is one compiled copy of a schema with the budget its
// evaluations draw on.
type compiled struct {
	sch    *jsonschema.Schema
	budget *budget
}

const maxFreeCopies = 8

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

func invalidSchema(msg string, err error) *Error {
	return &Error{Kind: KindInvalid, Code: "invalid_schema", Message: "the schema is invalid: " + msg, Err: err}
}

// CompileSchema compiles a JSON Schema. Errors are invalid_schema (422) with
// the compiler's message; a schema over MaxSchemaBytes, nested past
// MaxSchemaDepth or with a number out of bounds is refused before any
// compiling.
func CompileSchema(raw json.RawMessage) (*PayloadSchema, error) {
	if len(raw) > MaxSchemaBytes {
		return nil, invalidSchema(fmt.Sprintf("it is larger than %d bytes", MaxSchemaBytes), nil)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Code: "invalid_schema",
			Message: "the schema is not valid JSON: " + err.Error(), Err: err}
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, E(KindInvalid, "invalid_schema", "the schema must be a JSON object")
	}
	if _, err := checkDoc(doc, MaxSchemaDepth); err != nil {
		return nil, invalidSchema(err.Error(), err)
	}
	p := &PayloadSchema{doc: bytes.Clone(raw)}
	c, err := compileDoc(doc)
	if err != nil {
		return nil, err
	}
	p.free = append(p.free, c)
	return p, nil
}

// compileDoc compiles one copy, every subschema of it charged to one budget.
func compileDoc(doc any) (*compiled, error) {
	b := &budget{}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	c.RegisterVocabulary(b.vocabulary())
	c.AssertVocabs()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, invalidSchema(err.Error(), err)
	}
	sch, err := c.Compile(schemaURL)
	if err != nil {
		return nil, invalidSchema(compileMessage(err), err)
	}
	return &compiled{sch: sch, budget: b}, nil
}

// take returns a copy for one validation's exclusive use.
func (p *PayloadSchema) take() (*compiled, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(p.doc))
	if err != nil {
		return nil, fmt.Errorf("schema compiled before no longer parses: %w", err)
	}
	return compileDoc(doc)
}

func (p *PayloadSchema) put(c *compiled) {
	p.mu.Lock()
	if len(p.free) < maxFreeCopies {
		p.free = append(p.free, c)
	}
	p.mu.Unlock()
}

// Validate checks a payload; it returns nil when the payload satisfies the
// schema, else one SchemaError per failing leaf keyword, in the library's
// order. Work past the budget is a SchemaError too.
func (p *PayloadSchema) Validate(payload json.RawMessage) []SchemaError {
	err := p.Check(context.Background(), payload)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if errs, ok := e.Details.([]SchemaError); ok {
			return errs
		}
		return []SchemaError{{Path: "", Message: e.Message}}
	}
	return []SchemaError{{Path: "", Message: err.Error()}}
}

// Check validates a payload: nil when it satisfies the schema; else
// schema_validation_failed (422) with the SchemaErrors in Details, or
// payload_too_costly (422) when a number is out of bounds or validation
// takes more than ValidationBudget evaluations, or ctx's error when ctx
// ends first (the client left, the server is shutting down).
func (p *PayloadSchema) Check(ctx context.Context, payload json.RawMessage) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return schemaFailed([]SchemaError{{Path: "", Message: "the payload is not valid JSON: " + err.Error()}})
	}
	values, err := checkDoc(v, 0)
	if err != nil {
		return &Error{Kind: KindInvalid, Code: "payload_too_costly",
			Message: "the payload cannot be validated against its schema within Herald's limits: " + err.Error(), Err: err}
	}
	c, err := p.take()
	if err != nil {
		return err
	}
	limit := ValidationBudget + BudgetPerValue*values
	verr, err := c.budget.run(ctx, limit, func() error { return c.sch.Validate(v) })
	// A copy whose run was cut short is dropped: the library may have left
	// it mid-way.
	if err == nil {
		p.put(c)
	}
	switch {
	case errors.Is(err, errOverBudget):
		return &Error{Kind: KindInvalid, Code: "payload_too_costly", Err: err, Message: fmt.Sprintf(
			"validating the payload against its schema took more than %d evaluations; simplify the schema or the payload", limit)}
	case err != nil:
		return fmt.Errorf("validate payload: %w", err)
	case verr == nil:
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(verr, &ve) {
		return schemaFailed([]SchemaError{{Path: "", Message: verr.Error()}})
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
	walk(ve)
	return schemaFailed(out)
}

func schemaFailed(errs []SchemaError) error {
	return &Error{Kind: KindInvalid, Code: "schema_validation_failed",
		Message: "the payload does not satisfy its event type's schema", Details: errs}
}

// compileMessage keeps the compiler's message but drops the internal URL the
// schema is registered under.
func compileMessage(err error) string {
	msg := strings.ReplaceAll(err.Error(), schemaURL, "schema")
	return strings.Join(strings.Fields(msg), " ")
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
