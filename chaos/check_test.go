package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// apiEvent is an event as the API shows it.
type apiEvent struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Deliveries []struct {
		EndpointID string `json:"endpoint_id"`
		Status     string `json:"status"`
		Attempts   []struct {
			Attempt        int       `json:"attempt"`
			StartedAt      time.Time `json:"started_at"`
			DurationMS     int64     `json:"duration_ms"`
			ResponseStatus int       `json:"response_status"`
			Error          string    `json:"error"`
		} `json:"attempts"`
	} `json:"deliveries"`
}

// check reads Herald's record of every accepted event and compares it,
// the receivers' and Temporal's with what the test did.
func (r *chaosRun) check(ctx context.Context) report {
	var rep report
	// The run is over: the model no longer changes.
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	got := map[*eventState]apiEvent{}
	for _, e := range r.w.events {
		if !e.accepted() {
			continue
		}
		ans, err := r.api.call(ctx, "GET", "/v1/apps/"+e.app.id+"/events/"+e.id, nil)
		switch {
		case err != nil:
			rep.violate("GET event %s/%s: %v", e.app.id, e.id, err)
		case e.app.deleted != nil:
			if ans.status != http.StatusNotFound {
				rep.violate("event %s/%s of a deleted app: GET answered %d, want 404", e.app.id, e.id, ans.status)
			}
		case ans.status != http.StatusOK:
			rep.violate("GET event %s/%s: status %d: %s", e.app.id, e.id, ans.status, ans.body)
		default:
			var ev apiEvent
			if err := ans.decode(&ev); err != nil {
				rep.violate("%v", err)
				continue
			}
			got[e] = ev
		}
	}
	for _, e := range r.w.events {
		if ev, ok := got[e]; ok {
			r.checkEvent(&rep, e, ev)
		}
	}
	for _, a := range r.w.apps {
		for _, ep := range a.endpoints {
			r.checkReceiver(&rep, ep, got)
			if ep.role.ordered {
				r.checkLanes(&rep, ep)
			}
		}
	}
	r.checkWorkflows(ctx, &rep, got)
	return rep
}

var finalDelivery = map[string]bool{"succeeded": true, "failed": true, "cancelled": true}

