package metrics

import "github.com/prometheus/client_golang/prometheus"

// Results of a source message, the label of herald_source_messages_total.
const (
	SourceAccepted = "accepted" // became a new event; acknowledged
	SourceRepeat   = "repeat"   // its id was already an event of the app; acknowledged
	SourceRejected = "rejected" // can never be accepted; rejected without requeue
)

func newSourceMessages() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_source_messages_total",
		Help: "Messages consumed from sources, by result (accepted, repeat, rejected) and reason (the error code of a rejection).",
	}, []string{"result", "reason"})
}

// SourceMessage counts one settled source message; reason is the error
// code of a rejection, else empty.
func (m *Metrics) SourceMessage(result, reason string) {
	m.sourceMessages.WithLabelValues(result, reason).Inc()
}
