package metrics

import "github.com/prometheus/client_golang/prometheus"

// routingMetrics count what goes wrong with endpoint filters and transforms.
type routingMetrics struct {
	errors    *prometheus.CounterVec
	unchecked *prometheus.CounterVec
}

func newRoutingMetrics(reg *prometheus.Registry) routingMetrics {
	r := routingMetrics{
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_routing_errors_total",
			Help: "Evaluation errors of endpoint filters (counted as no match) and transforms (a failed attempt), by kind.",
		}, []string{"kind"}),
		unchecked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_routing_unchecked_total",
			Help: "Endpoint filters and transforms found no longer type-checking after an event type's schema changed, by kind.",
		}, []string{"kind"}),
	}
	reg.MustRegister(r.errors, r.unchecked)
	return r
}

// RoutingError counts an evaluation error of a filter or a transform.
func (m *Metrics) RoutingError(kind string) {
	m.routing.errors.WithLabelValues(kind).Inc()
}

// RoutingUnchecked counts a filter or transform that an event type's new
// schema no longer type-checks.
func (m *Metrics) RoutingUnchecked(kind string) {
	m.routing.unchecked.WithLabelValues(kind).Inc()
}
