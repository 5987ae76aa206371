package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/herald-hq/herald/schemas"
)

// An op is one random operation. plan runs in the driver: it draws the
// target and the arguments from the driver's generator (so that a seed
// gives the same choices) and returns what to do, which runs concurrently
// with the rest; nil when there is no fitting target now.
type op struct {
	name   string
	weight int
	plan   func(r *chaosRun, rng *rand.Rand) func(ctx context.Context) error
}

var ops = []op{
	{"cancel", 18, planCancel},
	{"replay", 16, planReplay},
	{"recover", 6, planRecover},
	{"signal-cancel", 4, planSignalCancel},
	{"signal-replay", 3, planSignalReplay},
	{"disable", 8, planDisable},
	{"enable", 12, planEnable},
	{"rotate", 10, planRotate},
	{"delete-endpoint", 3, planDeleteEndpoint},
	{"delete-app", 1, planDeleteApp},
}

func pick[T any](rng *rand.Rand, xs []T) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	return xs[rng.IntN(len(xs))], true
}

// sendEvent posts one event of a live app as one client, until Herald
// answers.
func (r *chaosRun) sendEvent(ctx context.Context, rng *rand.Rand, client, n int) error {
	r.w.mu.Lock()
	a, ok := pick(rng, r.w.liveApps())
	if !ok {
		r.w.mu.Unlock()
		return nil
	}
	e := &eventState{app: a, id: fmt.Sprintf("c%d-%05d", client, n), typ: eventTypes[rng.IntN(len(eventTypes))]}
	if a.keys && rng.Float64() < 0.7 {
		e.key = fmt.Sprintf("k%d", rng.IntN(4))
	}
	e.payload = json.RawMessage(fmt.Sprintf(`{"n":%d,"client":%d,"pad":%q}`, n, client, strings.Repeat("x", rng.IntN(64))))
	r.w.mu.Unlock()
	body := map[string]any{"id": e.id, "event_type": e.typ, "payload": e.payload}
	if e.key != "" {
		body["ordering_key"] = e.key
	}
	ans, err := r.api.call(ctx, "POST", "/v1/apps/"+a.id+"/events", body)
	if err != nil {
		return err
	}
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	e.post, e.status = span{ans.sent, ans.at}, ans.status
	r.w.events = append(r.w.events, e)
	switch {
	case e.accepted():
		var ev apiEvent
		if err := ans.decode(&ev); err != nil {
			return fmt.Errorf("POST event %s to %s: %w", e.id, a.id, err)
		}
		e.none = len(ev.Deliveries) == 0
	case ans.status == http.StatusNotFound && a.deleted != nil:
		// The app was deleted meanwhile: not accepted, and said so.
	default:
		return fmt.Errorf("POST event %s to %s: status %d: %s", e.id, a.id, ans.status, ans.body)
	}
	return nil
}

// recentEvent draws one of the last accepted events.
func (r *chaosRun) recentEvent(rng *rand.Rand) *eventState {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	e, _ := pick(rng, r.w.recentEvents(30))
	return e
}

// liveEndpoint draws an endpoint of a live app.
func (r *chaosRun) liveEndpoint(rng *rand.Rand) *endpointState {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	var eps []*endpointState
	for _, a := range r.w.liveApps() {
		eps = append(eps, a.liveEndpoints()...)
	}
	ep, _ := pick(rng, eps)
	return ep
}

// record runs f under the world's lock.
func (r *chaosRun) record(f func()) {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	f()
}

// outcome is nil when an answer is the one wanted, or a 404 explained by
// a deletion the test started; otherwise the error.
func (r *chaosRun) outcome(what string, ans answer, want int, a *appState, ep *endpointState) error {
	if ans.status == want || (ans.status == http.StatusNotFound && r.gone(a, ep)) {
		return nil
	}
	return fmt.Errorf("%s: status %d: %s", what, ans.status, ans.body)
}

// gone says whether a 404 is explained by a deletion the test started.
func (r *chaosRun) gone(a *appState, ep *endpointState) bool {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	return a.deleted != nil || (ep != nil && ep.deleted != nil)
}

func planCancel(r *chaosRun, rng *rand.Rand) func(context.Context) error {
	e := r.recentEvent(rng)
	if e == nil {
		return nil
	}
	return func(ctx context.Context) error {
		var i int
		r.record(func() { e.cancels = append(e.cancels, span{time.Now(), never}); i = len(e.cancels) - 1 })
		ans, err := r.api.call(ctx, "POST", "/v1/apps/"+e.app.id+"/events/"+e.id+"/cancel", nil)
		if err != nil {
			return err
		}
		r.record(func() { e.cancels[i].at = ans.at })
		return r.outcome("cancel "+e.id, ans, http.StatusAccepted, e.app, nil)
	}
}

