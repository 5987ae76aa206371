package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The SDK's counters, gauges and timers appear on the same /metrics as
// Herald's, under the names Temporal's dashboards use; a tag outside the
// first use's set is dropped rather than breaking the scrape.
func TestTemporalHandlerExportsSDKMetrics(t *testing.T) {
	m := New(nil, nil)
	h := m.TemporalHandler().WithTags(map[string]string{"namespace": "default"})
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution", "extra-tag": "x"}).Counter("temporal_request").Inc(1)
	h.Gauge("temporal_worker_task_slots_available").Update(7)
	h.Timer("temporal_workflow_task_execution_latency").Record(30 * time.Millisecond)
	m.TemporalHandler().Counter("temporal_request").Inc(1) // fewer tags than the first use

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 {
		t.Fatalf("scrape: %d %s", rec.Code, body)
	}
	for _, want := range []string{
		`temporal_request_total{namespace="default",operation="StartWorkflowExecution"} 3`,
		`temporal_request_total{namespace="",operation=""} 1`,
		`temporal_worker_task_slots_available{namespace="default"} 7`,
		`temporal_workflow_task_execution_latency_seconds_count{namespace="default"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}
