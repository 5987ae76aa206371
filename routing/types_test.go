package routing

import (
	"errors"
	"strings"
	"testing"

	"cel.dev/cel-go/common/types"
)

const orderSchema = `{
	"type": "object",
	"required": ["id", "total", "status", "customer", "items"],
	"properties": {
		"id": {"type": "string"},
		"total": {"type": "number"},
		"count": {"type": "integer"},
		"paid": {"type": "boolean"},
		"status": {"enum": ["new", "paid", "shipped"]},
		"priority": {"type": "integer", "enum": [1, 2, 3]},
		"note": {"type": ["string", "null"]},
		"customer": {
			"type": "object",
			"required": ["email"],
			"properties": {
				"email": {"type": "string"},
				"address": {"$ref": "#/$defs/address"}
			}
		},
		"items": {"type": "array", "items": {
			"type": "object",
			"properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}
		}},
		"tags": {"type": "array", "items": {"type": "string"}},
		"scores": {"type": "array", "items": {"type": "integer"}},
		"attributes": {"type": "object", "additionalProperties": {"type": "integer"}},
		"extra": {"type": "object"},
		"either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
		"any": {"anyOf": [{"type": "string"}]},
		"free": {},
		"self": {"$ref": "#"}
	},
	"$defs": {
		"address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}}}
	}
}`

func TestMapSchemaTypes(t *testing.T) {
	root, objects, err := mapSchema("order.created", []byte(orderSchema))
	if err != nil {
		t.Fatal(err)
	}
	if root.obj == nil || root.typ.TypeName() != "order.created:payload" {
		t.Fatalf("root is %v, want the object order.created:payload", root.typ)
	}
	field := func(obj, name string) *shape {
		t.Helper()
		o := objects[obj]
		if o == nil {
			t.Fatalf("no object type %s (have %v)", obj, keys(objects))
		}
		s := o.shapes[name]
		if s == nil {
			t.Fatalf("%s has no field %s", obj, name)
		}
		return s
	}
	cases := []struct {
		obj, field, want string
	}{
		{"order.created:payload", "id", "string"},
		{"order.created:payload", "total", "double"},
		{"order.created:payload", "count", "int"},
		{"order.created:payload", "paid", "bool"},
		{"order.created:payload", "status", "string"},
		{"order.created:payload", "priority", "int"},
		{"order.created:payload", "note", "wrapper(string)"},
		{"order.created:payload", "customer", "order.created:payload.customer"},
		{"order.created:payload.customer", "email", "string"},
		{"order.created:payload.customer", "address", "order.created:payload.customer.address"},
		{"order.created:payload.customer.address", "city", "string"},
		{"order.created:payload", "items", "list(order.created:payload.items[])"},
		{"order.created:payload.items[]", "qty", "int"},
		{"order.created:payload", "tags", "list(string)"},
		{"order.created:payload", "scores", "list(int)"},
		{"order.created:payload", "attributes", "map(string, int)"},
		{"order.created:payload", "extra", "map(string, dyn)"},
		{"order.created:payload", "either", "dyn"},
		{"order.created:payload", "any", "dyn"},
		{"order.created:payload", "free", "dyn"},
		// A recursive $ref is followed once, then dyn.
		{"order.created:payload", "self", "order.created:payload.self"},
		{"order.created:payload.self", "self", "dyn"},
	}
	for _, c := range cases {
		if got := field(c.obj, c.field).typ.String(); got != c.want {
			t.Errorf("%s.%s: %s, want %s", c.obj, c.field, got, c.want)
		}
	}
	if e := field("order.created:payload", "status").enum; len(e) != 3 {
		t.Errorf("status enum %v, want its 3 values", e)
	}
	if !objects["order.created:payload"].required["customer"] || objects["order.created:payload"].required["count"] {
		t.Error("required fields are not as the schema says")
	}
}

func TestMapSchemaRoots(t *testing.T) {
	cases := map[string]string{
		``:     "dyn",
		`null`: "dyn",
		`{}`:   "dyn",
		`true`: "dyn",
		`{"type": "array", "items": {"type": "integer"}}`:        "list(int)",
		`{"type": "string"}`:                                     "string",
		`{"type": ["object", "null"], "properties": {"a": {}}}`:  "dyn",
		`{"allOf": [{"type": "string"}]}`:                        "string",
		`{"allOf": [{"type": "string"}, {"minLength": 1}]}`:      "dyn",
		`{"properties": {"a": {"type": "string"}}}`:              "x:payload",
		`{"type": "object", "properties": {}}`:                   "map(string, dyn)",
		`{"type": "array", "prefixItems": [{"type": "string"}]}`: "list(dyn)",
		`{"type": ["integer", "number"]}`:                        "double",
	}
	for schema, want := range cases {
		s, _, err := mapSchema("x", []byte(schema))
		if err != nil {
			t.Errorf("%s: %v", schema, err)
			continue
		}
		if got := s.typ.String(); got != want {
			t.Errorf("%s: %s, want %s", schema, got, want)
		}
	}
}