func planReplay(r *chaosRun, rng *rand.Rand) func(context.Context) error {
	e := r.recentEvent(rng)
	if e == nil {
		return nil
	}
	var ep *endpointState
	if rng.IntN(2) == 0 {
		r.w.mu.Lock()
		var wanting []*endpointState
		for _, o := range e.app.liveEndpoints() {
			if o.role.wants(e.typ) {
				wanting = append(wanting, o)
			}
		}
		ep, _ = pick(rng, wanting)
		r.w.mu.Unlock()
	}
	return func(ctx context.Context) error {
		rp := replay{span: span{time.Now(), never}}
		body := map[string]any{}
		if ep != nil {
			rp.endpointID = ep.id
			body["endpoint_id"] = ep.id
		}
		// Noted before it is sent: from then on it may deliver again.
		var i int
		r.record(func() { e.replays = append(e.replays, rp); i = len(e.replays) - 1 })
		ans, err := r.api.call(ctx, "POST", "/v1/apps/"+e.app.id+"/events/"+e.id+"/replay", body)
		if err != nil {
			return err
		}
		r.record(func() { e.replays[i].at, e.replays[i].status = ans.at, ans.status })
		if ans.status == http.StatusNotFound && ep != nil && strings.Contains(string(ans.body), `"delivery_not_found"`) {
			return nil // the endpoint did not get the event: created after it, or disabled then
		}
		return r.outcome("replay "+e.id, ans, http.StatusAccepted, e.app, ep)
	}
}

// planSignalCancel sends an operator's cancel signal straight to the
// event's workflow, as `temporal workflow signal` does. It takes effect
// when the workflow takes it, some time after it is sent: its span never
// ends, which lets it explain a cancelled delivery and forbids nothing.
func planSignalCancel(r *chaosRun, rng *rand.Rand) func(context.Context) error {
	e := r.recentEvent(rng)
	if e == nil {
		return nil
	}
	return func(ctx context.Context) error {
		sent, taken, maybe := r.signal(ctx, e, schemas.SignalCancel, nil)
		if taken || maybe {
			r.record(func() { e.cancels = append(e.cancels, span{sent, never}) })
		}
		return nil
	}
}

// planSignalReplay sends an operator's replay signal for every endpoint.
// One taken by the workflow (its run was open) must deliver again, as the
// API's replay does.
func planSignalReplay(r *chaosRun, rng *rand.Rand) func(context.Context) error {
	e := r.recentEvent(rng)
	if e == nil {
		return nil
	}
	return func(ctx context.Context) error {
		sent, taken, maybe := r.signal(ctx, e, schemas.SignalReplay, schemas.ReplaySignal{})
		if taken || maybe {
			rp := replay{span: span{sent, never}} // status 0: may have re-queued, need not have
			if taken {
				rp.status = http.StatusAccepted
			}
			r.record(func() { e.replays = append(e.replays, rp) })
		}
		return nil
	}
}

// signal sends a signal to e's workflow until Temporal answers (Herald's
// kills take its embedded server down with it). taken: the workflow got
// it; maybe: an answer lost to a kill may hide a signal it got, before one
// answered that its run had closed.
func (r *chaosRun) signal(ctx context.Context, e *eventState, name string, arg any) (sent time.Time, taken, maybe bool) {
	sent = time.Now()
	id := schemas.EventWorkflowID(e.app.id, e.id)
	for ctx.Err() == nil {
		err := r.temporal.SignalWorkflow(ctx, id, "", name, arg)
		var notFound *serviceerror.NotFound
		switch {
		case err == nil:
			return sent, true, false
		case errors.As(err, &notFound):
			return sent, false, maybe
		}
		maybe = true
		time.Sleep(200 * time.Millisecond)
	}
	return sent, false, maybe
}

