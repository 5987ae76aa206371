package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// underTest is a running Herald the end-to-end scenarios talk to: `herald
// dev` (*devProc) or the production shape (*prodShape). The scenarios
// (scenarioX functions) take one, so both shapes run the same flows.
type underTest interface {
	apiBase() (base, token string)
	temporalAddr() string
	// metricsText is what every Herald process serves on /metrics, together.
	metricsText(t testing.TB) string
}

// sharedScenarios are the flows every shape must pass: delivery, retries,
// ordering, fan-out, idempotency, cancel, replay, recover, rotation and
// rate limits. Each makes its own app, so they run in parallel on one
// instance.
var sharedScenarios = []struct {
	name string
	run  func(*testing.T, underTest)
}{
	{"DeliverSignedHappyPath", scenarioDeliverSignedHappyPath},
	{"RetriesUntilSuccess", scenarioRetriesUntilSuccess},
	{"ExhaustionFails", scenarioExhaustionFails},
	{"OrderedDeliveryWithFailures", scenarioOrderedDeliveryWithFailures},
	{"UnorderedFanOutAndTypeFilter", scenarioUnorderedFanOutAndTypeFilter},
	{"IdempotentRepost", scenarioIdempotentRepost},
	{"SchemaFailureChangesNothing", scenarioSchemaFailureChangesNothing},
	{"CancelBySignalDuringSlowAttempt", scenarioCancelBySignalDuringSlowAttempt},
	{"ReplayAfterSuccessAndAfterClose", scenarioReplayAfterSuccessAndAfterClose},
	{"ReplayBySignal", scenarioReplayBySignal},
	{"RecoverFailedWindow", scenarioRecoverFailedWindow},
	{"SecretRotationSignsWithBothKeys", scenarioSecretRotationSignsWithBothKeys},
	{"Ed25519Endpoint", scenarioEd25519Endpoint},
	{"RateLimitHolds", scenarioRateLimitHolds},
}

func (p *devProc) apiBase() (string, string) { return p.api.base, p.api.token }
func (p *devProc) temporalAddr() string      { return p.temporal }
func (p *devProc) metricsText(t testing.TB) string {
	return getText(t, p.api.base+"/metrics")
}

// getText GETs url and returns the body of a 200 answer.
func getText(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// metricValue sums the samples of a metric line prefix (name and labels)
// in Prometheus text.
func metricValue(text, prefix string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		rest := strings.TrimPrefix(line, prefix)
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}
