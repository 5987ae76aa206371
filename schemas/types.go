// Package schemas holds Herald's domain core: the types that cross a boundary
// (API <-> workflow <-> activity <-> store), workflow and signal names, id
// helpers, error kinds, payload validation and the SQL migrations. It imports
// nothing of Herald's.
package schemas

import (
	"encoding/json"
	"time"
)

// App is a tenant: one customer who receives webhooks.
type App struct {
	ID        string    `json:"id" db:"id"`
	Name      string    `json:"name" db:"name"`
	CreatedAt time.Time `json:"created_at" db:"created_at"`
	UpdatedAt time.Time `json:"updated_at" db:"updated_at"`
}

// EventType names a kind of event and optionally constrains its payload.
type EventType struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"` // null when absent
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// Signature types of an endpoint.
const (
	SignatureHMAC    = "hmac-sha256"
	SignatureEd25519 = "ed25519"
)

// Endpoint is where an app receives webhooks. Secrets are not part of it:
// they travel only through EndpointSecrets.
type Endpoint struct {
	ID                 string            `json:"id"`
	AppID              string            `json:"app_id"`
	URL                string            `json:"url"`
	Description        string            `json:"description"`
	EventTypes         []string          `json:"event_types"`
	Ordered            bool              `json:"ordered"`
	RateLimitPerSecond int               `json:"rate_limit_per_second"`
	Headers            map[string]string `json:"headers"`
	Disabled           bool              `json:"disabled"`
	DisabledReason     string            `json:"disabled_reason,omitempty"`
	DisabledAt         *time.Time        `json:"disabled_at,omitempty"`
	SignatureType      string            `json:"signature_type"`
	Filter             string            `json:"filter,omitempty"`    // CEL: which events it gets
	Transform          string            `json:"transform,omitempty"` // CEL: the body and headers it gets
	Auth               *EndpointAuth     `json:"auth,omitempty"`      // secrets only in the delivery job
	CAPEM              string            `json:"ca_pem,omitempty"`    // a private CA for the receiver's certificate
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
}

// EndpointSecrets are the keys that sign deliveries to an endpoint. Key is
// whsec_... (HMAC) or whsk_... (ed25519 private key). PreviousKey keeps
// signing beside Key until PreviousExpiresAt (secret rotation overlap).
type EndpointSecrets struct {
	Key               string
	PreviousKey       string
	PreviousExpiresAt *time.Time
}

// Event is an accepted event with its deliveries.
type Event struct {
	ID        string          `json:"id"`
	AppID     string          `json:"app_id"`
	EventType string          `json:"event_type"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
	// OrderingKey is the event's lane at ordered endpoints; empty: none.
	OrderingKey string      `json:"ordering_key,omitempty"`
	Status      EventStatus `json:"status"`
	Deliveries  []Delivery  `json:"deliveries"`
}

// Delivery is the state of one event's delivery to one endpoint.
type Delivery struct {
	EndpointID    string         `json:"endpoint_id"`
	Status        DeliveryStatus `json:"status"`
	Attempts      []Attempt      `json:"attempts"`
	NextAttemptAt *time.Time     `json:"next_attempt_at,omitempty"`
}

// Attempt is one HTTP request made for a delivery.
type Attempt struct {
	Attempt        int       `json:"attempt"`
	StartedAt      time.Time `json:"started_at"`
	DurationMS     int64     `json:"duration_ms"`
	ResponseStatus int       `json:"response_status,omitempty"`
	Error          string    `json:"error,omitempty"`
	ResponseBody   string    `json:"response_body,omitempty"`
}

// MaxResponseBody is how much of an endpoint's answer is kept per attempt.
const MaxResponseBody = 1024
