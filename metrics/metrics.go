// Package metrics holds Herald's Prometheus metrics. One *Metrics is made in
// main and passed to whoever observes; nothing is registered globally.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herald-hq/herald/schemas"
)

// BacklogFunc reports, per endpoint, how many ordered deliveries wait.
type BacklogFunc func(ctx context.Context) (map[string]int, error)

// Metrics are the counters and histograms Herald exports.
type Metrics struct {
	registry       *prometheus.Registry
	eventsAccepted *prometheus.CounterVec
	deliveries     *prometheus.CounterVec
	attempts       *prometheus.CounterVec
	attemptLatency prometheus.Histogram
	laneHeirs      *prometheus.CounterVec
	sourceMessages *prometheus.CounterVec
	routing        routingMetrics

	sdkOnce sync.Once
	sdk     *sdkMetrics // the Temporal SDK's metrics, made on first use
}

// New makes the metrics and registers them, with the Go and process
// collectors, on a registry of their own. backlog may be nil.
func New(backlog BacklogFunc, logger *slog.Logger) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		eventsAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_events_accepted_total",
			Help: "Events accepted by the API (202), by event type.",
		}, []string{"event_type"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_deliveries_total",
			Help: "Deliveries that reached a final state, by outcome (succeeded, failed, cancelled).",
		}, []string{"outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_attempts_total",
			Help: "Delivery attempts, by answer class (2xx, 3xx, 4xx, 5xx, error).",
		}, []string{"class"}),
		attemptLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_attempt_duration_seconds",
			Help:    "Duration of delivery attempts, request sent to answer read.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		laneHeirs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_lane_heirs_total",
			Help: "Ordered lanes a long drain passed to an heir, by how: handed (the heir's workflow took the lane and drains on) or finished (the drain made the heir's delivery final itself).",
		}, []string{"how"}),
	}
	m.sourceMessages = newSourceMessages()
	m.registry.MustRegister(m.eventsAccepted, m.deliveries, m.attempts, m.attemptLatency, m.laneHeirs, m.sourceMessages,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.routing = newRoutingMetrics(m.registry)
	if backlog != nil {
		m.registry.MustRegister(&backlogCollector{fn: backlog, logger: logger, desc: prometheus.NewDesc(
			"herald_endpoint_mailbox_depth",
			"Deliveries waiting for their turn at an ordered endpoint.",
			[]string{"endpoint_id"}, nil)})
	}
	return m
}

// Handler serves the metrics in Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// EventAccepted counts one accepted event.
func (m *Metrics) EventAccepted(eventType string) {
	m.eventsAccepted.WithLabelValues(eventType).Inc()
}

// DeliveryFinished counts a delivery reaching a final status.
func (m *Metrics) DeliveryFinished(outcome schemas.Outcome) {
	m.deliveries.WithLabelValues(string(outcome)).Inc()
}

// Attempt counts one attempt: its HTTP status (0 when the request failed) and duration.
func (m *Metrics) Attempt(status int, d time.Duration) {
	class := "error"
	if status >= 100 && status < 600 {
		class = strconv.Itoa(status/100) + "xx"
	}
	m.attempts.WithLabelValues(class).Inc()
	m.attemptLatency.Observe(d.Seconds())
}

// LaneHeir counts a drain's heir: handed the lane, or made final by the drain.
func (m *Metrics) LaneHeir(handed bool) {
	how := "finished"
	if handed {
		how = "handed"
	}
	m.laneHeirs.WithLabelValues(how).Inc()
}

type backlogCollector struct {
	fn     BacklogFunc
	logger *slog.Logger
	desc   *prometheus.Desc
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	depths, err := c.fn(ctx)
	if err != nil {
		c.logger.Warn("read endpoint backlog for metrics", "err", err)
		return
	}
	for ep, n := range depths {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), ep)
	}
}
