package metrics

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRoutingMetricsExported(t *testing.T) {
	m := New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.RoutingError("filter")
	m.RoutingError("filter")
	m.RoutingError("transform")
	m.RoutingUnchecked("filter")

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`herald_routing_errors_total{kind="filter"} 2`,
		`herald_routing_errors_total{kind="transform"} 1`,
		`herald_routing_unchecked_total{kind="filter"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
