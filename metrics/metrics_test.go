package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMetricsExported(t *testing.T) {
	backlog := func(context.Context) (map[string]int, error) { return map[string]int{"ep_1": 3}, nil }
	m := New(backlog, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.EventAccepted("order.created")
	m.DeliveryFinished("succeeded")
	m.Attempt(200, 12*time.Millisecond)
	m.Attempt(503, time.Second)
	m.Attempt(0, time.Second)
	m.LaneHeir(true)
	m.LaneHeir(false)
	m.LaneHeir(false)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`herald_events_accepted_total{event_type="order.created"} 1`,
		`herald_deliveries_total{outcome="succeeded"} 1`,
		`herald_attempts_total{class="2xx"} 1`,
		`herald_attempts_total{class="5xx"} 1`,
		`herald_attempts_total{class="error"} 1`,
		`herald_attempt_duration_seconds_count 3`,
		`herald_endpoint_mailbox_depth{endpoint_id="ep_1"} 3`,
		`herald_lane_heirs_total{how="handed"} 1`,
		`herald_lane_heirs_total{how="finished"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
