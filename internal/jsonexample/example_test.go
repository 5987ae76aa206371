package jsonexample

import (
	"encoding/json"
	"testing"
)

func TestFromSchema(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ schema, want string }{
		{``, `{}`},
		{`not json`, `{}`},
		{`{"examples": [{"a": 1}, {"a": 2}]}`, `{"a":1}`},
		{`{"type": "object", "properties": {"s": {"type": "string"}, "n": {"type": "integer", "minimum": 3},
			"f": {"type": "number"}, "b": {"type": "boolean"}, "e": {"enum": ["x", "y"]},
			"t": {"type": "string", "format": "date-time"}, "l": {"type": "array", "items": {"type": "string", "const": "c"}},
			"o": {"type": ["null", "object"], "properties": {"d": {"default": 7}}}}}`,
			`{"b":true,"e":"x","f":1.5,"l":["c"],"n":3,"o":{"d":7},"s":"string","t":"2024-01-01T00:00:00Z"}`},
		{`{"$defs": {"id": {"type": "string", "example": "ord_1"}}, "type": "object",
			"properties": {"id": {"$ref": "#/$defs/id"}}}`, `{"id":"ord_1"}`},
		{`{"allOf": [{"properties": {"a": {"type": "integer"}}}, {"properties": {"b": {"type": "boolean"}}}]}`, `{"a":1,"b":true}`},
		{`{"oneOf": [{"type": "string", "minLength": 10}, {"type": "integer"}]}`, `"stringxxxx"`},
		// A recursive schema stops instead of looping.
		{`{"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}}, "$ref": "#/$defs/n"}`,
			`{"next":{"next":{"next":{"next":null}}}}`},
	} {
		got := FromSchema(json.RawMessage(c.schema))
		if string(got) != c.want {
			t.Errorf("FromSchema(%s)\n= %s\nwant %s", c.schema, got, c.want)
		}
	}
}