// checkEvent: the event and each delivery ended; the deliveries are for the
// endpoints it was for; each delivery's end is backed by what the receiver
// got or by an operation that explains it; no attempt started after a stop.
func (r *chaosRun) checkEvent(rep *report, e *eventState, ev apiEvent) {
	name := e.app.id + "/" + e.id
	if ev.Status == "pending" {
		rep.violate("event %s still pending: %+v", name, ev.Deliveries)
	}
	byID := map[string]*endpointState{}
	for _, ep := range e.app.endpoints {
		byID[ep.id] = ep
	}
	has := map[string]bool{}
	allSucceeded := true
	for _, d := range ev.Deliveries {
		has[d.EndpointID] = true
		allSucceeded = allSucceeded && d.Status == "succeeded"
		ep := byID[d.EndpointID]
		switch {
		case ep == nil:
			rep.violate("event %s has a delivery to %s, not an endpoint of its app", name, d.EndpointID)
			continue
		case !ep.role.wants(e.typ):
			rep.violate("event %s of type %s has a delivery to %s, which wants %v", name, e.typ, ep.rc.name, ep.role.types)
		case !ep.created.sent.Before(e.post.at):
			rep.violate("event %s has a delivery to %s, created after the event was accepted", name, ep.rc.name)
		}
		if !finalDelivery[d.Status] {
			rep.violate("event %s: delivery to %s still %s", name, ep.rc.name, d.Status)
		}
		switch d.Status {
		case "succeeded":
			if !ep.rc.succeeded(e.id, time.Time{}) {
				rep.violate("event %s: delivery to %s succeeded, but its receiver never answered it 2xx", name, ep.rc.name)
			}
			for _, rp := range replayedSince(e, ep) {
				rep.add("replays followed", 1)
				if !ep.rc.succeeded(e.id, rp.sent) {
					rep.violate("event %s: delivery to %s succeeded, but no 2xx POST came after its replay %s; the receiver got %s",
						name, ep.rc.name, rp.span, ep.rc.posts(e.id))
				}
			}
		case "failed":
			if len(d.Attempts) == 0 {
				rep.violate("event %s: delivery to %s failed without an attempt", name, ep.rc.name)
				break
			}
			// A recover answered after the delivery had failed delivers it
			// again: it cannot have stayed failed without a later attempt.
			var last time.Time
			for _, at := range d.Attempts {
				if end := at.StartedAt.Add(time.Duration(at.DurationMS) * time.Millisecond); end.After(last) {
					last = end
				}
			}
			for _, rc := range ep.recovers {
				if rc.status != http.StatusAccepted || !rc.sent.After(last.Add(recordMargin)) {
					continue
				}
				rep.add("recovers followed", 1)
				// On an endpoint that may have been disabled then, it may stay failed.
				if certainlySubscribed(ep, rc.span) {
					rep.violate("event %s: delivery to %s failed at %s (last attempt), and the recover %s did not deliver it again",
						name, ep.rc.name, clock(last), rc.span)
				}
			}
		case "cancelled":
			if len(e.cancels) == 0 && len(ep.toggles) == 0 && ep.deleted == nil && !ep.rc.answered("", answerGone) {
				rep.violate("event %s: delivery to %s cancelled, but neither the event was cancelled nor the endpoint disabled or deleted", name, ep.rc.name)
			}
			if rp, ok := replayAfterCancels(e, ep); ok && ep.deleted == nil && certainlySubscribed(ep, rp.span) &&
				!disabledSince(ep, rp.sent) {
				rep.violate("event %s: delivery to %s cancelled, but the replay %s was sent after every cancel was answered",
					name, ep.rc.name, rp.span)
			}
		}
		for _, at := range d.Attempts {
			if why := stoppedBefore(e, ep, at.StartedAt, at.StartedAt); why != "" {
				rep.violate("event %s (posted %s): attempt %d to %s started at %s, after %s; the endpoint: %s; the delivery: %+v",
					name, e.post, at.Attempt, ep.rc.name, clock(at.StartedAt), why, ep.history(), d)
			}
		}
	}
	if ev.Status == "delivered" && !allSucceeded {
		rep.violate("event %s is delivered, but not every delivery succeeded: %+v", name, ev.Deliveries)
	}
	rep.add("events checked", 1)
	for _, ep := range e.app.endpoints {
		if !ep.role.wants(e.typ) || !certainlySubscribed(ep, e.post) {
			continue
		}
		rep.add("deliveries required", 1)
		if !has[ep.id] {
			rep.violate("event %s (%s) accepted in [%s, %s] has no delivery to %s, which wanted it then", name, e.typ,
				clock(e.post.sent), clock(e.post.at), ep.rc.name)
		}
	}
}

// recordMargin is how long after an attempt's end its record and the
// delivery's status may be written, on a loaded machine.
const recordMargin = 5 * time.Second

// replayedSince are the replays of e answered 202 that included ep and
// that no cancel followed: each one must deliver again. A replay re-queues
// no delivery to a deleted endpoint (the delivery stays as it was), so one
// not answered before ep's delete was sent may have left it alone.
func replayedSince(e *eventState, ep *endpointState) []replay {
	var out []replay
	for _, rp := range e.replays {
		if rp.status != http.StatusAccepted || (rp.endpointID != "" && rp.endpointID != ep.id) {
			continue
		}
		if ep.deleted != nil && !rp.at.Before(ep.deleted.sent) {
			continue
		}
		cancelled := false
		for _, c := range e.cancels {
			cancelled = cancelled || c.at.After(rp.sent)
		}
		if !cancelled {
			out = append(out, rp)
		}
	}
	return out
}

// replayAfterCancels is a replay of e answered 202 that included ep and was
// sent after every cancel of e had been answered: a cancel covers only what
// was queued before it, so that replay must not end cancelled.
func replayAfterCancels(e *eventState, ep *endpointState) (replay, bool) {
	for _, rp := range e.replays {
		if rp.status != http.StatusAccepted || (rp.endpointID != "" && rp.endpointID != ep.id) {
			continue
		}
		after := true
		for _, c := range e.cancels {
			after = after && rp.sent.After(c.at)
		}
		if after {
			return rp, true
		}
	}
	return replay{}, false
}

