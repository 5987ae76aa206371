// Package workflows holds Herald's deterministic workflow code: the event
// workflow. It knows only schemas and the Temporal SDK, and calls activities
// by their registered names (schemas.Activity*), so it needs nothing of the
// activities package.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-hq/herald/schemas"
)

// Timings of the event workflow (the turn re-checks are in lanes.go).
const (
	// defaultDeliveryTimeout is used when the input carries none (the
	// contract's HERALD_DELIVERY_TIMEOUT default).
	defaultDeliveryTimeout = 15 * time.Second
	// deliverSlack is added to the delivery timeout for the Deliver activity's
	// own work around the POST (load, sign, record).
	deliverSlack = 10 * time.Second
	// shortCallTimeout bounds one try of the store-only activities
	// (AcquireTurn, PassTurn, CancelDeliveries, PrepareReplay).
	shortCallTimeout = 10 * time.Second

	// infraWindow is how long the SDK retries one local activity call that
	// fails with an error (the store or Temporal is down) before the workflow
	// sees the error; the workflow then waits infraPause and calls again, so
	// an infrastructure error never ends a delivery.
	infraWindow = time.Hour
	infraPause  = time.Minute

	// minWait is the shortest retry or throttle wait, so that an activity
	// answering RetryIn 0 cannot make the workflow spin.
	minWait = time.Second
)

// infraRetry retries local activities that fail with an error, which the
// activities return only for infrastructure trouble (an HTTP failure is an
// outcome, not an error). No attempt limit: infraWindow bounds it.
var infraRetry = &temporal.RetryPolicy{
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
	MaximumInterval:    time.Minute,
	MaximumAttempts:    0,
}

// deliverOptions are the local activity options of one delivery attempt.
func deliverOptions(deliveryTimeout time.Duration, endpointID string) workflow.LocalActivityOptions {
	if deliveryTimeout <= 0 {
		deliveryTimeout = defaultDeliveryTimeout
	}
	return workflow.LocalActivityOptions{
		StartToCloseTimeout:    deliveryTimeout + deliverSlack,
		ScheduleToCloseTimeout: infraWindow,
		RetryPolicy:            infraRetry,
		Summary:                "deliver to " + endpointID,
	}
}

// shortOptions are the local activity options of the store-only activities.
func shortOptions() workflow.LocalActivityOptions {
	return workflow.LocalActivityOptions{
		StartToCloseTimeout:    shortCallTimeout,
		ScheduleToCloseTimeout: infraWindow,
		RetryPolicy:            infraRetry,
	}
}

// turnOptions are the local activity options of AcquireTurn, which may
// wait up to turnWait.
func turnOptions() workflow.LocalActivityOptions {
	o := shortOptions()
	o.StartToCloseTimeout += turnWait
	return o
}

// Search attribute keys the workflow upserts.
var statusKey = temporal.NewSearchAttributeKeyKeyword(schemas.SearchAttrStatus)
