package chaos

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The checks themselves, on made-up records: each one finds the violation
// it is for and lets the explained cases pass, so that a chaos run that
// passes is not passing because a check cannot fail.

type fixture struct {
	t0  time.Time
	app *appState
	ep  *endpointState
	run *chaosRun
}

func newCheckFixture() *fixture {
	f := &fixture{t0: time.Now()}
	f.app = &appState{id: "app"}
	rc := &receiver{name: "app/ord#0", counts: map[string]int{}}
	f.ep = &endpointState{app: f.app, role: roles[0], id: "ep_1", rc: rc, created: span{f.at(0), f.at(1)}}
	f.app.endpoints = []*endpointState{f.ep}
	f.run = &chaosRun{w: &world{apps: []*appState{f.app}}}
	return f
}

func (f *fixture) at(ms int) time.Time { return f.t0.Add(time.Duration(ms) * time.Millisecond) }

// event adds an accepted event whose POST took [sent, answered] ms.
func (f *fixture) event(id string, sent, answered int) *eventState {
	e := &eventState{app: f.app, id: id, typ: "chaos.a", post: span{f.at(sent), f.at(answered)}, status: 202}
	f.run.w.events = append(f.run.w.events, e)
	return e
}

// post adds a POST the receiver got during [from, to] ms.
func (f *fixture) post(eventID string, v verdict, from, to int) {
	f.ep.rc.got = append(f.ep.rc.got, &request{eventID: eventID, verdict: v, arrived: f.at(from), left: f.at(to),
		ok: v == answerOK || v == answerSlowOK})
}

func (f *fixture) lanes() report {
	var rep report
	f.run.checkLanes(&rep, f.ep)
	return rep
}

func wantViolation(t *testing.T, rep report, substr string) {
	t.Helper()
	for _, v := range rep.violations {
		if strings.Contains(v, substr) {
			return
		}
	}
	t.Errorf("no violation with %q; got %q", substr, rep.violations)
}

func TestCheckLanesCatchesOrder(t *testing.T) {
	f := newCheckFixture()
	f.event("A", 10, 20)
	f.event("B", 30, 40) // posted after A's 202: A must succeed first
	f.post("A", answerFail, 100, 101)
	f.post("B", answerOK, 200, 201)
	f.post("A", answerOK, 300, 301)
	wantViolation(t, f.lanes(), "A (accepted by")

	// Replayed before it succeeded: A went to the lane's end.
	f.run.w.events[0].replays = []replay{{span: span{f.at(150), f.at(160)}}}
	if rep := f.lanes(); len(rep.violations) != 0 {
		t.Errorf("a replayed event counted in order: %q", rep.violations)
	}
}

func TestCheckLanesAllowsConcurrentAcceptance(t *testing.T) {
	f := newCheckFixture()
	f.event("A", 10, 40)
	f.event("B", 20, 30) // posted before A's 202: either order is right
	f.post("B", answerOK, 100, 101)
	f.post("A", answerOK, 200, 201)
	if rep := f.lanes(); len(rep.violations) != 0 {
		t.Errorf("violations: %q", rep.violations)
	}
}

func TestCheckLanesCatchesOverlap(t *testing.T) {
	f := newCheckFixture()
	a := f.event("A", 10, 20)
	f.event("B", 30, 40)
	f.post("A", answerHang, 100, 150)
	f.post("B", answerOK, 120, 130)
	wantViolation(t, f.lanes(), "was under way until")

	// A cancel of A while its POST was under way lets B go.
	a.cancels = []span{{f.at(105), f.at(110)}}
	rep := f.lanes()
	if len(rep.violations) != 0 || len(rep.notes) != 1 {
		t.Errorf("violations %q, notes %q; want one explained overlap", rep.violations, rep.notes)
	}

	// So does a disable of the endpoint (then an enable): it cancels A's
	// delivery as a cancel does (chaos seed 35). An enable alone does not.
	a.cancels = nil
	f.ep.toggles = []toggle{{disable: false, span: span{f.at(105), f.at(110)}}}
	wantViolation(t, f.lanes(), "was under way until")
	f.ep.toggles = []toggle{{disable: true, span: span{f.at(105), f.at(110)}}, {disable: false, span: span{f.at(112), f.at(115)}}}
	rep = f.lanes()
	if len(rep.violations) != 0 || len(rep.notes) != 1 || !strings.Contains(rep.notes[0], "disable") {
		t.Errorf("violations %q, notes %q; want one overlap explained by the disable", rep.violations, rep.notes)
	}
}

func TestStoppedBefore(t *testing.T) {
	f := newCheckFixture()
	e := f.event("A", 10, 20)
	e.cancels = []span{{f.at(30), f.at(40)}}
	if why := stoppedBefore(e, f.ep, f.at(35), f.at(36)); why != "" {
		t.Errorf("an attempt that may have started before the cancel's answer: %s", why)
	}
	if why := stoppedBefore(e, f.ep, f.at(41), f.at(42)); !strings.Contains(why, "cancel") {
		t.Errorf("an attempt after the cancel's answer: %q", why)
	}
	e.replays = []replay{{endpointID: f.ep.id, span: span{f.at(50), f.at(60)}}}
	if why := stoppedBefore(e, f.ep, f.at(61), f.at(62)); why != "" {
		t.Errorf("an attempt after a replay that followed the cancel: %s", why)
	}

	g := f.event("B", 10, 20)
	f.ep.toggles = []toggle{{disable: true, span: span{f.at(30), f.at(40)}}}
	if why := stoppedBefore(g, f.ep, f.at(41), f.at(42)); !strings.Contains(why, "disable") {
		t.Errorf("an attempt after the disable's answer: %q", why)
	}
	f.ep.toggles = append(f.ep.toggles, toggle{disable: false, span: span{f.at(50), f.at(60)}})
	if why := stoppedBefore(g, f.ep, f.at(55), f.at(56)); why != "" {
		t.Errorf("an attempt after an enable was sent: %s", why)
	}
}

