package schemas

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Limits on what JSON Schema work one request may cause. The validator does
// exact arithmetic (math/big) on numbers, compiles nested applicators in
// about cubic time and evaluates shared $refs once per path, so each of
// these is what keeps one request's CPU bounded.
const (
	// MaxSchemaBytes bounds an event type's schema (as sent).
	MaxSchemaBytes = 64 << 10
	// MaxSchemaDepth bounds how deeply a schema's JSON nests (objects and
	// arrays): 64 is some 30 levels of nested properties.
	MaxSchemaDepth = 64
	// MaxNumberLength bounds a number literal in a schema or in a payload
	// validated against one, in bytes.
	MaxNumberLength = 100
	// MaxNumberExponent bounds the decimal exponent of such a number
	// (float64 reaches 1e308): 1e999999 costs the validator a million-digit
	// integer.
	MaxNumberExponent = 1000
	// ValidationBudget bounds the subschema evaluations one payload's
	// validation may take, plus BudgetPerValue for each value in the
	// payload (so the bound grows with the payload, as honest work does); a
	// schema of shared $refs can otherwise need exponentially many.
	ValidationBudget = 20_000
	BudgetPerValue   = 8
)

// checkDoc walks a decoded JSON document (numbers as json.Number) and
// refuses numbers out of bounds and, when maxDepth > 0, nesting past it.
// It reports the JSON pointer of the first fault, and counts the values.
func checkDoc(v any, maxDepth int) (values int, err error) {
	var walk func(v any, path []string, depth int) error
	walk = func(v any, path []string, depth int) error {
		values++
		switch x := v.(type) {
		case json.Number:
			if err := checkNumber(string(x)); err != nil {
				return fmt.Errorf("at %q: %w", pointer(path), err)
			}
		case map[string]any:
			if maxDepth > 0 && depth >= maxDepth {
				return fmt.Errorf("at %q: nested more than %d levels deep", pointer(path), maxDepth)
			}
			for k, e := range x {
				if err := walk(e, append(path, k), depth+1); err != nil {
					return err
				}
			}
		case []any:
			if maxDepth > 0 && depth >= maxDepth {
				return fmt.Errorf("at %q: nested more than %d levels deep", pointer(path), maxDepth)
			}
			for i, e := range x {
				if err := walk(e, append(path, strconv.Itoa(i)), depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err = walk(v, nil, 0)
	return values, err
}

// checkNumber bounds a JSON number literal's length and exponent.
func checkNumber(lit string) error {
	if len(lit) > MaxNumberLength {
		return fmt.Errorf("number literal longer than %d characters", MaxNumberLength)
	}
	i := strings.IndexAny(lit, "eE")
	if i < 0 {
		return nil
	}
	exp, err := strconv.Atoi(strings.TrimPrefix(lit[i+1:], "+"))
	if err != nil || exp > MaxNumberExponent || exp < -MaxNumberExponent {
		return fmt.Errorf("number %s has an exponent beyond ±%d", lit, MaxNumberExponent)
	}
	return nil
}
