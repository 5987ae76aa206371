package routing

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// shape is what a JSON Schema says of a value, as CEL sees it: its CEL type
// and how decoded JSON (encoding/json into any) becomes the value that type
// promises. JSON numbers decode as float64; where the schema says
// "integer" they must become int64, or `payload.count + 1` would fail at run
// time after passing the type check.
type shape struct {
	typ  *types.Type
	conv conversion
	elem *shape  // list items, map values
	obj  *object // declared object type
	// enum holds the values a string, int or double may take, when the
	// schema lists them (enum, const): a comparison with any other literal
	// is a type error.
	enum []any
}

type conversion int

const (
	convNone conversion = iota // the decoded value is already right
	convInt                    // float64 -> int64
	convList                   // []any whose items need converting
	convMap                    // map[string]any whose values need converting
)

// object is a declared CEL object type made from a JSON Schema object with
// properties. Its values are the decoded map[string]any; its fields are read
// by the FieldType getters below, so selecting an undeclared field is a type
// error and a declared one yields its declared type.
type object struct {
	name   string
	typ    *types.Type
	fields map[string]*types.FieldType
	shapes map[string]*shape
	names  []string
	// required fields are always present in a valid payload.
	required map[string]bool
}

var dyn = &shape{typ: types.DynType}

// Limits of the mapping: deeper schemas (or $ref cycles) are dyn below them.
const maxDepth = 24

// mapper maps one event type's schema to shapes, declaring object types as
// it goes. root is the whole schema document, for local $refs.
type mapper struct {
	prefix  string
	root    any
	objects map[string]*object
	active  map[string]bool // $refs being mapped, to cut cycles
}

// mapSchema maps a JSON Schema document to the shape of the payload it
// describes and the object types it declares. prefix names those types
// ("<prefix>:payload.customer"): the colon keeps them from ever matching a
// qualified name in an expression.
func mapSchema(prefix string, raw json.RawMessage) (*shape, map[string]*object, error) {
	m := &mapper{prefix: prefix, objects: map[string]*object{}, active: map[string]bool{}}
	if len(raw) == 0 || string(raw) == "null" {
		return dyn, m.objects, nil
	}
	if err := json.Unmarshal(raw, &m.root); err != nil {
		return nil, nil, fmt.Errorf("read schema: %w", err)
	}
	return m.shapeOf(m.root, "payload", 0), m.objects, nil
}

func (m *mapper) shapeOf(node any, path string, depth int) *shape {
	s, ok := node.(map[string]any)
	if !ok || depth > maxDepth {
		return dyn // true, false, or too deep
	}
	if ref, ok := s["$ref"].(string); ok {
		return m.ref(ref, path, depth)
	}
	if _, ok := s["oneOf"]; ok {
		return dyn
	}
	if _, ok := s["anyOf"]; ok {
		return dyn
	}
	if all, ok := s["allOf"].([]any); ok {
		if len(all) == 1 && len(s) == 1 {
			return m.shapeOf(all[0], path, depth+1)
		}
		return dyn
	}
	enum := enumValues(s)
	typ, nullable := m.typeName(s, enum)
	var out *shape
	switch typ {
	case "string":
		out = &shape{typ: types.StringType}
	case "integer":
		out = &shape{typ: types.IntType, conv: convInt}
	case "number":
		out = &shape{typ: types.DoubleType}
	case "boolean":
		out = &shape{typ: types.BoolType}
	case "null":
		return &shape{typ: types.NullType}
	case "array":
		return m.orDyn(nullable, m.array(s, path, depth))
	case "object":
		return m.orDyn(nullable, m.object(s, path, depth))
	default:
		return dyn
	}
	if enum != nil && enumFits(enum, typ) {
		out.enum = enum
	}
	if nullable {
		out.typ = types.NewNullableType(out.typ)
	}
	return out
}

// orDyn is dyn for a list or object that may also be null: CEL has no
// nullable aggregate types.
func (m *mapper) orDyn(nullable bool, s *shape) *shape {
	if nullable {
		return dyn
	}
	return s
}

// typeName is the one JSON type a schema allows (besides null), inferred
// from properties, items or the enum values when "type" is absent; "" when
// it allows several.
func (m *mapper) typeName(s map[string]any, enum []any) (name string, nullable bool) {
	switch t := s["type"].(type) {
	case string:
		return t, false
	case []any:
		var names []string
		for _, v := range t {
			if n, ok := v.(string); ok && n != "null" {
				names = append(names, n)
			} else if ok {
				nullable = true
			}
		}
		slices.Sort(names)
		switch {
		case len(names) == 1:
			return names[0], nullable
		case slices.Equal(names, []string{"integer", "number"}):
			return "number", nullable
		}
		return "", nullable
	}
	switch {
	case s["properties"] != nil || s["additionalProperties"] != nil:
		return "object", false
	case s["items"] != nil:
		return "array", false
	case enum != nil:
		return enumType(enum), false
	}
	return "", false
}

func (m *mapper) array(s map[string]any, path string, depth int) *shape {
	items := dyn
	if _, tuple := s["prefixItems"]; !tuple && s["items"] != nil {
		items = m.shapeOf(s["items"], path+"[]", depth+1)
	}
	out := &shape{typ: types.NewListType(items.typ), elem: items}
	if items.conv != convNone {
		out.conv = convList
	}
	return out
}

