// Package searchattr knows Herald's custom search attributes: which they
// are, which of them a namespace lacks, how to add them, and the command an
// operator runs to add them by hand. `herald api` and `herald worker` check
// them at start; the production-shape test harness adds them as an operator
// would.
package searchattr

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"

	"github.com/herald-hq/herald/schemas"
)

// Herald returns the search attributes Herald's workflows set, by name.
// A namespace without them refuses to start Herald's workflows.
func Herald() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		schemas.SearchAttrApp:       enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		schemas.SearchAttrEventType: enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		schemas.SearchAttrStatus:    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// Missing returns, sorted, the names of Herald's search attributes that
// namespace lacks. One that exists with another type is an error: adding
// it again cannot fix that.
func Missing(ctx context.Context, op operatorservice.OperatorServiceClient, namespace string) ([]string, error) {
	list, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes of namespace %q: %w", namespace, err)
	}
	var missing []string
	for name, want := range Herald() {
		have, ok := list.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case have != want:
			return nil, fmt.Errorf("search attribute %s of namespace %q has type %s, Herald needs %s",
				name, namespace, typeName(have), typeName(want))
		}
	}
	slices.Sort(missing)
	return missing, nil
}

// Add adds the named attributes to namespace and returns once the
// namespace lists them all (the frontend may answer from a cache a moment
// after the change).
func Add(ctx context.Context, op operatorservice.OperatorServiceClient, namespace string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	attrs := map[string]enumspb.IndexedValueType{}
	for _, n := range names {
		attrs[n] = Herald()[n]
	}
	if _, err := op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: attrs,
	}); err != nil {
		return fmt.Errorf("add search attributes %s to namespace %q: %w", strings.Join(names, ", "), namespace, err)
	}
	for {
		left, err := Missing(ctx, op, namespace)
		if err != nil {
			return err
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("search attributes %s added to namespace %q but not listed yet: %w",
				strings.Join(left, ", "), namespace, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Command is the Temporal CLI command that adds names to namespace on the
// frontend at addr, for an operator to run (or for an error to quote).
func Command(addr, namespace string, names []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "temporal operator search-attribute create --address %s --namespace %s", addr, namespace)
	for _, n := range names {
		fmt.Fprintf(&b, " --name %s --type %s", n, typeName(Herald()[n]))
	}
	return b.String()
}

// typeName is the type as the Temporal CLI spells it: Keyword, Text, ...
func typeName(t enumspb.IndexedValueType) string {
	s := strings.TrimPrefix(t.String(), "INDEXED_VALUE_TYPE_")
	parts := strings.Split(strings.ToLower(s), "_")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "")
}
