package workflows

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

// keySuffix is the coroutine/attempt part of an attempt key.
func keySuffix(key string) string { return key[strings.Index(key, "/")+1:] }

// The first attempts of an event's unordered targets are made in one
// DeliverFirst call, each under the key its own Deliver call would have;
// the ordered target keeps its own path, and a retry is its target's own
// Deliver call on its own schedule.
func TestFirstAttemptsTogether(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = func(n int, req schemas.DeliverRequest) schemas.DeliverResult {
		if req.EndpointID == "ep_b" && n == 0 {
			return schemas.DeliverResult{Outcome: schemas.OutcomeRetry, RetryIn: req.NextDelay}
		}
		return schemas.DeliverResult{Outcome: schemas.OutcomeSucceeded}
	}
	h.run(t, input(unordered("ep_a"), schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 2},
		unordered("ep_b"), unordered("ep_c")))

	firsts := h.acts.firstCalls()
	require.Len(t, firsts, 1, "one DeliverFirst call for the event")
	var eps, keys []string
	for _, r := range firsts[0].Requests {
		eps, keys = append(eps, r.EndpointID), append(keys, keySuffix(r.Key))
		require.Equal(t, 5*time.Second, r.NextDelay)
	}
	require.Equal(t, []string{"ep_a", "ep_b", "ep_c"}, eps)
	require.Equal(t, []string{"0/0", "2/0", "3/0"}, keys)

	calls := h.acts.deliverCalls()
	require.Len(t, calls, 5, "three first attempts, the ordered one, one retry")
	var retry, ordered *deliverCall
	for i, c := range calls {
		switch {
		case c.req.EndpointID == "ep_o":
			ordered = &calls[i]
		case c.req.EndpointID == "ep_b" && keySuffix(c.req.Key) == "2/1":
			retry = &calls[i]
		}
	}
	require.NotNil(t, ordered, "the ordered target is delivered on its own")
	require.Equal(t, "1/0", keySuffix(ordered.req.Key))
	require.NotNil(t, retry, "ep_b's retry is its own Deliver call")
	require.Equal(t, 5*time.Second, retry.at.Sub(calls[0].at))
	require.Equal(t, []string{"ep_o"}, h.acts.passes)
	require.Equal(t, schemas.EventStatusView{Status: schemas.EventDelivered, Deliveries: map[string]schemas.DeliveryStatus{
		"ep_a": "succeeded", "ep_b": "succeeded", "ep_c": "succeeded", "ep_o": "succeeded"}}, h.query(t))
}

// A run the dispatcher starts (FirstTogether) makes its first attempts
// together without asking workflow.GetVersion, whose marker and upsert of
// the TemporalChangeVersion search attribute were two history events of
// every fanned-out event. A run started before the flag still asks, and
// so replays as it was recorded.
func TestFirstTogetherAsksNoVersion(t *testing.T) {
	for _, flag := range []bool{true, false} {
		t.Run(fmt.Sprint("FirstTogether=", flag), func(t *testing.T) {
			h := newHarness(t)
			asked := 0
			h.env.OnGetVersion(firstTogether, workflow.DefaultVersion, 1).Run(func(mock.Arguments) { asked++ }).
				Return(workflow.Version(1)).Maybe()
			in := input(unordered("ep_a"), unordered("ep_b"))
			in.FirstTogether = flag
			h.run(t, in)
			require.Len(t, h.acts.firstCalls(), 1, "one DeliverFirst call for the event")
			want := 1
			if flag {
				want = 0
			}
			require.Equal(t, want, asked, "GetVersion(%s) calls", firstTogether)
		})
	}
}

// One unordered target keeps one Deliver call: nothing to share.
func TestFirstAttemptAloneIsItsOwnCall(t *testing.T) {
	h := newHarness(t)
	h.run(t, input(unordered("ep_a"), schemas.Target{EndpointID: "ep_o", Ordered: true, Seq: 1}))
	require.Empty(t, h.acts.firstCalls())
	require.Len(t, h.acts.deliverCalls(), 2)
}

// A request DeliverFirst answers with an error is called alone, under the
// same key, so that an attempt made before the error is not made twice.
func TestFirstAttemptErrorCallsAlone(t *testing.T) {
	h := newHarness(t)
	h.acts.firstErr = func(req schemas.DeliverRequest) string {
		if req.EndpointID == "ep_b" {
			return "database is locked"
		}
		return ""
	}
	h.run(t, input(unordered("ep_a"), unordered("ep_b")))
	require.Len(t, h.acts.firstCalls(), 1)
	calls := h.acts.deliverCalls()
	require.Len(t, calls, 2)
	require.Equal(t, "ep_b", calls[1].req.EndpointID)
	require.Equal(t, "1/0", keySuffix(calls[1].req.Key))
	require.Equal(t, schemas.EventDelivered, h.query(t).Status)
}

// A cancel that arrives while the first attempts are under way stops the
// retries, not the attempts: their results are taken and recorded.
func TestCancelDuringFirstAttempts(t *testing.T) {
	h := newHarness(t)
	h.acts.deliver = retryThen(100, schemas.OutcomeSucceeded)
	h.signal(time.Second, schemas.SignalCancel, schemas.CancelSignal{})
	h.run(t, input(unordered("ep_a"), unordered("ep_b")))
	require.Len(t, h.acts.firstCalls(), 1)
	require.Len(t, h.acts.deliverCalls(), 2, "no attempt after the cancel")
	require.Equal(t, schemas.EventCancelled, h.query(t).Status)
}

// decodeCounter counts the decodes of DeliverFirst's results.
type decodeCounter struct {
	converter.DataConverter
	firsts int
}

func (c *decodeCounter) FromPayloads(ps *commonpb.Payloads, to ...any) error {
	for _, v := range to {
		if _, ok := v.(*schemas.DeliverFirstResult); ok {
			c.firsts++
		}
	}
	return c.DataConverter.FromPayloads(ps, to...)
}

// The coroutines of an event's first attempts share one DeliverFirst
// result, decoded once: it lists every target's, so decoding it in each
// coroutine grew with the square of the targets.
func TestFirstAttemptsDecodedOnce(t *testing.T) {
	h := newHarness(t)
	dc := &decodeCounter{DataConverter: converter.GetDefaultDataConverter()}
	h.env.SetDataConverter(dc)
	var targets []schemas.Target
	for i := range 10 {
		targets = append(targets, unordered(fmt.Sprintf("ep_%d", i)))
	}
	h.run(t, input(targets...))
	require.Len(t, h.acts.firstCalls(), 1)
	require.Equal(t, schemas.EventDelivered, h.query(t).Status)
	require.Equal(t, 1, dc.firsts, "decodes of the DeliverFirst result")
}
