package metrics

import (
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
	m.sdkOnce.Do(func() { m.sdk = &sdkMetrics{reg: m.registry, vecs: map[sdkKey]*sdkVec{}, made: map[string]*sdkVec{}} })
	return sdkHandler{m: m.sdk}
}

// sdkMetrics holds one vector per metric name. Prometheus wants a fixed set
// of label names per name; the SDK's tags for one name are fixed in
// practice, so the first use decides them and a later tag outside that set
// is dropped rather than failing the scrape.
//
// The SDK looks a metric up by name each time it records one, several
// times per workflow task, so a lookup finds the vector by the SDK's own
// name and tag keys and makes a Prometheus name only on first use: doing
// it on every lookup (a regular expression per name and tag) was 1% of
// the process's CPU under load.
type sdkMetrics struct {
	reg  *prometheus.Registry
	mu   sync.Mutex
	vecs map[sdkKey]*sdkVec // nil: the name is taken by another kind
	made map[string]*sdkVec // by Prometheus name
}

type sdkKey struct {
	name string
	kind sdkKind
}

type sdkVec struct {
	kind      sdkKind
	labels    []string       // Prometheus label names, sorted
	index     map[string]int // the first use's tag keys -> their label's place
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

// promName makes s a valid Prometheus name: every byte outside
// [a-zA-Z0-9_] becomes '_'. A valid s is returned as it is.
func promName(s string) string {
	valid := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
	}
	for i := 0; i < len(s); i++ {
		if !valid(s[i]) {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if !valid(b[j]) {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return s
}

// vec finds the vector of the SDK's metric name, made on its first use,
// and the label values of tags in its order; nil when the name is taken
// by a metric of another kind.
func (s *sdkMetrics) vec(name string, kind sdkKind, tags map[string]string) (*sdkVec, []string) {
	s.mu.Lock()
	v, ok := s.vecs[sdkKey{name, kind}]
	if !ok {
		v = s.register(name, kind, tags)
		s.vecs[sdkKey{name, kind}] = v
	}
	s.mu.Unlock()
	if v == nil {
		return nil, nil
	}
	values := make([]string, len(v.labels))
	for k, val := range tags {
		i, ok := v.index[k]
		if !ok {
			i = slices.Index(v.labels, promName(k))
		}
		if i >= 0 {
			values[i] = val
		}
	}
	return v, values
}

// register registers the vector of a name's first use; s.mu is held.
func (s *sdkMetrics) register(name string, kind sdkKind, tags map[string]string) *sdkVec {
	prom := promName(name)
	switch kind {
	case sdkCounter:
		prom += "_total"
	case sdkTimer:
		prom += "_seconds"
	}
	if v, ok := s.made[prom]; ok { // another SDK name with the same Prometheus name
		if v.kind != kind {
			return nil
		}
		return v
	}
	v := &sdkVec{kind: kind, index: make(map[string]int, len(tags))}
	for k := range tags {
		v.labels = append(v.labels, promName(k))
	}
	slices.Sort(v.labels)
	v.labels = slices.Compact(v.labels)
	for k := range tags {
		v.index[k] = slices.Index(v.labels, promName(k))
	}
	help := "Temporal SDK metric " + prom + "."
	var c prometheus.Collector
	switch kind {
	case sdkCounter:
		v.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: prom, Help: help}, v.labels)
		c = v.counter
	case sdkGauge:
		v.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: prom, Help: help}, v.labels)
		c = v.gauge
	case sdkTimer:
		v.histogram = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: prom, Help: help,
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14)}, v.labels)
		c = v.histogram
	}
	if err := s.reg.Register(c); err != nil {
		// A name Herald's own metrics use: keep theirs, drop this one.
		return nil
	}
	s.made[prom] = v
	return v
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
