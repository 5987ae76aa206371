package routing

import (
	"encoding/json"
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
)

// Kind is what an expression is for: a filter or a transform.
type Kind string

// Kinds of expressions, as the endpoint fields are named.
const (
	Filter    Kind = "filter"
	Transform Kind = "transform"
)

// Limits on expressions. The cost limit bounds the work of one evaluation
// (about one unit per operation and per list element or string byte
// visited), so no expression can stall acceptance or an attempt.
const (
	MaxExpressionBytes = 4096
	CostLimit          = 100_000
	maxRecursion       = 64
)

// Schema is an event type's JSON Schema, which types `payload`. Raw is nil
// when the event type has none, and the Schema itself is nil when the
// endpoint takes every event type: `payload` is then dyn.
type Schema struct {
	EventType string
	Raw       json.RawMessage
}

// Issue is one compile or type error, at a 1-based line and column (in
// characters) of the expression.
type Issue struct {
	Message string `json:"message"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
}

// CheckError says why an expression was refused. It is the `details` of the
// API's invalid_filter and invalid_transform answers.
type CheckError struct {
	Field     Kind    `json:"field"`
	EventType string  `json:"event_type,omitempty"` // the event type whose schema it was checked against
	Issues    []Issue `json:"errors"`
}

func (e *CheckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", e.Field)
	if e.EventType != "" {
		fmt.Fprintf(&b, " (checked against event type %s)", e.EventType)
	}
	for i, is := range e.Issues {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%d:%d: %s", sep, is.Line, is.Column, is.Message)
	}
	return b.String()
}

// compiled is a program ready to evaluate, with what it needs to bind
// `payload`.
type compiled struct {
	prg     cel.Program
	payload *shape
}

// baseEnv is the environment every expression starts from: the standard
// library, the strings, encoders, math, lists and two-variable comprehension
// extensions, omit, optional values, backtick-quoted field
// names (for properties like `first-name`), and mixed int/double comparisons
// (JSON numbers without a schema are doubles).
func baseEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.Strings(), ext.Encoders(), ext.Math(), ext.Lists(), ext.TwoVarComprehensions(),
		cel.OptionalTypes(), omitFunction(),
		cel.EnableIdentifierEscapeSyntax(), cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.ParserExpressionSizeLimit(MaxExpressionBytes), cel.ParserRecursionLimit(maxRecursion),
	)
}

// compile parses and type-checks expr as a kind of expression against a
// schema, and plans it. Refusals are *CheckError.
func compile(base *cel.Env, kind Kind, expr string, sch *Schema) (*compiled, error) {
	refuse := func(issues ...Issue) error {
		e := &CheckError{Field: kind, Issues: issues}
		if sch != nil {
			e.EventType = sch.EventType
		}
		return e
	}
	if len(expr) > MaxExpressionBytes {
		return nil, refuse(Issue{Message: fmt.Sprintf("longer than %d bytes", MaxExpressionBytes), Line: 1, Column: 1})
	}
	payload, objects := dyn, map[string]*object{}
	if sch != nil {
		var err error
		if payload, objects, err = mapSchema(sch.EventType, sch.Raw); err != nil {
			return nil, fmt.Errorf("%s of event type %s: %w", kind, sch.EventType, err)
		}
	}
	opts := []cel.EnvOption{
		cel.CustomTypeProvider(&provider{Provider: base.CELTypeProvider(), objects: objects}),
		cel.Variable("event_type", cel.StringType),
		cel.Variable("payload", payload.typ),
	}
	if kind == Transform {
		opts = append(opts, cel.Variable("event_id", cel.StringType))
	}
	env, err := base.Extend(opts...)
	if err != nil {
		return nil, fmt.Errorf("%s environment: %w", kind, err)
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		issues := make([]Issue, 0, len(iss.Errors()))
		for _, e := range iss.Errors() {
			issues = append(issues, issueAt(e.Location, e.Message))
		}
		return nil, refuse(issues...)
	}
	if issues := checkResult(kind, ast); len(issues) > 0 {
		return nil, refuse(issues...)
	}
	if issues := checkEnums(ast.NativeRep(), objects); len(issues) > 0 {
		return nil, refuse(issues...)
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(1000))
	if err != nil {
		return nil, refuse(Issue{Message: err.Error(), Line: 1, Column: 1})
	}
	return &compiled{prg: prg, payload: payload}, nil
}

func issueAt(loc common.Location, msg string) Issue {
	if loc == nil || loc.Line() < 1 {
		return Issue{Message: msg, Line: 1, Column: 1}
	}
	return Issue{Message: msg, Line: loc.Line(), Column: loc.Column() + 1}
}

// checkResult checks what the expression yields: a filter a bool, a
// transform a map whose literal keys, if it is a map literal, are body and
// headers.
func checkResult(kind Kind, ast *cel.Ast) []Issue {
	out := ast.OutputType()
	native := ast.NativeRep()
	at := func(id int64, msg string) Issue {
		return issueAt(native.SourceInfo().GetStartLocation(id), msg)
	}
	root := native.Expr()
	if out.Kind() == types.DynKind {
		return nil // known only when it runs
	}
	if kind == Filter {
		if out.Kind() != types.BoolKind {
			return []Issue{at(root.ID(), fmt.Sprintf("a filter must be a bool, not %s", out))}
		}
		return nil
	}
	if out.Kind() != types.MapKind || out.Parameters()[0].Kind() != types.StringKind {
		return []Issue{at(root.ID(), fmt.Sprintf(`a transform must be a map such as {"body": ..., "headers": {...}}, not %s`, out))}
	}
	if root.Kind() != celast.MapKind {
		return nil
	}
	var issues []Issue
	for _, entry := range root.AsMap().Entries() {
		key := entry.AsMapEntry().Key()
		if key.Kind() != celast.LiteralKind {
			continue
		}
		name, ok := key.AsLiteral().Value().(string)
		if ok && name != "body" && name != "headers" {
			issues = append(issues, at(key.ID(), fmt.Sprintf(`a transform yields "body" and "headers" only, not %q`, name)))
		}
		if !ok || name != "headers" {
			continue
		}
		headers := entry.AsMapEntry().Value()
		ht := native.GetType(headers.ID())
		if !types.NewMapType(types.StringType, types.StringType).IsAssignableType(ht) {
			issues = append(issues, at(headers.ID(), fmt.Sprintf("headers must be a map(string, string), not %s", ht)))
		}
		if headers.Kind() == celast.MapKind {
			issues = append(issues, checkLiteralHeaders(headers, at)...)
		}
	}
	return issues
}

// checkLiteralHeaders refuses, when the transform is saved, the headers of
// a literal map that every attempt would refuse when it runs (a name Herald
// sets itself, a name or value that is not valid).
func checkLiteralHeaders(headers celast.Expr, at func(int64, string) Issue) []Issue {
	var issues []Issue
	for _, h := range headers.AsMap().Entries() {
		key, val := h.AsMapEntry().Key(), h.AsMapEntry().Value()
		if key.Kind() != celast.LiteralKind {
			continue
		}
		name, ok := key.AsLiteral().Value().(string)
		if !ok {
			continue
		}
		value := ""
		if val.Kind() == celast.LiteralKind {
			value, _ = val.AsLiteral().Value().(string)
		}
		if err := CheckHeader(name, value); err != nil {
			issues = append(issues, at(key.ID(), "headers: "+err.Error()))
		}
	}
	return issues
}
