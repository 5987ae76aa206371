package chaos

import (
	"fmt"
	"sort"
	"time"
)

// checkLanes: in every lane of an ordered endpoint, the first successful
// POST of each event arrived in acceptance order, and no two POSTs were
// under way at once.
//
// "A before B" holds when A's 202 came before B's POST was sent. A replay
// of an event, or a recover of the endpoint, puts the event at the lane's
// end again: only successes before the first such operation count.
func (r *chaosRun) checkLanes(rep *report, ep *endpointState) {
	lanes := map[string][]*eventState{}
	for _, e := range r.w.events {
		if e.app == ep.app && e.accepted() {
			lanes[e.key] = append(lanes[e.key], e)
		}
	}
	reqs := ep.rc.requests()
	byEvent := map[string][]request{}
	for _, q := range reqs {
		byEvent[q.eventID] = append(byEvent[q.eventID], q)
	}
	keys := make([]string, 0, len(lanes))
	for k := range lanes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		lane := lanes[key]
		first := map[*eventState]time.Time{}
		for _, e := range lane {
			cutoff := requeuedAt(e, ep)
			for _, q := range byEvent[e.id] {
				if q.ok && q.arrived.Before(cutoff) {
					first[e] = q.arrived
					break
				}
			}
		}
		for _, a := range lane {
			for _, b := range lane {
				fa, okA := first[a]
				fb, okB := first[b]
				if !okA || !okB || !a.post.at.Before(b.post.sent) {
					continue
				}
				rep.add("ordered pairs compared", 1)
				if fb.Before(fa) {
					rep.violate("%s lane %q: %s (accepted by %s) first succeeded at %s, after %s (sent at %s) at %s",
						ep.rc.name, key, a.id, clock(a.post.at), clock(fa), b.id, clock(b.post.sent), clock(fb))
				}
			}
		}
		rep.add("lanes", 1)
		rep.add("first successes in lanes", len(first))
		r.checkOneAtATime(rep, ep, key, lane, byEvent)
	}
}

// requeuedAt is when an event's delivery to ep may first have been queued
// again (never if it was not).
func requeuedAt(e *eventState, ep *endpointState) time.Time {
	at := never
	for _, rp := range e.replays {
		if (rp.endpointID == "" || rp.endpointID == ep.id) && rp.sent.Before(at) {
			at = rp.sent
		}
	}
	for _, rc := range ep.recovers {
		if rc.sent.After(e.post.sent) && rc.sent.Before(at) {
			at = rc.sent
		}
	}
	return at
}

// checkOneAtATime: POSTs of one lane never overlap. An overlap that follows
// a cancel, replay or recover of the earlier POST's event, or a disable of
// its endpoint, while it was under way is counted apart: the contract lets
// that attempt finish, and a cancelled or re-queued delivery no longer
// holds the lane (a disable cancels every delivery queued for the
// endpoint, so an enable after it lets the next event go at once).
func (r *chaosRun) checkOneAtATime(rep *report, ep *endpointState, key string, lane []*eventState, byEvent map[string][]request) {
	var qs []request
	events := map[string]*eventState{}
	for _, e := range lane {
		qs = append(qs, byEvent[e.id]...)
		events[e.id] = e
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i].arrived.Before(qs[j].arrived) })
	rep.add("POSTs in lanes", len(qs))
	var open []request
	for _, q := range qs {
		kept := open[:0]
		for _, o := range open {
			if o.left.After(q.arrived) {
				kept = append(kept, o)
			}
		}
		open = kept
		for _, o := range open {
			what := fmt.Sprintf("%s lane %q: POST of %s arrived at %s while POST of %s (%s, arrived %s) was under way until %s",
				ep.rc.name, key, q.eventID, clock(q.arrived), o.eventID, o.verdict, clock(o.arrived), clock(o.left))
			if why := interrupted(events[o.eventID], ep, o.arrived, q.arrived); why != "" {
				rep.note("explained overlap (%s): %s", why, what)
				continue
			}
			rep.violate("%s", what)
		}
		open = append(open, q)
	}
}

// interrupted says which operation sent between from and to took e's
// delivery to ep out of the lane while its POST was under way.
func interrupted(e *eventState, ep *endpointState, from, to time.Time) string {
	in := func(s span) bool { return s.sent.Before(to) && s.at.After(from) }
	for _, c := range e.cancels {
		if in(c) {
			return "cancel"
		}
	}
	for _, rp := range e.replays {
		if (rp.endpointID == "" || rp.endpointID == ep.id) && in(rp.span) {
			return "replay"
		}
	}
	for _, rc := range ep.recovers {
		if in(rc.span) {
			return "recover"
		}
	}
	for _, tg := range ep.toggles {
		if tg.disable && in(tg.span) {
			return "disable"
		}
	}
	return ""
}
