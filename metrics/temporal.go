package metrics

import (
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// TemporalHandler exports the Temporal SDK's own metrics (requests, polls,
// task latencies, slots, sticky cache) beside Herald's, on the same
// registry, so one /metrics shows both. Names follow the SDK's Prometheus
// convention, which Temporal's published dashboards use: counters end in
// _total, timers are histograms in seconds ending in _seconds.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	m.sdkOnce.Do(func() { m.sdk = &sdkMetrics{reg: m.registry, vecs: map[string]*sdkVec{}} })
	return sdkHandler{m: m.sdk}
}

// sdkMetrics holds one vector per metric name. Prometheus wants a fixed set
// of label names per name; the SDK's tags for one name are fixed in
// practice, so the first use decides them and a later tag outside that set
// is dropped rather than failing the scrape.
type sdkMetrics struct {
	reg  *prometheus.Registry
	mu   sync.Mutex
	vecs map[string]*sdkVec
}

type sdkVec struct {
	labels    []string
	counter   *prometheus.CounterVec
	gauge     *prometheus.GaugeVec
	histogram *prometheus.HistogramVec
}

type sdkKind int

const (
	sdkCounter sdkKind = iota
	sdkGauge
	sdkTimer
)

var invalidLabel = regexp.MustCompile(`[^a-zA-Z0-9_]`)

func (s *sdkMetrics) vec(name string, kind sdkKind, tags map[string]string) (*sdkVec, []string) {
	name = invalidLabel.ReplaceAllString(name, "_")
	switch kind {
	case sdkCounter:
		name += "_total"
	case sdkTimer:
		name += "_seconds"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vecs[name]
	if !ok {
		v = &sdkVec{}
		for k := range tags {
			v.labels = append(v.labels, invalidLabel.ReplaceAllString(k, "_"))
		}
		slices.Sort(v.labels)
		v.labels = slices.Compact(v.labels)
		help := "Temporal SDK metric " + name + "."
		var c prometheus.Collector
		switch kind {
		case sdkCounter:
			v.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, v.labels)
			c = v.counter
		case sdkGauge:
			v.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, v.labels)
			c = v.gauge
		case sdkTimer:
			v.histogram = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help,
				Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14)}, v.labels)
			c = v.histogram
		}
		if err := s.reg.Register(c); err != nil {
			// A name of another kind taken earlier: keep the first, drop this one.
			return nil, nil
		}
		s.vecs[name] = v
	}
	if (kind == sdkCounter) != (v.counter != nil) || (kind == sdkGauge) != (v.gauge != nil) {
		return nil, nil
	}
	values := make([]string, len(v.labels))
	for k, val := range tags {
		if i := slices.Index(v.labels, invalidLabel.ReplaceAllString(k, "_")); i >= 0 {
			values[i] = val
		}
	}
	return v, values
}

// sdkHandler is the SDK's view: a set of tags and the metrics they label.
type sdkHandler struct {
	m    *sdkMetrics
	tags map[string]string
}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return sdkHandler{m: h.m, tags: merged}
}

func (h sdkHandler) Counter(name string) client.MetricsCounter {
	v, values := h.m.vec(name, sdkCounter, h.tags)
	if v == nil {
		return client.MetricsNopHandler.Counter(name)
	}
	c := v.counter.WithLabelValues(values...)
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	v, values := h.m.vec(name, sdkGauge, h.tags)
	if v == nil {
		return client.MetricsNopHandler.Gauge(name)
	}
	g := v.gauge.WithLabelValues(values...)
	return gaugeFunc(g.Set)
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	v, values := h.m.vec(name, sdkTimer, h.tags)
	if v == nil {
		return client.MetricsNopHandler.Timer(name)
	}
	o := v.histogram.WithLabelValues(values...)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