// posts describes the POSTs of one event a receiver got.
func (rc *receiver) posts(eventID string) string {
	var parts []string
	for _, q := range rc.requests() {
		if q.eventID == eventID {
			parts = append(parts, fmt.Sprintf("%s %s-%s", q.verdict, clock(q.arrived), clock(q.left)))
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// certainlySubscribed says whether an endpoint certainly was enabled and
// alive the whole time an operation (an event's POST) was under way:
// created before, deleted (if ever) after, no PATCH of disabled under way
// meanwhile, and every disable before it (a PATCH, or a 410 its receiver
// answered) certainly undone by an enable sent after it. PATCHes that
// overlap apply in an unknown order, and a 410's disable is written by the
// attempt that got it, some time after the answer: 30 s is a margin wide
// enough for a loaded machine.
func certainlySubscribed(ep *endpointState, s span) bool {
	if !ep.created.at.Before(s.sent) || (ep.deleted != nil && !ep.deleted.sent.After(s.at)) {
		return false
	}
	var lastDisable time.Time // the latest a disable may have applied
	for _, tg := range ep.toggles {
		if tg.sent.Before(s.at) && tg.at.After(s.sent) {
			return false // under way meanwhile
		}
		if tg.disable && tg.sent.Before(s.at) && tg.at.After(lastDisable) {
			lastDisable = tg.at
		}
	}
	for _, q := range ep.rc.requests() {
		if q.verdict == answerGone && q.arrived.Before(s.at) && q.left.Add(30*time.Second).After(lastDisable) {
			lastDisable = q.left.Add(30 * time.Second)
		}
	}
	if lastDisable.IsZero() {
		return true
	}
	for _, tg := range ep.toggles {
		if !tg.disable && tg.sent.After(lastDisable) && tg.at.Before(s.sent) {
			return true
		}
	}
	return false
}

// disabledSince says whether ep may have been disabled after t: a disable
// answered after it, or a 410 its receiver gave after it. Disabling cancels
// the endpoint's pending deliveries, a replayed one too.
func disabledSince(ep *endpointState, t time.Time) bool {
	for _, tg := range ep.toggles {
		if tg.disable && tg.at.After(t) {
			return true
		}
	}
	for _, q := range ep.rc.requests() {
		if q.verdict == answerGone && q.left.After(t) {
			return true
		}
	}
	return false
}

// stoppedBefore says what stop, answered before an attempt started, forbade
// that attempt ("" when none did). startedAfter is the earliest and
// arrived the latest the attempt may have started: the stop forbids it if
// it was answered before startedAfter and nothing that may deliver again
// (a replay or recover, or an enable for a disable) came between the stop
// and arrived.
func stoppedBefore(e *eventState, ep *endpointState, startedAfter, arrived time.Time) string {
	requeued := func(after time.Time) bool {
		for _, rp := range e.replays {
			if (rp.endpointID == "" || rp.endpointID == ep.id) && rp.at.After(after) && rp.sent.Before(arrived) {
				return true
			}
		}
		for _, rc := range ep.recovers {
			if rc.at.After(after) && rc.sent.Before(arrived) {
				return true
			}
		}
		return false
	}
	for _, c := range e.cancels {
		if c.at.Before(startedAfter) && !requeued(c.sent) {
			return "its cancel was answered at " + clock(c.at)
		}
	}
	for _, tg := range ep.toggles {
		if tg.disable && tg.at.Before(startedAfter) && !enabledBetween(ep.toggles, tg.sent, arrived) {
			return "its endpoint's disable was answered at " + clock(tg.at)
		}
	}
	if ep.deleted != nil && ep.deleted.at.Before(startedAfter) {
		return "its endpoint's delete was answered at " + clock(ep.deleted.at)
	}
	if a := ep.app.deleted; a != nil && a.at.Before(startedAfter) {
		return "its app's delete was answered at " + clock(a.at)
	}
	return ""
}

// enabledBetween says whether an enable may have applied between from and
// to: sent before to and answered after from (PATCHes that overlap, or
// that were repeated across a crash, apply in an unknown order).
func enabledBetween(toggles []toggle, from, to time.Time) bool {
	for _, tg := range toggles {
		if !tg.disable && tg.sent.Before(to) && tg.at.After(from) {
			return true
		}
	}
	return false
}

// checkReceiver: every POST an endpoint got is for an event of its app,
// carries that event's body and a valid signature from one of the
// endpoint's keys, and started before any stop that forbade it.
func (r *chaosRun) checkReceiver(rep *report, ep *endpointState, got map[*eventState]apiEvent) {
	events := map[string]*eventState{}
	for _, e := range r.w.events {
		if e.app == ep.app && e.accepted() {
			events[e.id] = e
		}
	}
	var hooks []*standardwebhooks.Webhook
	for _, s := range ep.secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			rep.violate("secret of %s: %v", ep.rc.name, err)
			continue
		}
		hooks = append(hooks, wh)
	}
	for _, q := range ep.rc.requests() {
		e := events[q.eventID]
		if e == nil {
			rep.violate("%s got a POST for %q, not an accepted event of its app", ep.rc.name, q.eventID)
			continue
		}
		if ev, ok := got[e]; ok && !hasDelivery(ev, ep.id) {
			rep.violate("%s got a POST for %s, which has no delivery to it", ep.rc.name, e.id)
		}
		var body struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(q.body, &body); err != nil || body.Type != e.typ || !sameJSON(body.Data, e.payload) {
			rep.violate("%s got a POST for %s with body %s, want type %s and data %s", ep.rc.name, e.id, q.body, e.typ, e.payload)
		}
		valid := false
		for _, wh := range hooks {
			if wh.VerifyIgnoringTimestamp(q.body, q.header) == nil {
				valid = true
				break
			}
		}
		if !valid {
			rep.violate("%s got a POST for %s whose signature %q no key of the endpoint verifies", ep.rc.name, e.id,
				q.header.Get("webhook-signature"))
		}
		ts, err := strconv.ParseInt(q.header.Get("webhook-timestamp"), 10, 64)
		if err != nil || q.arrived.Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute {
			rep.violate("%s got a POST for %s with webhook-timestamp %q, arrived %s", ep.rc.name, e.id,
				q.header.Get("webhook-timestamp"), clock(q.arrived))
			continue
		}
		rep.add("POSTs verified", 1)
		// The timestamp is taken when the attempt starts, in whole seconds:
		// the attempt started at ts or later.
		if why := stoppedBefore(e, ep, time.Unix(ts, 0), q.arrived); why != "" {
			rep.violate("%s got a POST for %s signed at %d (arrived %s), after %s", ep.rc.name, e.id, ts, clock(q.arrived), why)
		}
	}
}

func hasDelivery(ev apiEvent, endpointID string) bool {
	for _, d := range ev.Deliveries {
		if d.EndpointID == endpointID {
			return true
		}
	}
	return false
}

// succeeded says whether the receiver answered a POST of eventID that
// arrived after since with 2xx.
func (rc *receiver) succeeded(eventID string, since time.Time) bool {
	for _, q := range rc.requests() {
		if q.eventID == eventID && q.ok && q.arrived.After(since) {
			return true
		}
	}
	return false
}

// answered says whether the receiver answered eventID (any event when "")
// with verdict v.
func (rc *receiver) answered(eventID string, v verdict) bool {
	for _, q := range rc.requests() {
		if (eventID == "" || q.eventID == eventID) && q.verdict == v {
			return true
		}
	}
	return false
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func (s span) String() string { return "[" + clock(s.sent) + ", " + clock(s.at) + "]" }

// history is what was done to an endpoint, for a violation's message.
func (ep *endpointState) history() string {
	var b strings.Builder
	fmt.Fprintf(&b, "created %s", ep.created)
	for _, tg := range ep.toggles {
		fmt.Fprintf(&b, ", disabled=%v %s", tg.disable, tg.span)
	}
	for _, rc := range ep.recovers {
		fmt.Fprintf(&b, ", recover %s", rc)
	}
	for _, q := range ep.rc.requests() {
		if q.verdict == answerGone {
			fmt.Fprintf(&b, ", 410 to %s at %s", q.eventID, clock(q.left))
		}
	}
	if ep.deleted != nil {
		fmt.Fprintf(&b, ", deleted %s", *ep.deleted)
	}
	return b.String()
}

func clock(t time.Time) string {
	if t.Equal(never) {
		return "never"
	}
	return t.Format("15:04:05.000")
}
