package routing

import (
	"encoding/json"
	"fmt"
	"strings"

	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// checkEnums refuses comparisons of a field the schema gives an enum (or a
// const) with a literal outside it: `payload.status == "shiped"` passes
// CEL's type check but can never be true, the silent drop the check at
// save time is there to prevent.
func checkEnums(a *celast.AST, objects map[string]*object) []Issue {
	if len(objects) == 0 {
		return nil
	}
	enumOf := func(e celast.Expr) (string, []any) {
		if e.Kind() != celast.SelectKind || e.AsSelect().IsTestOnly() {
			return "", nil
		}
		sel := e.AsSelect()
		t := a.GetType(sel.Operand().ID())
		if t == nil || t.Kind() != types.StructKind {
			return "", nil
		}
		o, ok := objects[t.TypeName()]
		if !ok || o.shapes[sel.FieldName()] == nil {
			return "", nil
		}
		return sel.FieldName(), o.shapes[sel.FieldName()].enum
	}
	var issues []Issue
	check := func(field string, enum []any, lit celast.Expr) {
		if enum == nil || lit.Kind() != celast.LiteralKind || inEnum(enum, lit.AsLiteral()) {
			return
		}
		issues = append(issues, issueAt(a.SourceInfo().GetStartLocation(lit.ID()),
			fmt.Sprintf("%s can never be %s: the schema allows only %s", field, show(lit.AsLiteral().Value()), showAll(enum))))
	}
	for _, n := range celast.MatchDescendants(celast.NavigateAST(a), celast.KindMatcher(celast.CallKind)) {
		call := n.AsCall()
		args := call.Args()
		if len(args) != 2 {
			continue
		}
		switch call.FunctionName() {
		case "_==_", "_!=_":
			for i := range 2 {
				if f, enum := enumOf(args[i]); enum != nil {
					check(f, enum, args[1-i])
				}
			}
		case "@in":
			f, enum := enumOf(args[0])
			if enum == nil || args[1].Kind() != celast.ListKind {
				continue
			}
			for _, el := range args[1].AsList().Elements() {
				check(f, enum, el)
			}
		}
	}
	return issues
}

// inEnum reports whether a literal equals one of the enum's JSON values.
// Literals of another type are left to the type check.
func inEnum(enum []any, lit ref.Val) bool {
	for _, v := range enum {
		switch x := v.(type) {
		case string:
			if s, ok := lit.(types.String); !ok || string(s) == x {
				return true
			}
		case float64:
			switch n := lit.(type) {
			case types.Int:
				if float64(n) == x {
					return true
				}
			case types.Uint:
				if float64(n) == x {
					return true
				}
			case types.Double:
				if float64(n) == x {
					return true
				}
			default:
				return true
			}
		}
	}
	return false
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func showAll(enum []any) string {
	parts := make([]string, len(enum))
	for i, v := range enum {
		parts[i] = show(v)
	}
	return strings.Join(parts, ", ")
}
