package activities

import (
	"context"
	"fmt"
	"sync"

	"github.com/herald-hq/herald/schemas"
)

// DeliverFirst makes the first attempts of one event's unordered deliveries
// together: each request goes through Deliver on its own goroutine (its own
// load, rate limit, SSRF guard, signature, POST and attempt record under
// its own delivery and key), so the event costs its workflow one local
// activity, and one history marker, instead of one per endpoint. It never
// fails as a whole: a request whose Deliver returned an error carries it,
// and the workflow calls Deliver for that one again under the same key.
func (a *Activities) DeliverFirst(ctx context.Context, req schemas.DeliverFirstRequest) (schemas.DeliverFirstResult, error) {
	out := schemas.DeliverFirstResult{Results: make([]schemas.DeliverFirstItem, len(req.Requests))}
	var wg sync.WaitGroup
	for i, r := range req.Requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			item := &out.Results[i]
			defer func() {
				// Deliver alone would panic inside the SDK's local activity,
				// which recovers; here the goroutine is ours.
				if p := recover(); p != nil {
					item.Error = fmt.Sprintf("deliver to %s panicked: %v", r.EndpointID, p)
				}
			}()
			res, err := a.Deliver(ctx, r)
			item.Result = res
			if err != nil {
				item.Error = err.Error()
			}
		}()
	}
	wg.Wait()
	return out, ctx.Err()
}
