package schemas

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// FuzzSchema: any schema text and payload: no panic, and compiling and
// validating end fast (the limits and the budget hold).
func FuzzSchema(f *testing.F) {
	f.Add(`{"type":"object","properties":{"n":{"type":"integer"}}}`, `{"n":1e999999}`)
	f.Add(`{"allOf":[{"allOf":[{"allOf":[{"type":"string"}]}]}]}`, `"x"`)
	f.Add(`{"$ref":"#/$defs/a","$defs":{"a":{"anyOf":[{"$ref":"#/$defs/b"},{"$ref":"#/$defs/b"}]},"b":{"type":"string"}}}`, `1`)
	f.Add(`{"pattern":"^(a+)+$"}`, `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"`)
	f.Add(`{"multipleOf":1e-1000}`, `1e1000`)
	f.Add(`{"$ref":"https://example.com/s.json"}`, `{}`)
	f.Fuzz(func(t *testing.T, schema, payload string) {
		start := time.Now()
		p, err := CompileSchema(json.RawMessage(schema))
		if err == nil && json.Valid([]byte(payload)) {
			_ = p.Check(context.Background(), json.RawMessage(payload))
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("schema %.200q with payload %.200q took %s", schema, payload, d)
		}
	})
}
