package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/herald-hq/herald/internal/searchattr"
)

// connectTimeout bounds the first contact with Temporal: an unreachable
// frontend should stop the start with a clear line, not hang it.
const connectTimeout = 20 * time.Second

// dialTemporal connects to a Temporal frontend with the TLS and API key of
// conn. The SDK's own logs go to the same logger, from warnings up (at info
// it logs every poll); its metrics go to metricsHandler (nil: none).
func dialTemporal(ctx context.Context, addr, namespace string, conn TemporalConn, logger *slog.Logger, metricsHandler client.MetricsHandler) (client.Client, error) {
	sdkLogger := slog.New(levelFloor{logger.Handler(), slog.LevelWarn})
	opts := client.Options{
		HostPort:       addr,
		Namespace:      namespace,
		Logger:         sdklog.NewStructuredLogger(sdkLogger),
		MetricsHandler: metricsHandler,
		ConnectionOptions: client.ConnectionOptions{
			TLS:         conn.TLS,
			TLSDisabled: conn.TLSDisabled,
		},
	}
	if conn.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(conn.APIKey)
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("HERALD_TEMPORAL_ADDRESS: cannot reach Temporal at %s: %s", addr, oneLine(err))
	}
	return c, nil
}

// checkNamespace stops a production start that would fail every event
// later: a namespace that does not exist, or one without Herald's search
// attributes (every start would be refused, and only the server's log
// would say why). With register set it adds the missing attributes.
func checkNamespace(ctx context.Context, c client.Client, addr, namespace string, register bool, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	var notFound *serviceerror.NamespaceNotFound
	switch {
	case errors.As(err, &notFound):
		return fmt.Errorf("HERALD_TEMPORAL_NAMESPACE: namespace %q does not exist on %s; create it with: temporal operator namespace create --address %s --namespace %s",
			namespace, addr, addr, namespace)
	case err != nil:
		return fmt.Errorf("HERALD_TEMPORAL_NAMESPACE: describe namespace %q on %s: %s", namespace, addr, oneLine(err))
	}
	missing, err := searchattr.Missing(ctx, c.OperatorService(), namespace)
	if err != nil {
		return fmt.Errorf("HERALD_TEMPORAL_NAMESPACE: %s", oneLine(err))
	}
	if len(missing) == 0 {
		return nil
	}
	if !register {
		return fmt.Errorf("HERALD_TEMPORAL_NAMESPACE: namespace %q lacks Herald's search attributes %s; add them with: %s (or start with HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES=true to let Herald add them)",
			namespace, strings.Join(missing, ", "), searchattr.Command(addr, namespace, missing))
	}
	if err := searchattr.Add(ctx, c.OperatorService(), namespace, missing); err != nil {
		return fmt.Errorf("HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES: %s", oneLine(err))
	}
	logger.Info("registered search attributes", "namespace", namespace, "names", missing)
	return nil
}

// oneLine keeps an error on one line: gRPC errors can carry newlines.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// levelFloor drops records below a level, whatever the wrapped handler allows.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// Handle drops the SDK's warning that a workflow task ran over 5 s
// (TMPRL1104): Herald's tasks run their attempts as local activities, and
// an ordered delivery waits for its turn inside one (activities'
// AcquireTurn), so a long task is the design working, not a stuck worker.
func (h levelFloor) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "[TMPRL1104]") {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(a), h.min}
}

func (h levelFloor) WithGroup(name string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(name), h.min}
}