func planRecover(r *chaosRun, rng *rand.Rand) func(context.Context) error {
	ep := r.liveEndpoint(rng)
	if ep == nil {
		return nil
	}
	return func(ctx context.Context) error {
		var i int
		r.record(func() {
			ep.recovers = append(ep.recovers, recovery{span: span{time.Now(), never}})
			i = len(ep.recovers) - 1
		})
		ans, err := r.api.call(ctx, "POST", "/v1/apps/"+ep.app.id+"/endpoints/"+ep.id+"/recover",
			map[string]any{"since": r.since()})
		if err != nil {
			return err
		}
		r.record(func() { ep.recovers[i].at, ep.recovers[i].status = ans.at, ans.status })
		return r.outcome("recover "+ep.rc.name, ans, http.StatusAccepted, ep.app, ep)
	}
}

func planDisable(r *chaosRun, rng *rand.Rand) func(context.Context) error {
	return planToggle(r, rng, true)
}

func planEnable(r *chaosRun, rng *rand.Rand) func(context.Context) error {
	return planToggle(r, rng, false)
}

func planToggle(r *chaosRun, rng *rand.Rand, disable bool) func(context.Context) error {
	ep := r.liveEndpoint(rng)
	if ep == nil {
		return nil
	}
	return func(ctx context.Context) error {
		var i int
		r.record(func() {
			ep.toggles = append(ep.toggles, toggle{disable: disable, span: span{time.Now(), never}})
			i = len(ep.toggles) - 1
		})
		ans, err := r.api.call(ctx, "PATCH", "/v1/apps/"+ep.app.id+"/endpoints/"+ep.id, map[string]any{"disabled": disable})
		if err != nil {
			return err
		}
		r.record(func() { ep.toggles[i].at = ans.at })
		return r.outcome(fmt.Sprintf("PATCH disabled=%v %s", disable, ep.rc.name), ans, http.StatusOK, ep.app, ep)
	}
}

func planRotate(r *chaosRun, rng *rand.Rand) func(context.Context) error {
	ep := r.liveEndpoint(rng)
	if ep == nil {
		return nil
	}
	key := newSecret(rng)
	return func(ctx context.Context) error {
		// Known before it is sent: Herald may sign with it at once.
		r.record(func() { ep.secrets = append(ep.secrets, key) })
		ans, err := r.api.call(ctx, "POST", "/v1/apps/"+ep.app.id+"/endpoints/"+ep.id+"/secret/rotate",
			map[string]any{"key": key})
		if err != nil {
			return err
		}
		return r.outcome("rotate "+ep.rc.name, ans, http.StatusOK, ep.app, ep)
	}
}

// planDeleteEndpoint deletes an endpoint and gives its app a new one in
// its role, with a new receiver.
func planDeleteEndpoint(r *chaosRun, rng *rand.Rand) func(context.Context) error {
	ep := r.liveEndpoint(rng)
	if ep == nil {
		return nil
	}
	r.w.mu.Lock()
	ep.deleted = &span{never, never} // no longer drawn; the times come below
	generation := 0
	for _, o := range ep.app.endpoints {
		if o.role.name == ep.role.name {
			generation++
		}
	}
	r.w.mu.Unlock()
	next := r.planEndpoint(rng, ep.app, ep.role, generation)
	return func(ctx context.Context) error {
		r.record(func() { ep.deleted.sent = time.Now() })
		ans, err := r.api.must(ctx, "DELETE", "/v1/apps/"+ep.app.id+"/endpoints/"+ep.id, nil,
			http.StatusNoContent, http.StatusNotFound)
		if err != nil {
			return err
		}
		r.record(func() { ep.deleted.at = ans.at })
		if r.gone(ep.app, nil) {
			return nil
		}
		if err := r.makeEndpoint(ctx, next); err != nil && !r.gone(ep.app, nil) {
			return err
		}
		return nil
	}
}

// planDeleteApp deletes an app (its events go with it) and makes the next
// incarnation of its slot; at most one app is being deleted at a time.
func planDeleteApp(r *chaosRun, rng *rand.Rand) func(context.Context) error {
	r.w.mu.Lock()
	live := r.w.liveApps()
	if len(live) < r.cfg.apps {
		r.w.mu.Unlock()
		return nil
	}
	a, _ := pick(rng, live)
	a.deleted = &span{never, never}
	r.w.mu.Unlock()
	next := r.planApp(rng, a.slot, a.incarnation+1)
	return func(ctx context.Context) error {
		r.record(func() { a.deleted.sent = time.Now() })
		ans, err := r.api.must(ctx, "DELETE", "/v1/apps/"+a.id, nil, http.StatusNoContent, http.StatusNotFound)
		if err != nil {
			return err
		}
		r.record(func() { a.deleted.at = ans.at })
		return r.makeApp(ctx, next)
	}
}
