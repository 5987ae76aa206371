// Package jsonexample makes an example JSON value from a JSON Schema: the
// schema's own "examples" (or "example", "default", "const", "enum") where
// it gives one, else a value of the right shape built from its properties.
// Test events and the portal's event-type catalog use it.
package jsonexample

import (
	"encoding/json"
	"strings"
)

// maxDepth stops recursive schemas ($ref cycles are not followed at all).
const maxDepth = 8

// FromSchema returns an example for schema, or {} when it has none to give.
func FromSchema(schema json.RawMessage) json.RawMessage {
	var s map[string]any
	if len(schema) == 0 || json.Unmarshal(schema, &s) != nil || s == nil {
		return json.RawMessage(`{}`)
	}
	v := example(s, s, 0)
	if v == nil {
		v = map[string]any{}
	}
	out, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return out
}

func example(s, root map[string]any, depth int) any {
	if depth > maxDepth || s == nil {
		return nil
	}
	if ex, ok := s["examples"].([]any); ok && len(ex) > 0 {
		return ex[0]
	}
	for _, k := range []string{"example", "const", "default"} {
		if v, ok := s[k]; ok {
			return v
		}
	}
	if enum, ok := s["enum"].([]any); ok && len(enum) > 0 {
		return enum[0]
	}
	if ref, ok := s["$ref"].(string); ok {
		if target := resolve(root, ref); target != nil {
			return example(target, root, depth+1)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		if subs, ok := s[k].([]any); ok && len(subs) > 0 {
			if k == "allOf" {
				return mergeAll(subs, root, depth)
			}
			if sub, ok := subs[0].(map[string]any); ok {
				return example(sub, root, depth+1)
			}
		}
	}
	switch typeOf(s) {
	case "object":
		return object(s, root, depth)
	case "array":
		item, _ := s["items"].(map[string]any)
		if v := example(item, root, depth+1); v != nil {
			return []any{v}
		}
		return []any{}
	case "string":
		return stringFor(s)
	case "integer":
		return minimum(s, 1)
	case "number":
		return minimum(s, 1.5)
	case "boolean":
		return true
	case "null":
		return nil
	}
	return nil
}

// typeOf is the schema's type, the first non-null one of a list, or
// "object" when it has properties.
func typeOf(s map[string]any) string {
	switch t := s["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if str, ok := x.(string); ok && str != "null" {
				return str
			}
		}
	}
	if _, ok := s["properties"]; ok {
		return "object"
	}
	return ""
}

func object(s, root map[string]any, depth int) map[string]any {
	out := map[string]any{}
	props, _ := s["properties"].(map[string]any)
	for name, p := range props {
		if ps, ok := p.(map[string]any); ok {
			out[name] = example(ps, root, depth+1)
		}
	}
	return out
}

func mergeAll(subs []any, root map[string]any, depth int) any {
	merged := map[string]any{}
	for _, sub := range subs {
		sm, _ := sub.(map[string]any)
		v := example(sm, root, depth+1)
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		for k, x := range m {
			merged[k] = x
		}
	}
	return merged
}

func stringFor(s map[string]any) string {
	switch s["format"] {
	case "date-time":
		return "2024-01-01T00:00:00Z"
	case "date":
		return "2024-01-01"
	case "email":
		return "user@example.com"
	case "uri", "url":
		return "https://example.com/"
	case "uuid":
		return "00000000-0000-4000-8000-000000000000"
	}
	str := "string"
	if n, ok := s["minLength"].(float64); ok && int(n) > len(str) {
		str += strings.Repeat("x", int(n)-len(str))
	}
	return str
}

func minimum(s map[string]any, def float64) any {
	for _, k := range []string{"minimum", "exclusiveMinimum"} {
		if m, ok := s[k].(float64); ok {
			if k == "exclusiveMinimum" {
				m++
			}
			if def == 1 {
				return int64(m)
			}
			return m
		}
	}
	if def == 1 {
		return int64(1)
	}
	return def
}

// resolve follows a local "#/..." reference.
func resolve(root map[string]any, ref string) map[string]any {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = root
	for _, part := range strings.Split(path, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
	}
	m, _ := cur.(map[string]any)
	return m
}