func TestCertainlySubscribed(t *testing.T) {
	f := newCheckFixture()
	if !certainlySubscribed(f.ep, span{f.at(10), f.at(20)}) {
		t.Error("an endpoint never touched is not certainly subscribed")
	}
	if certainlySubscribed(f.ep, span{f.at(0), f.at(20)}) {
		t.Error("an event sent before the endpoint's create was answered is certainly subscribed")
	}
	f.ep.toggles = []toggle{{disable: true, span: span{f.at(30), f.at(40)}}}
	if certainlySubscribed(f.ep, span{f.at(50), f.at(60)}) {
		t.Error("certainly subscribed after a disable")
	}
	if certainlySubscribed(f.ep, span{f.at(35), f.at(60)}) {
		t.Error("certainly subscribed while a disable was under way")
	}
	f.ep.toggles = append(f.ep.toggles, toggle{disable: false, span: span{f.at(70), f.at(80)}})
	if !certainlySubscribed(f.ep, span{f.at(90), f.at(100)}) {
		t.Error("not certainly subscribed after an enable")
	}
	f.post("X", answerGone, 85, 86) // a 410 may disable it again, some time after
	if certainlySubscribed(f.ep, span{f.at(90), f.at(100)}) {
		t.Error("certainly subscribed after a 410")
	}
}

func TestCheckEventCatchesSwallowedReplay(t *testing.T) {
	f := newCheckFixture()
	e := f.event("A", 10, 20)
	var ev apiEvent
	if err := json.Unmarshal([]byte(`{"id":"A","status":"delivered","deliveries":[{"endpoint_id":"ep_1","status":"succeeded","attempts":[]}]}`), &ev); err != nil {
		t.Fatal(err)
	}
	f.post("A", answerSlowOK, 100, 300) // under way when the replay came
	e.replays = []replay{{status: 202, span: span{f.at(200), f.at(210)}}}
	var rep report
	f.run.checkEvent(&rep, e, ev)
	wantViolation(t, rep, "no 2xx POST came after its replay")

	// The endpoint deleted before the replay was answered: the replay
	// re-queues no delivery to it, and its success stands.
	f.ep.deleted = &span{f.at(205), f.at(206)}
	rep = report{}
	f.run.checkEvent(&rep, e, ev)
	if len(rep.violations) != 0 {
		t.Errorf("a replay of a deleted endpoint: %q", rep.violations)
	}
	f.ep.deleted = &span{f.at(215), f.at(216)} // deleted after: the replay did re-queue it
	rep = report{}
	f.run.checkEvent(&rep, e, ev)
	wantViolation(t, rep, "no 2xx POST came after its replay")
	f.ep.deleted = nil

	f.post("A", answerOK, 400, 401) // delivered again
	rep = report{}
	f.run.checkEvent(&rep, e, ev)
	if len(rep.violations) != 0 {
		t.Errorf("violations: %q", rep.violations)
	}
}

func TestCheckEventCatchesUndoneReplay(t *testing.T) {
	f := newCheckFixture()
	e := f.event("A", 10, 20)
	var ev apiEvent
	if err := json.Unmarshal([]byte(`{"id":"A","status":"cancelled","deliveries":[{"endpoint_id":"ep_1","status":"cancelled","attempts":[]}]}`), &ev); err != nil {
		t.Fatal(err)
	}
	e.cancels = []span{{f.at(100), f.at(110)}}
	e.replays = []replay{{status: 202, span: span{f.at(105), f.at(115)}}} // sent while the cancel was under way
	var rep report
	f.run.checkEvent(&rep, e, ev)
	if len(rep.violations) != 0 {
		t.Errorf("a replay that may have come before the cancel: %q", rep.violations)
	}
	e.replays = append(e.replays, replay{status: 202, span: span{f.at(120), f.at(130)}})
	rep = report{}
	f.run.checkEvent(&rep, e, ev)
	wantViolation(t, rep, "was sent after every cancel was answered")

	// A disable answered after the replay cancels the re-queued delivery.
	f.ep.toggles = []toggle{{disable: true, span: span{f.at(140), f.at(150)}}}
	rep = report{}
	f.run.checkEvent(&rep, e, ev)
	if len(rep.violations) != 0 {
		t.Errorf("a delivery cancelled by a disable after the replay: %q", rep.violations)
	}
}

// PATCHes that overlap (or that were repeated across a crash) apply in an
// unknown order: an enable sent before a disable may apply after it.
func TestOverlappingToggles(t *testing.T) {
	f := newCheckFixture()
	e := f.event("A", 1, 2)
	f.ep.toggles = []toggle{
		{disable: false, span: span{f.at(20), f.at(45)}},
		{disable: true, span: span{f.at(30), f.at(40)}},
	}
	if why := stoppedBefore(e, f.ep, f.at(50), f.at(51)); why != "" {
		t.Errorf("an attempt after an enable that may have applied last: %s", why)
	}
	if certainlySubscribed(f.ep, span{f.at(50), f.at(60)}) {
		t.Error("certainly subscribed though the disable may have applied last")
	}
}
