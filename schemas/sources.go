package schemas

import (
	"encoding/json"
	"strings"
	"time"
)

// Source is a broker queue (RabbitMQ) or JetStream consumer (NATS) whose
// messages become events of an app. URL is as stored, with its password;
// the API shows it redacted.
type Source struct {
	ID        string    `json:"id"`
	AppID     string    `json:"app_id"`
	URL       string    `json:"url"`
	EventType string    `json:"event_type"`
	Status    string    `json:"status"`
	LastError string    `json:"last_error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Source statuses: running (consuming, or about to) and failing (the broker
// cannot be reached or refuses; the source retries by itself).
const (
	SourceRunning = "running"
	SourceFailing = "failing"
)

// PrefixSource is the prefix of source ids.
const PrefixSource = "src_"

// Sources are consumed by a long-running activity on a task queue of their
// own: Herald's main worker runs local activities only.
const (
	SourceTaskQueue       = "herald-sources"
	SourceWorkflowName    = "HeraldSource"
	ActivityConsumeSource = "ConsumeSource"
)

// SourceWorkflowID is the id of the workflow that keeps a source consumed;
// one id per source is what makes two consumers of one source impossible.
func SourceWorkflowID(appID, sourceID string) string {
	return "source/" + appID + "/" + sourceID
}

// ParseSourceWorkflowID splits a source workflow id; ok is false when id is not one.
func ParseSourceWorkflowID(id string) (appID, sourceID string, ok bool) {
	rest, found := strings.CutPrefix(id, "source/")
	if !found {
		return "", "", false
	}
	appID, sourceID, ok = strings.Cut(rest, "/")
	return appID, sourceID, ok && appID != "" && sourceID != ""
}

// SourceInput is the source workflow's input and its activity's argument.
type SourceInput struct {
	AppID    string `json:"app_id"`
	SourceID string `json:"source_id"`
}

// SourceResult is how a ConsumeSource run ended without error.
type SourceResult struct {
	// Gone: the source was deleted (or its app); the workflow ends.
	Gone bool `json:"gone"`
}

// EventIn is an event to accept, from a POST .../events body or from a
// source's message; both take the same path.
type EventIn struct {
	AppID     string
	ID        string // "" makes one
	EventType string
	Payload   json.RawMessage
	// OrderingKey picks the event's lane at ordered endpoints; "": none.
	OrderingKey string
}
