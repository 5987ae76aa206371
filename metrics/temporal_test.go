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

// The SDK looks a metric up each time it records one: a lookup of a name
// already used allocates only its label values and the recorder, no names
// (a regular expression ran on the name and every tag key of each lookup,
// 15 allocations and 1% of the process's CPU under load).
func TestSDKMetricLookupIsCheap(t *testing.T) {
	h := New(nil, nil).TemporalHandler().WithTags(map[string]string{
		"namespace": "default", "task_queue": "herald", "worker_type": "WorkflowWorker"})
	h.Counter("temporal_request").Inc(1)
	h.Timer("temporal_workflow_task_execution_latency").Record(time.Millisecond)
	if n := testing.AllocsPerRun(100, func() { h.Counter("temporal_request").Inc(1) }); n > 2 {
		t.Errorf("a counter's lookup allocates %.0f times", n)
	}
	if n := testing.AllocsPerRun(100, func() { h.Timer("temporal_workflow_task_execution_latency").Record(time.Millisecond) }); n > 2 {
		t.Errorf("a timer's lookup allocates %.0f times", n)
	}
	for in, want := range map[string]string{"a-b.c": "a_b_c", "ok_Name9": "ok_Name9", "é": "__"} {
		if got := promName(in); got != want {
			t.Errorf("promName(%q) = %q, want %q", in, got, want)
		}
	}
}