func TestConvertIntegers(t *testing.T) {
	root, _, err := mapSchema("x", []byte(`{"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	got := root.convert([]any{[]any{1.0, 2.0}, []any{3.0}})
	inner := got.([]any)[0].([]any)
	if _, ok := inner[0].(int64); !ok {
		t.Fatalf("items of list(list(int)) are %T, want int64", inner[0])
	}
	if root.elem.typ != nil && root.elem.typ.String() != types.NewListType(types.IntType).String() {
		t.Fatalf("elem type %v", root.elem.typ)
	}
}

func TestCheckAgainstSchema(t *testing.T) {
	r := newRouter(t)
	order := []EventType{{Name: "order.created", Schema: []byte(orderSchema)}}
	ok := []string{
		`payload.total > 100.0`,
		`payload.total > 100`, // mixed int/double comparisons are allowed
		`payload.customer.email.endsWith("@example.com")`,
		`payload.customer.address.city == "Paris"`,
		`payload.items.exists(i, i.qty > 2)`,
		`payload.scores.all(s, s + 1 > 0)`,
		`payload.attributes["size"] > 2`,
		`payload.extra.anything == "x"`,
		`has(payload.note) && payload.note == null`,
		`payload.?count.orValue(0) > 1`,
		`payload.status in ["paid", "shipped"]`,
		`payload.priority == 2`,
		`dyn(payload).undeclared == 1`,
		`event_type == "order.created"`,
	}
	for _, expr := range ok {
		if err := r.Check(Filter, expr, order); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
	}
	bad := map[string]string{
		`payload.totl > 100.0`:           "undefined field 'totl'",
		`payload.customer.mail == "a"`:   "undefined field 'mail'",
		`payload.items[0].sku > 1`:       "no matching overload",
		`payload.id + 1 == 2`:            "no matching overload",
		`payload.status == "shiped"`:     `status can never be "shiped"`,
		`payload.status in ["new", "x"]`: `status can never be "x"`,
		`payload.priority == 7`:          "priority can never be 7",
		`payload.total`:                  "a filter must be a bool",
		`payload.total >`:                "Syntax error",
		`event_id == "x"`:                "undeclared reference to 'event_id'",
	}
	for expr, want := range bad {
		err := r.Check(Filter, expr, order)
		var ce *CheckError
		if !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a CheckError", expr, err)
			continue
		}
		if ce.EventType != "order.created" || len(ce.Issues) == 0 || !strings.Contains(ce.Issues[0].Message, want) {
			t.Errorf("%s: %+v, want %q", expr, ce, want)
		}
		if ce.Issues[0].Line < 1 || ce.Issues[0].Column < 1 {
			t.Errorf("%s: no position in %+v", expr, ce.Issues[0])
		}
	}
}

func TestCheckPosition(t *testing.T) {
	r := newRouter(t)
	err := r.Check(Filter, "payload.total > 1.0 &&\n  payload.custmer.email == \"a\"",
		[]EventType{{Name: "order.created", Schema: []byte(orderSchema)}})
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("%v, want a CheckError", err)
	}
	if is := ce.Issues[0]; is.Line != 2 || is.Column != 10 {
		t.Fatalf("issue at %d:%d (%s), want 2:10, the selection of custmer", is.Line, is.Column, is.Message)
	}
}

func TestCheckEveryEventType(t *testing.T) {
	r := newRouter(t)
	ts := []EventType{
		{Name: "order.created", Schema: []byte(orderSchema)},
		{Name: "user.created", Schema: []byte(`{"type": "object", "properties": {"name": {"type": "string"}}}`)},
	}
	err := r.Check(Filter, `payload.total > 1.0`, ts)
	var ce *CheckError
	if !errors.As(err, &ce) || ce.EventType != "user.created" {
		t.Fatalf("%v, want a CheckError against user.created", err)
	}
	if err := r.Check(Filter, `event_type == "user.created" || dyn(payload).total > 1.0`, ts); err != nil {
		t.Fatal(err)
	}
	// Without event types payload is dyn: anything selects.
	if err := r.Check(Filter, `payload.whatever.deep == 1`, nil); err != nil {
		t.Fatal(err)
	}
}

func TestCheckTransform(t *testing.T) {
	r := newRouter(t)
	order := []EventType{{Name: "order.created", Schema: []byte(orderSchema)}}
	for _, expr := range []string{
		`{"body": {"text": "New order " + payload.id}}`,
		`{"headers": {"X-Order": payload.id}}`,
		`{"body": payload.omit(["customer"]), "headers": {"X-Kind": event_type, "X-Id": event_id}}`,
	} {
		if err := r.Check(Transform, expr, order); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
	}
	bad := map[string]string{
		`"text"`:           "a transform must be a map",
		`{"bdy": payload}`: `not "bdy"`,
		`{"headers": {"X-Count": payload.total}}`: "headers must be a map(string, string)",
		`{"body": payload.nope}`:                  "undefined field 'nope'",
	}
	for expr, want := range bad {
		err := r.Check(Transform, expr, order)
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Field != Transform || !strings.Contains(ce.Issues[0].Message, want) {
			t.Errorf("%s: %v, want %q", expr, err, want)
		}
	}
}

func newRouter(t testing.TB) *Router {
	t.Helper()
	r, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestCheckTransformHeaders: a literal header that every attempt would
// refuse (one Herald sets, or not a valid name) is refused when the
// transform is saved, where it used to fail each attempt later.
func TestCheckTransformHeaders(t *testing.T) {
	r := newRouter(t)
	for expr, want := range map[string]string{
		`{"headers": {"webhook-id": "x"}}`:          `header "webhook-id" is set by Herald`,
		`{"headers": {"Content-Type": "text/xml"}}`: `header "Content-Type" is set by Herald`,
		`{"headers": {"bad name": event_id}}`:       `"bad name" is not a valid header name`,
		`{"headers": {"X-A": "a\nb"}}`:              "control character",
	} {
		err := r.Check(Transform, expr, nil)
		var ce *CheckError
		if !errors.As(err, &ce) || len(ce.Issues) == 0 || !strings.Contains(ce.Issues[0].Message, want) {
			t.Errorf("%s: %v, want a CheckError with %q", expr, err, want)
		}
	}
	for _, expr := range []string{
		`{"headers": {"X-Event": event_type, "X-Id": event_id}}`,
		`{"body": payload, "headers": {event_type: "x"}}`, // known only when it runs
	} {
		if err := r.Check(Transform, expr, nil); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
	}
}
