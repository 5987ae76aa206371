package schemas

import (
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// TaskQueue is the Temporal task queue Herald's workers poll.
const TaskQueue = "herald"

// Workflow types, signals, queries and search attributes: operators and the
// contract depend on these names.
const (
	EventWorkflowName = "HeraldEvent"

	SignalCancel = "cancel" // CancelSignal, or no argument (an operator's)
	SignalReplay = "replay" // ReplaySignal
	SignalTurn   = "turn"   // TurnSignal: an ordered endpoint's turn may have come

	QueryStatus = "status" // returns EventStatusView

	SearchAttrApp       = "HeraldApp"
	SearchAttrEventType = "HeraldEventType"
	SearchAttrStatus    = "HeraldStatus"
)

// EventWorkflowID is the id of an event's workflow; it makes the event id the
// idempotency key.
func EventWorkflowID(appID, eventID string) string {
	return "event/" + appID + "/" + eventID
}

// ParseEventWorkflowID splits an event workflow id; ok is false when id is not one.
// App ids cannot contain '/', so the first '/' after the prefix separates them.
func ParseEventWorkflowID(id string) (appID, eventID string, ok bool) {
	rest, found := strings.CutPrefix(id, "event/")
	if !found {
		return "", "", false
	}
	appID, eventID, ok = strings.Cut(rest, "/")
	return appID, eventID, ok && appID != "" && eventID != ""
}

// Id prefixes of server-made ids.
const (
	PrefixApp      = "app_"
	PrefixEndpoint = "ep_"
	PrefixEvent    = "evt_"
)

// NewID makes an id with the given prefix that sorts by creation time
// (a ULID: 48 bits of milliseconds, then 80 random bits).
func NewID(prefix string, now time.Time) string {
	return prefix + strings.ToLower(ulid.MustNew(ulid.Timestamp(now), ulid.DefaultEntropy()).String())
}

// IDPattern is what every client-given id (apps, events, Idempotency-Key)
// and event type name must match: 1 to 128 letters, digits, '_', '.' or
// '-', except "." and "..", which clients and proxies normalise away as
// path segments (so such an id could be created but never reached).
const IDPattern = `^(?:[a-zA-Z0-9_-][a-zA-Z0-9_.-]{0,127}|\.[a-zA-Z0-9_-][a-zA-Z0-9_.-]{0,126}|\.\.[a-zA-Z0-9_.-]{1,126})$`