func (m *mapper) object(s map[string]any, path string, depth int) *shape {
	props, _ := s["properties"].(map[string]any)
	if len(props) == 0 {
		// A map: its keys are not known, its values may be.
		values := dyn
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			values = m.shapeOf(ap, path+"[*]", depth+1)
		}
		out := &shape{typ: types.NewMapType(types.StringType, values.typ), elem: values}
		if values.conv != convNone {
			out.conv = convMap
		}
		return out
	}
	name := m.prefix + ":" + path
	o := &object{name: name, typ: types.NewObjectType(name), fields: map[string]*types.FieldType{},
		shapes: map[string]*shape{}, required: map[string]bool{}}
	m.objects[name] = o
	for _, r := range asStrings(s["required"]) {
		o.required[r] = true
	}
	for field, sub := range props {
		fs := m.shapeOf(sub, path+"."+field, depth+1)
		o.shapes[field] = fs
		o.fields[field] = fieldType(path+"."+field, field, fs, o.required[field])
		o.names = append(o.names, field)
	}
	slices.Sort(o.names)
	return &shape{typ: o.typ, obj: o}
}

// ref follows a local reference ("#/$defs/address"); anything else, or a
// cycle, is dyn.
func (m *mapper) ref(ref, path string, depth int) *shape {
	if !strings.HasPrefix(ref, "#") || m.active[ref] {
		return dyn
	}
	target, ok := pointer(m.root, strings.TrimPrefix(ref, "#"))
	if !ok {
		return dyn
	}
	m.active[ref] = true
	defer delete(m.active, ref)
	return m.shapeOf(target, path, depth+1)
}

// pointer resolves a JSON pointer ("/$defs/address") in doc.
func pointer(doc any, p string) (any, bool) {
	if p == "" {
		return doc, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, false
		}
		if doc, ok = obj[tok]; !ok {
			return nil, false
		}
	}
	return doc, true
}

// fieldType reads a field of a decoded object. A missing field is an
// evaluation error that says how to test for it.
func fieldType(path, field string, fs *shape, required bool) *types.FieldType {
	return &types.FieldType{
		Type: fs.typ,
		IsSet: func(target any) bool {
			obj, ok := target.(map[string]any)
			if !ok {
				return false
			}
			_, ok = obj[field]
			return ok
		},
		GetFrom: func(target any) (any, error) {
			obj, ok := target.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: not an object", strings.TrimSuffix(path, "."+field))
			}
			v, ok := obj[field]
			if !ok {
				if required {
					return nil, fmt.Errorf("no such key: %s", path)
				}
				return nil, fmt.Errorf("no such key: %s (optional in the schema: test has(%s) or use %s)",
					path, path, optionalPath(path))
			}
			return fs.convert(v), nil
		},
	}
}

// optionalPath is path with its last selection made optional (a.b.?c).
func optionalPath(path string) string {
	i := strings.LastIndexByte(path, '.')
	return path[:i+1] + "?" + path[i+1:] + `.orValue(...)`
}

// convert turns a decoded JSON value into the value s's type promises.
// Values that do not fit are left as they are: evaluation then fails on
// them, which counts as no match (the payload was valid for the schema it
// was accepted with, which may have changed since).
func (s *shape) convert(v any) any {
	switch s.conv {
	case convInt:
		if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) <= 1<<63-1024 {
			return int64(f)
		}
	case convList:
		if l, ok := v.([]any); ok {
			out := make([]any, len(l))
			for i, x := range l {
				out[i] = s.elem.convert(x)
			}
			return out
		}
	case convMap:
		if mv, ok := v.(map[string]any); ok {
			out := make(map[string]any, len(mv))
			for k, x := range mv {
				out[k] = s.elem.convert(x)
			}
			return out
		}
	}
	return v
}

// provider declares a schema's object types to the CEL checker and
// interpreter, and leaves every other type to CEL's own registry.
type provider struct {
	types.Provider
	objects map[string]*object
}

func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if o, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(o.typ), true
	}
	return p.Provider.FindStructType(name)
}

func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if o, ok := p.objects[name]; ok {
		return o.names, true
	}
	return p.Provider.FindStructFieldNames(name)
}

func (p *provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if o, ok := p.objects[name]; ok {
		ft, ok := o.fields[field]
		return ft, ok
	}
	return p.Provider.FindStructFieldType(name, field)
}

func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.objects[name]; ok {
		return types.NewErr("%s values are made from payloads, not in expressions", name)
	}
	return p.Provider.NewValue(name, fields)
}

func enumValues(s map[string]any) []any {
	if c, ok := s["const"]; ok {
		return []any{c}
	}
	e, _ := s["enum"].([]any)
	return e
}

// enumType is the JSON type all enum values share, "" when they differ.
func enumType(enum []any) string {
	t := ""
	for _, v := range enum {
		var vt string
		switch x := v.(type) {
		case string:
			vt = "string"
		case bool:
			vt = "boolean"
		case float64:
			vt = "number"
			if x == math.Trunc(x) {
				vt = "integer"
			}
		default:
			return ""
		}
		switch {
		case t == "" || t == vt:
			t = vt
		case t == "integer" && vt == "number", t == "number" && vt == "integer":
			t = "number"
		default:
			return ""
		}
	}
	return t
}

// enumFits reports whether every enum value is of the JSON type typ, so the
// values can be compared with literals of the CEL type.
func enumFits(enum []any, typ string) bool {
	for _, v := range enum {
		switch v.(type) {
		case string:
			if typ != "string" {
				return false
			}
		case float64:
			if typ != "integer" && typ != "number" {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func asStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
