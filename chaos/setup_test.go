package chaos

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// eventTypes are the types events get; the "ordb" endpoints want only the
// second.
var eventTypes = []string{"chaos.a", "chaos.b"}

// createEventTypes makes the event types (409: a run on the same data dir
// made them already).
func (r *chaosRun) createEventTypes(ctx context.Context) error {
	for _, name := range eventTypes {
		if _, err := r.api.must(ctx, "POST", "/v1/event-types", map[string]any{"name": name},
			http.StatusCreated, http.StatusConflict); err != nil {
			return err
		}
	}
	return nil
}

// appPlan is an app to make: drawn by the driver, made by whoever runs it.
type appPlan struct {
	app       *appState
	endpoints []endpointPlan
}

type endpointPlan struct {
	ep     *endpointState
	secret string
}

// planApp draws the app of a slot's next incarnation and its endpoints.
// Slot 0's events carry no ordering keys; the other slots' mostly do.
func (r *chaosRun) planApp(rng *rand.Rand, slot, incarnation int) appPlan {
	a := &appState{slot: slot, incarnation: incarnation, keys: slot != 0,
		id: fmt.Sprintf("chaos-%d-%d", slot, incarnation)}
	p := appPlan{app: a}
	for _, ro := range roles {
		p.endpoints = append(p.endpoints, r.planEndpoint(rng, a, ro, 0))
	}
	return p
}

// planEndpoint draws an endpoint of a role: its receiver's failure rate
// and its first secret.
func (r *chaosRun) planEndpoint(rng *rand.Rand, a *appState, ro role, generation int) endpointPlan {
	name := fmt.Sprintf("%s/%s#%d", a.id, ro.name, generation)
	b := behaviour{seed: r.cfg.seed, failRate: 0.1 + 0.3*rng.Float64(), goneRate: r.cfg.goneRate}
	ep := &endpointState{app: a, role: ro, rc: newReceiver(name, b, r.cfg.deliveryTimeout)}
	return endpointPlan{ep: ep, secret: newSecret(rng)}
}

// newSecret is a whsec_ key drawn from rng, so that a seed gives the same
// keys and a rotation can be repeated safely.
func newSecret(rng *rand.Rand) string {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// makeApp creates a planned app and its endpoints and adds them to the
// world once they exist.
func (r *chaosRun) makeApp(ctx context.Context, p appPlan) error {
	if _, err := r.api.must(ctx, "POST", "/v1/apps", map[string]any{"id": p.app.id, "name": p.app.id},
		http.StatusCreated, http.StatusConflict); err != nil {
		return err
	}
	r.w.mu.Lock()
	r.w.apps = append(r.w.apps, p.app)
	r.w.mu.Unlock()
	for _, ep := range p.endpoints {
		if err := r.makeEndpoint(ctx, ep); err != nil {
			return err
		}
	}
	return nil
}

func (r *chaosRun) makeEndpoint(ctx context.Context, p endpointPlan) error {
	ep := p.ep
	body := map[string]any{"url": ep.rc.url(), "ordered": ep.role.ordered, "secret": p.secret,
		"description": ep.rc.name}
	if ep.role.types != nil {
		body["event_types"] = ep.role.types
	}
	a, err := r.api.must(ctx, "POST", "/v1/apps/"+ep.app.id+"/endpoints", body, http.StatusCreated)
	if err != nil {
		return err
	}
	var got struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := a.decode(&got); err != nil {
		return err
	}
	if got.Secret != p.secret {
		return fmt.Errorf("endpoint %s created with secret %q, answered %q", ep.rc.name, p.secret, got.Secret)
	}
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	ep.id, ep.created, ep.secrets = got.ID, span{a.sent, a.at}, []string{p.secret}
	ep.app.endpoints = append(ep.app.endpoints, ep)
	r.receivers = append(r.receivers, ep.rc)
	return nil
}

// since is the start of a recover's window: before the run began.
func (r *chaosRun) since() string {
	return r.w.start.Add(-time.Minute).UTC().Format(time.RFC3339Nano)
}
