package activities

import (
	"context"
	"fmt"
	"sync"

	"github.com/herald-hq/herald/routing"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// newRouter is d's router, or one made on first use (most endpoints have no
// transform, and most Activities never build a CEL environment).
func newRouter(d Deps) func() (*routing.Router, error) {
	if d.Router != nil {
		return func() (*routing.Router, error) { return d.Router, nil }
	}
	var counters routing.Counters
	if d.Metrics != nil {
		counters = d.Metrics
	}
	return sync.OnceValues(func() (*routing.Router, error) { return routing.New(counters) })
}

// content is what an attempt sends: the envelope, or what the endpoint's
// transform makes of the event (a body instead of the envelope, headers over
// the endpoint's). failure is the transform's error, which fails the
// attempt; err is the store's, which retries the activity.
func (a *Activities) content(ctx context.Context, job store.DeliveryJob) (body []byte, headers map[string]string, failure string, err error) {
	if job.Endpoint.Transform == "" {
		body, err = envelope(job.Event)
		if err != nil {
			return nil, nil, err.Error(), nil
		}
		return body, nil, "", nil
	}
	router, err := a.router()
	if err != nil {
		return nil, nil, "", err
	}
	// The transform was type-checked against the schemas of the endpoint's
	// event types; without any, its payload is untyped.
	typed := len(job.Endpoint.EventTypes) > 0
	et := routing.EventType{Name: job.Event.EventType}
	if typed {
		t, err := a.store.GetEventType(ctx, job.Event.EventType)
		switch {
		case err == nil:
			et = routing.EventTypeOf(t)
		case !schemas.IsNotFound(err):
			return nil, nil, "", fmt.Errorf("transform of endpoint %s: %w", job.Endpoint.ID, err)
		}
	}
	res, err := router.Transform(ctx, job.Endpoint.ID, job.Endpoint.Transform, typed,
		&routing.Event{ID: job.Event.ID, Type: et, Payload: job.Event.Payload})
	if err != nil {
		return nil, nil, err.Error(), nil
	}
	if body = res.Body; body == nil {
		if body, err = envelope(job.Event); err != nil {
			return nil, nil, err.Error(), nil
		}
	}
	return body, res.Headers, "", nil
}
