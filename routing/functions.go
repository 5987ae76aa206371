package routing

import (
	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// omitFunction is `x.omit(["a", "b"])`: the object or map x without those
// keys, the usual way to drop a field from the body a transform sends. CEL
// has no map filter that yields a map, and a schema-typed object is not a
// map to the type checker, so it takes dyn.
func omitFunction() cel.EnvOption {
	return cel.Function("omit",
		cel.MemberOverload("dyn_omit_list_string",
			[]*cel.Type{cel.DynType, cel.ListType(cel.StringType)}, cel.MapType(cel.StringType, cel.DynType),
			cel.BinaryBinding(omit)))
}

func omit(target, keys ref.Val) ref.Val {
	m, ok := target.(traits.Mapper)
	if !ok {
		return types.NewErr("omit: %s is not an object", target.Type().TypeName())
	}
	drop, ok := keys.(traits.Lister)
	if !ok {
		return types.NewErr("omit: the keys are not a list")
	}
	out := map[ref.Val]ref.Val{}
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		if drop.Contains(k) != types.True {
			out[k] = m.Get(k)
		}
	}
	return types.NewRefValMap(types.DefaultTypeAdapter, out)
}
