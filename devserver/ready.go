package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/herald-hq/herald/schemas"
)

// searchAttributes are the custom search attributes Herald's workflows set.
func searchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		schemas.SearchAttrApp:       enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		schemas.SearchAttrEventType: enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		schemas.SearchAttrStatus:    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// waitReady waits until the frontend answers for namespace, then registers
// any of Herald's search attributes the namespace lacks.
func waitReady(ctx context.Context, frontendAddr, namespace string, retention time.Duration, logger *slog.Logger) error {
	c, err := dial(ctx, frontendAddr, namespace, logger)
	if err != nil {
		return err
	}
	defer c.Close()

	if err := poll(ctx, func() error {
		_, err := c.WorkflowService().DescribeNamespace(ctx,
			&workflowservice.DescribeNamespaceRequest{Namespace: namespace})
		return err
	}); err != nil {
		return fmt.Errorf("waiting for namespace %q: %w", namespace, err)
	}
	if err := ensureRetention(ctx, c.WorkflowService(), namespace, retention); err != nil {
		return err
	}
	if err := ensureSearchAttributes(ctx, c.OperatorService(), namespace); err != nil {
		return err
	}
	// Added search attributes are aliases in the namespace's config, which
	// each service sees when its namespace cache next refreshes: until the
	// frontend's has, a start that sets them is refused ("no mapping
	// defined"). DescribeNamespace reads the config from the database, so
	// it says nothing of the cache; a visibility query naming every
	// attribute is resolved through it.
	var query []string
	for name := range searchAttributes() {
		query = append(query, name+" = 'ready-probe'")
	}
	slices.Sort(query)
	return poll(ctx, func() error {
		_, err := c.WorkflowService().CountWorkflowExecutions(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Namespace: namespace, Query: strings.Join(query, " AND ")})
		if err != nil {
			return fmt.Errorf("search attributes not yet usable in namespace %q: %w", namespace, err)
		}
		return nil
	})
}

// dial connects an SDK client, retrying until the frontend accepts it.
func dial(ctx context.Context, addr, namespace string, logger *slog.Logger) (client.Client, error) {
	var c client.Client
	err := poll(ctx, func() error {
		var err error
		c, err = client.DialContext(ctx, client.Options{
			HostPort:  addr,
			Namespace: namespace,
			Logger:    sdklog.NewStructuredLogger(logger),
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to the frontend at %s: %w", addr, err)
	}
	return c, nil
}

// ensureSearchAttributes adds those of Herald's search attributes that
// namespace does not have yet; it fails if one exists with another type.
func ensureSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, namespace string) error {
	list, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, want := range searchAttributes() {
		have, ok := list.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = want
		case have != want:
			return fmt.Errorf("search attribute %s has type %s, want %s", name, have, want)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	}); err != nil {
		return fmt.Errorf("adding search attributes: %w", err)
	}
	return nil
}

// poll calls f until it succeeds or ctx ends, returning f's last error then.
func poll(ctx context.Context, f func() error) error {
	wait := 10 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}
