package schemas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// nestedAllOf is a schema of n nested allOf levels (2 JSON levels each).
func nestedAllOf(n int) string {
	return strings.Repeat(`{"allOf":[`, n) + `{"type":"object"}` + strings.Repeat(`]}`, n)
}

// Schemas that cost more than a bounded amount to compile are refused
// before compiling, fast; what the limits allow compiles fast.
func TestSchemaLimits(t *testing.T) {
	for _, raw := range []string{
		nestedAllOf(1000),               // took 38 s to compile
		nestedAllOf(3000),               // never finished
		nestedAllOf(MaxSchemaDepth / 2), // 32 levels: one past the depth
		`{"type":"object","description":"` + strings.Repeat("x", MaxSchemaBytes) + `"}`,
		`{"maximum":1e999999}`,
		`{"multipleOf":1e-999999}`,
		`{"minimum":` + strings.Repeat("9", 200) + `}`,
	} {
		start := time.Now()
		_, err := CompileSchema(json.RawMessage(raw))
		if code(err) != "invalid_schema" {
			t.Errorf("schema of %d bytes: %v, want invalid_schema", len(raw), err)
		}
		if d := time.Since(start); d > 5*time.Second { // generous: -race on a loaded machine
			t.Errorf("refusing a schema of %d bytes took %s", len(raw), d)
		}
	}
	start := time.Now()
	p, err := CompileSchema(json.RawMessage(nestedAllOf(MaxSchemaDepth/2 - 1)))
	if err != nil {
		t.Fatalf("deepest allowed schema: %v", err)
	}
	if errs := p.Validate(json.RawMessage(`{}`)); errs != nil {
		t.Fatal(errs)
	}
	t.Logf("deepest allowed nested allOf compiles and validates in %s", time.Since(start))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("deepest allowed schema took %s", d)
	}
}

// Numbers of absurd magnitude are refused before the validator's exact
// arithmetic sees them (1e999999 cost ~0.1 s of CPU each).
func TestPayloadNumbersBounded(t *testing.T) {
	p, err := CompileSchema(json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	many := `{"n":1,"x":[` + strings.Repeat(`1e999999,`, 50000) + `1]}`
	for _, payload := range []string{`{"n":1e999999}`, `{"n":-1E+999999}`, `{"n":1e-999999}`, many,
		`{"n":` + strings.Repeat("1", 500) + `}`} {
		start := time.Now()
		err := p.Check(context.Background(), json.RawMessage(payload))
		if code(err) != "payload_too_costly" {
			t.Errorf("payload of %d bytes: %v, want payload_too_costly", len(payload), err)
		}
		if d := time.Since(start); d > 5*time.Second { // generous: -race on a loaded machine
			t.Errorf("refusing a payload of %d bytes took %s", len(payload), d)
		}
	}
	for _, payload := range []string{`{"n":1e3}`, `{"n":12345678901234567890}`, `{"n":1,"f":1.7976931348623157e308}`} {
		if err := p.Check(context.Background(), json.RawMessage(payload)); err != nil {
			t.Errorf("%s: %v", payload, err)
		}
	}
	if err := p.Check(context.Background(), json.RawMessage(`{"n":1.5}`)); code(err) != "schema_validation_failed" {
		t.Errorf("1.5 for an integer: %v", err)
	}
}

// expRefs is a small schema whose validation doubles with each level:
// every level refers to the next twice.
func expRefs(levels int) string {
	var defs []string
	for i := range levels {
		defs = append(defs, fmt.Sprintf(`"d%d":{"anyOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]}`, i, i+1, i+1))
	}
	defs = append(defs, fmt.Sprintf(`"d%d":{"type":"string"}`, levels))
	return `{"$ref":"#/$defs/d0","$defs":{` + strings.Join(defs, ",") + `}}`
}

// A schema of shared $refs whose validation takes exponential work stops at
// the budget; a context that ends stops it too.
func TestValidationBudget(t *testing.T) {
	p, err := CompileSchema(json.RawMessage(expRefs(60)))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Check(context.Background(), json.RawMessage(`1`))
	if code(err) != "payload_too_costly" {
		t.Fatalf("2^60 evaluations: %v", err)
	}
	t.Logf("stopped at the budget after %s", time.Since(start))
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("budget stop took %s", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Check(ctx, json.RawMessage(`1`)); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v", err)
	}
	// Honest work grows with the payload, and so does the budget: 50,000
	// items, more than ValidationBudget evaluations, validate.
	arr, err := CompileSchema(json.RawMessage(`{"type":"array","items":{"type":"integer","minimum":0}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := arr.Check(context.Background(), json.RawMessage(`[`+strings.Repeat("1,", 50000)+`1]`)); err != nil {
		t.Fatalf("50,000 items: %v", err)
	}
	// The schema still works after stopped runs.
	small, err := CompileSchema(json.RawMessage(expRefs(3)))
	if err != nil {
		t.Fatal(err)
	}
	if err := small.Check(context.Background(), json.RawMessage(`"ok"`)); err != nil {
		t.Fatal(err)
	}
	if err := small.Check(context.Background(), json.RawMessage(`1`)); code(err) != "schema_validation_failed" {
		t.Fatal(err)
	}
}
