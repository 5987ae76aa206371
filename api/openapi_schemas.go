package api

import (
	"slices"

	"github.com/herald-hq/herald/schemas"
)

// The schemas of the OpenAPI document. Every property has a description
// (TestOpenAPIDescribesEverything checks it) so that generated clients
// carry the contract's words as doc comments.

// describe gives a schema its description and, when given, examples.
func describe(s obj, text string, examples ...any) obj {
	s["description"] = text
	if len(examples) > 0 {
		s["examples"] = examples
	}
	return s
}

func str(text string, examples ...any) obj { return describe(obj{"type": "string"}, text, examples...) }
func timeStr(text string) obj {
	return describe(obj{"type": "string", "format": "date-time"}, text, "2026-01-15T09:30:00Z")
}
func boolean(text string) obj         { return describe(obj{"type": "boolean"}, text) }
func integer(text string) obj         { return describe(obj{"type": "integer"}, text) }
func arrayOf(it obj, text string) obj { return describe(obj{"type": "array", "items": it}, text) }
func anyJSON(text string) obj         { return obj{"description": text} }
func stringMap(text string) obj {
	return describe(obj{"type": "object", "additionalProperties": obj{"type": "string"}}, text)
}

// object is an object schema of an answer.
func object(text string, required []string, props obj) obj {
	o := obj{"type": "object", "description": text, "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// request is an object schema of a request body: unknown fields are refused.
func request(text string, required []string, props obj) obj {
	o := object(text, required, props)
	o["additionalProperties"] = false
	return o
}

// pageOf is the list shape every list route answers.
func pageOf(name, what string) obj {
	return object("A page of "+what+", newest first", []string{"data", "next_cursor"}, obj{
		"data":        arrayOf(ref(name), "The "+what+" of this page"),
		"next_cursor": str("Pass as `cursor` to get the next page; empty on the last page", ""),
	})
}

const exampleURL = "https://example.com/webhooks/herald"

func endpointFields() obj {
	return obj{
		"url": describe(obj{"type": "string", "format": "uri"}, "Where deliveries go: an absolute http(s) URL, "+
			"or a broker: amqp://user:pass@host:5672/vhost?exchange=X&routing_key=Y or nats://host:4222?subject=S", exampleURL),
		"description": str("Free text for people", "Orders service"),
		"event_types": describe(arrayOf(obj{"type": "string"}, "Only events of these types; empty or absent: every event of the app"),
			"Only events of these types; empty or absent: every event of the app", []string{"order.created"}),
		"secret":                str("whsec_ + base64 of 24 to 64 bytes (hmac-sha256 only); made by the server when absent", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
		"ordered":               describe(obj{"type": "boolean", "default": true}, "One delivery at a time in acceptance order (per ordering_key); false: concurrent, any order. A failing delivery holds the ones behind it until it ends failed or is cancelled"),
		"rate_limit_per_second": describe(obj{"type": "integer", "minimum": 0}, "Most deliveries started per second; 0: no limit", 0),
		"headers":               stringMap("Headers added to every delivery"),
		"disabled":              boolean("Nothing is delivered; events accepted meanwhile are not queued for it"),
		"signature_type": describe(obj{"type": "string", "enum": []string{schemas.SignatureHMAC, schemas.SignatureEd25519}, "default": schemas.SignatureHMAC},
			"hmac-sha256 (v1 signatures with the whsec_ secret) or ed25519 (v1a signatures; the secret route shows the whpk_ public key)"),
		"filter": describe(obj{"type": []string{"string", "null"}}, "CEL over event_type and payload: the endpoint gets an event only when true (docs/routing.md); null or empty removes it",
			`payload.total > 1000`),
		"transform": describe(obj{"type": []string{"string", "null"}}, "CEL over event_type, payload and event_id yielding {body?, headers?}: the body and headers actually sent (docs/routing.md); null or empty removes it",
			`{"body": payload}`),
		"auth":   authSchema(true),
		"ca_pem": str("PEM certificates of a private CA the receiver's certificate must chain to"),
	}
}

// authSchema is an endpoint's receiver authentication; its secrets are
// write-only (only in requests).
func authSchema(withSecrets bool) obj {
	props := obj{
		"type":      describe(obj{"type": "string", "enum": []string{"oauth2_client_credentials", "mtls"}}, "How Herald authenticates to the receiver"),
		"token_url": describe(obj{"type": "string", "format": "uri"}, "oauth2_client_credentials: the token endpoint", "https://auth.example.com/oauth/token"),
		"client_id": str("oauth2_client_credentials: the client id"),
		"scopes":    arrayOf(obj{"type": "string"}, "oauth2_client_credentials: scopes to ask for"),
		"audience":  str("oauth2_client_credentials: the audience to ask for"),
		"cert_pem":  str("mtls: the client certificate (PEM)"),
	}
	text := "How Herald authenticates to the receiver besides the signature: a cached OAuth2 client-credentials bearer token, or a TLS client certificate"
	if withSecrets {
		props["client_secret"] = str("oauth2_client_credentials: the client secret (write-only: never shown)")
		props["key_pem"] = str("mtls: the certificate's private key (PEM; write-only: never shown)")
		return request(text, []string{"type"}, props)
	}
	return object(text+" (secrets are not shown)", []string{"type"}, props)
}

func endpointSchema(withSecret bool) obj {
	props := obj{
		"id":                    str("Server-made id", "ep_01JH2X8Z6N4Q7R9T3V5W8Y0B2C"),
		"app_id":                str("The app it belongs to", "app_01JH2X7S2K3M4N5P6Q7R8S9T0V"),
		"url":                   str("Where deliveries go", exampleURL),
		"description":           str("Free text for people", "Orders service"),
		"event_types":           arrayOf(obj{"type": "string"}, "Only events of these types; empty: every event of the app"),
		"ordered":               boolean("Deliveries go one at a time in acceptance order (per ordering_key)"),
		"rate_limit_per_second": integer("Most deliveries started per second; 0: no limit"),
		"headers":               stringMap("Headers added to every delivery"),
		"disabled":              boolean("Nothing is delivered while true"),
		"disabled_reason":       str("Why Herald disabled it (e.g. gone: the receiver answered 410); absent when enabled by hand", "gone"),
		"disabled_at":           timeStr("When it was disabled"),
		"signature_type":        str("hmac-sha256 or ed25519", schemas.SignatureHMAC),
		"created_at":            timeStr("When it was created"),
		"updated_at":            timeStr("When it last changed"),
		"filter":                str("CEL filter (docs/routing.md); absent: every event of its types"),
		"transform":             str("CEL transform (docs/routing.md); absent: the standard envelope"),
		"auth":                  authSchema(false),
		"ca_pem":                str("PEM certificates of a private CA the receiver's certificate must chain to"),
	}
	req := []string{"id", "app_id", "url", "description", "event_types", "ordered", "rate_limit_per_second",
		"headers", "disabled", "signature_type", "created_at", "updated_at"}
	text := "Where an app receives webhooks"
	if withSecret {
		props["secret"] = str("The signing secret (whsec_...), or for ed25519 the whpk_ public key; only in this answer and through the secret route",
			"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
		req = append(req, "secret")
		text = "The endpoint just created, with its secret"
	}
	return object(text, req, props)
}

const eventStatusText = "pending (some delivery not final), delivered (all succeeded, or none was due), failed (some failed, none pending) or cancelled"

func componentSchemas() obj {
	eventStatus := describe(obj{"type": "string", "enum": schemas.EventStatuses()}, eventStatusText, schemas.EventDelivered)
	deliveryStatus := describe(obj{"type": "string", "enum": schemas.DeliveryStatuses()}, "The delivery's state; succeeded, failed and cancelled are final", schemas.DeliverySucceeded)
	idProp := func(text string, example string) obj {
		return describe(obj{"type": "string", "pattern": idPattern.String()}, text, example)
	}
	nullableSchema := func(text string) obj { return describe(obj{"type": []string{"object", "null"}}, text) }
	counts := func(text string, names map[string]string) obj {
		props, req := obj{}, []string{}
		for n, t := range names {
			props[n] = integer(t)
			req = append(req, n)
		}
		slices.Sort(req)
		return object(text, req, props)
	}
	return obj{
		"Error": object("Every error answer", []string{"error"}, obj{"error": object("What went wrong", []string{"code", "message"}, obj{
			"code":    str("Stable snake_case code to branch on", "unknown_event_type"),
			"message": str("A sentence for people", "event type order.created does not exist"),
			"details": anyJSON("More about the error when there is more: the schema errors of a payload, the CEL compile error, the unreachable dependency..."),
		})}),
		"App": object("A tenant: one per customer who receives webhooks", []string{"id", "name", "created_at"}, obj{
			"id": str("Given at creation, or server-made (app_...)", "app_01JH2X7S2K3M4N5P6Q7R8S9T0V"), "name": str("Display name", "Acme Inc."),
			"created_at": timeStr("When it was created"), "updated_at": timeStr("When it last changed")}),
		"AppList":   pageOf("App", "apps"),
		"AppCreate": request("A new app", []string{"name"}, obj{"id": idProp("Your own id for it (default: app_ + a time-sorted id); 409 if taken", "acme"), "name": str("Display name", "Acme Inc.")}),
		"AppUpdate": request("A new name", []string{"name"}, obj{"name": str("Display name", "Acme Corporation")}),
		"EventType": object("A kind of event, optionally with a JSON Schema its payloads must satisfy", []string{"name", "description", "schema", "created_at", "updated_at"}, obj{
			"name": str("Its name", "order.created"), "description": str("Free text for people", "An order was placed"),
			"schema":     nullableSchema("JSON Schema (draft 2020-12) every payload must satisfy; null: any JSON"),
			"created_at": timeStr("When it was created"), "updated_at": timeStr("When it last changed")}),
		"EventTypeList": pageOf("EventType", "event types"),
		"EventTypeCreate": request("A new event type", []string{"name"}, obj{
			"name":        idProp("Its name: ^[a-zA-Z0-9_.-]{1,128}$; 409 if taken", "order.created"),
			"description": str("Free text for people", "An order was placed"),
			"schema":      nullableSchema("JSON Schema (draft 2020-12) every payload must satisfy; its examples feed test events")}),
		"EventTypeUpdate": request("Changes to an event type; absent fields are kept", nil, obj{
			"name":        str("Must be the type's own name (names cannot change)"),
			"description": str("Free text for people"),
			"schema":      nullableSchema("New JSON Schema; null removes it")}),
		"Endpoint":        endpointSchema(false),
		"EndpointCreated": endpointSchema(true),
		"EndpointList":    pageOf("Endpoint", "endpoints"),
		"EndpointCreate":  request("A new endpoint", []string{"url"}, endpointFields()),
		"EndpointUpdate":  request("Changes to an endpoint: any of the create fields; absent fields are kept", nil, endpointFields()),
		"Key": object("An endpoint's signing secret (whsec_...) or, for ed25519, its public key (whpk_...)", []string{"key"}, obj{
			"key": str("The key", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}),
		"KeyRotate": request("The new secret (default: made by the server)", nil, obj{"key": str("whsec_ + base64 of 24 to 64 bytes", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")}),
		"Recover": request("The window of failed deliveries to deliver again", []string{"since"}, obj{
			"since": timeStr("Deliveries that ended failed at or after this"), "until": timeStr("...and before this (default: now)")}),
		"Recovered": object("How many deliveries were started again", []string{"replayed"}, obj{"replayed": describe(integer("Deliveries started again"), "Deliveries started again", 3)}),
		"Replay":    request("Which endpoint to deliver to again", nil, obj{"endpoint_id": str("Only this endpoint (default: every endpoint the event was for)", "ep_01JH2X8Z6N4Q7R9T3V5W8Y0B2C")}),
		"EventCreate": request("A new event", []string{"event_type", "payload"}, obj{
			"id":           idProp("Your id for it, the idempotency key: the same id again answers 200 with the existing event (default: evt_ + a time-sorted id)", "ord_1234-created"),
			"event_type":   str("An existing event type; its schema, if any, checks payload", "order.created"),
			"payload":      anyJSON("Any JSON; delivered as the envelope's data"),
			"ordering_key": describe(obj{"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[\\x20-\\x7e]+$"}, "On ordered endpoints, deliveries go one at a time per key; different keys may be under way at once", "customer-42")}),
		"Event": object("An accepted event with its deliveries", []string{"id", "app_id", "event_type", "payload", "created_at", "status", "deliveries"}, obj{
			"id": str("Its id (webhook-id of every delivery)", "evt_01JH2XB4D6F8H0J2K4M6N8P0Q2"), "app_id": str("Its app", "acme"),
			"event_type": str("Its type", "order.created"), "payload": anyJSON("The payload as sent"),
			"ordering_key": str("Its ordering key, when it has one", "customer-42"), "created_at": timeStr("When the API accepted it"),
			"status": eventStatus, "deliveries": arrayOf(ref("Delivery"), "One per endpoint it is for")}),
		"EventList": pageOf("Event", "events"),
		"Delivery": object("An event's delivery to one endpoint", []string{"endpoint_id", "status", "attempts"}, obj{
			"endpoint_id": str("The endpoint", "ep_01JH2X8Z6N4Q7R9T3V5W8Y0B2C"), "status": deliveryStatus,
			"attempts":        arrayOf(ref("Attempt"), "Its attempts, first first"),
			"next_attempt_at": timeStr("When the next attempt is due, while one is")}),
		"Attempt": object("One request made for a delivery", []string{"attempt", "started_at", "duration_ms"}, obj{
			"attempt": describe(integer("1-based"), "1-based", 1), "started_at": timeStr("When it started"),
			"duration_ms":     describe(integer("How long it took"), "How long it took", 42),
			"response_status": describe(integer("The receiver's status code, when it answered"), "The receiver's status code, when it answered", 200),
			"error":           str("Why it failed, when it did without a status (timeout, refused connection...)"),
			"response_body":   str("The first 1 KiB of the receiver's answer")}),
		"SchemaError": object("One way a payload fails its event type's schema", []string{"path", "message"}, obj{
			"path": str("JSON pointer into the payload", "/total"), "message": str("What is wrong there", "must be >= 0")}),
		"TestEvent": request("A test event (both fields optional)", nil, obj{
			"event_type": str("Its type (default: the endpoint's first event type, else "+testEventType+")", "order.created"),
			"payload":    anyJSON("Its payload (default: the type's schema example, else a greeting)")}),
		"EndpointStats": object("An endpoint's deliveries over a window", []string{"since", "until", "counts", "attempts", "latency_ms", "buckets"}, obj{
			"since": timeStr("Start of the window"), "until": timeStr("End of the window"),
			"counts": counts("Deliveries that ended (or are pending) in the window, by status", map[string]string{
				"succeeded": "Deliveries that succeeded", "failed": "Deliveries that failed", "cancelled": "Deliveries cancelled", "pending": "Deliveries not final yet"}),
			"attempts": counts("Attempts in the window, by outcome", map[string]string{
				"2xx": "Answered 2xx", "4xx": "Answered 4xx", "5xx": "Answered 5xx", "error": "No answer (timeout, connection refused...)"}),
			"latency_ms": counts("Attempt duration percentiles", map[string]string{"p50": "Median", "p95": "95th percentile", "p99": "99th percentile"}),
			"buckets": arrayOf(object("One hour of the window", []string{"start", "succeeded", "failed"}, obj{
				"start": timeStr("Start of the hour"), "succeeded": integer("Deliveries that succeeded"),
				"failed": integer("Deliveries that failed"), "attempts": integer("Attempts made"),
				"latency_p50_ms": integer("Median attempt duration"), "latency_p95_ms": integer("95th percentile attempt duration")}), "Hourly buckets, oldest first")}),
		"PortalLinkCreate": describe(obj{"type": "object", "properties": obj{
			"expires_in": describe(obj{"type": "integer", "minimum": 1, "maximum": 604800, "default": 3600}, "Seconds the link and its token are valid", 3600),
			"read_only":  describe(obj{"type": "boolean", "default": false}, "Allow only GET requests")}}, "A consumer portal link to make"),
		"PortalLink": object("A consumer portal link", []string{"url", "token", "expires_at"}, obj{
			"url":   str("Opens the portal for this app's customer", "http://127.0.0.1:8080/portal/apps/acme#token=..."),
			"token": str("A bearer for this app's /v1/apps/{app}/... routes only"), "expires_at": timeStr("When the link and token expire"),
			"app_id": str("The app it is scoped to"), "read_only": boolean("Only GET requests allowed")}),
		"PortalGrant": object("What the calling portal token grants", []string{"app_id", "read_only", "expires_at"}, obj{
			"app_id": str("The app it is scoped to"), "read_only": boolean("Only GET requests allowed"), "expires_at": timeStr("When it expires")}),
		"SourceCreate": request("A broker queue to consume", []string{"url"}, obj{
			"url":        str("amqp://user:pass@host:5672/vhost?queue=Q or nats://host:4222?stream=S&consumer=C", "amqp://guest:guest@127.0.0.1:5672/?queue=orders"),
			"event_type": str("The type of messages without a herald-event-type header", "order.created")}),
		"Source": object("A broker queue Herald consumes into events of the app", []string{"id", "app_id", "url", "event_type", "status", "created_at"}, obj{
			"id": str("Server-made id", "src_01JH2XC8E0G2J4L6N8Q0S2U4W6"), "app_id": str("Its app"),
			"url":        str("The broker URL, password hidden", "amqp://guest:***@127.0.0.1:5672/?queue=orders"),
			"event_type": str("The type of messages without a herald-event-type header"),
			"status":     describe(obj{"type": "string", "enum": []string{schemas.SourceRunning, schemas.SourceFailing}}, "running, or failing (see last_error)"),
			"last_error": str("Why it is failing"),
			"created_at": timeStr("When it was created")}),
		"SourceList": pageOf("Source", "sources"),
		"Status":     object("A health answer", []string{"status"}, obj{"status": str("ok", "ok")}),
		"WebhookMessage": object("The body Herald POSTs to an endpoint (unless the endpoint's transform replaces it)", []string{"type", "timestamp", "data"}, obj{
			"type":      str("The event's type", "order.created"),
			"timestamp": timeStr("When the API accepted the event (not the attempt's time)"),
			"data":      anyJSON("The event's payload"),
		}),
	}
}
