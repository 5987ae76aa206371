package api

import (
	"encoding/json"
	"strings"

	"github.com/herald-hq/herald/schemas"
)

// The OpenAPI 3.1 document of every route, built as data. It is what
// clients are generated from (client/, via api/cmd/openapi), so every
// operation has a stable operationId, a tag and a description, and every
// schema property a description (openapi_test.go checks all of it and
// validates the document). TestOpenAPICoversEveryRoute fails when a route
// of the app has no entry here.

type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func jsonContent(schema obj) obj {
	return obj{"application/json": obj{"schema": schema}}
}

// docTags group the operations; their order is the documentation's.
func docTags() []obj {
	return []obj{
		{"name": "apps", "description": "Tenants: one per customer who receives webhooks."},
		{"name": "event types", "description": "The kinds of events, each optionally with a JSON Schema its payloads must satisfy."},
		{"name": "endpoints", "description": "Where an app receives webhooks: a URL (or a broker), its secret, filter, transform and limits."},
		{"name": "events", "description": "Send events and follow, cancel or replay their deliveries."},
		{"name": "portal", "description": "Links to the consumer portal, scoped to one app."},
		{"name": "sources", "description": "Message-broker queues whose messages become events."},
		{"name": "operations", "description": "Health, readiness, metrics and this document; no token needed."},
	}
}

// errorAnswer is an error answer an operation may list, in the contract's
// error shape: its component name, description and example.
type errorAnswer struct{ name, text, code, message string }

func errorAnswers() map[string]errorAnswer {
	return map[string]errorAnswer{
		"400": {"BadRequest", "Malformed JSON or parameter", "invalid_json", "the body is not valid JSON"},
		"401": {"Unauthorized", "Missing or wrong bearer token, or an expired portal token", "unauthorized", "invalid API token"},
		"403": {"Forbidden", "A portal token used outside its app or for a route it may not use", "forbidden", "a portal link cannot delete its app"},
		"404": {"NotFound", "Unknown resource (app, endpoint, event, event type or source)", "app_not_found", "app \"acme\" does not exist"},
		"409": {"Conflict", "That id or name exists already", "app_exists", "app \"acme\" exists"},
		"413": {"PayloadTooLarge", "Body over HERALD_MAX_PAYLOAD_BYTES (default 1 MiB)", "payload_too_large", "the body is over 1048576 bytes"},
		"422": {"UnprocessableEntity", "Valid JSON that breaks a rule: unknown event type, payload failing its schema (errors in details), bad URL, invalid CEL...", "unknown_event_type", "event type \"order.created\" does not exist"},
		"503": {"ServiceUnavailable", "A dependency (the database or Temporal) is down; nothing was changed", "temporal_unavailable", "the workflow service is unavailable; retry the request"},
	}
}

// op describes one operation.
type op struct {
	id       string // operationId: stable, it names the generated client's methods
	tag      string
	summary  string
	desc     string
	body     string // request body schema name, "" for none
	optional bool   // the body may be absent
	example  any    // example request body
	status   string
	answer   obj // response schema, nil for none
	media    string
	query    []string
	public   bool
	errors   []string
	repeat   bool // also answers 200 with the same schema (an idempotent repeat)
}

// queryParams are the query parameters routes take.
func queryParams() map[string]obj {
	return map[string]obj{
		"limit":        {"schema": obj{"type": "integer", "minimum": 1, "maximum": 250, "default": 50}, "description": "Items per page (1 to 250; outside that 400)"},
		"cursor":       {"schema": obj{"type": "string"}, "description": "next_cursor of the previous page"},
		"since":        {"schema": obj{"type": "string", "format": "date-time"}, "description": "Only from this time (RFC 3339)", "example": "2026-01-15T00:00:00Z"},
		"until":        {"schema": obj{"type": "string", "format": "date-time"}, "description": "Only before this time (RFC 3339)", "example": "2026-01-16T00:00:00Z"},
		"status":       {"schema": obj{"type": "string", "enum": schemas.EventStatuses()}, "description": "Only events with this status"},
		"event_type":   {"schema": obj{"type": "string"}, "description": "Only events of this type", "example": "order.created"},
		"endpoint_id":  {"schema": obj{"type": "string"}, "description": "Only events with a delivery to this endpoint"},
		"ordering_key": {"schema": obj{"type": "string"}, "description": "Only events with this ordering key"},
	}
}

// pathParams describe the path parameters.
func pathParams() map[string]string {
	return map[string]string{
		"app":   "The app's id",
		"ep":    "The endpoint's id",
		"id":    "The event's id",
		"name":  "The event type's name",
		"src":   "The source's id",
		"asset": "A file of the documentation viewer",
	}
}

func (o op) build(path string, schemas obj) obj {
	out := obj{"operationId": o.id, "tags": []string{o.tag}, "summary": o.summary, "description": o.desc}
	var params []obj
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") {
			name := strings.Trim(seg, "{}")
			params = append(params, obj{"name": name, "in": "path", "required": true,
				"description": pathParams()[name], "schema": obj{"type": "string"}})
		}
	}
	for _, q := range o.query {
		p := obj{"name": q, "in": "query"}
		for k, v := range queryParams()[q] {
			p[k] = v
		}
		params = append(params, p)
	}
	if o.id == "createEvent" {
		params = append(params, obj{"name": "Idempotency-Key", "in": "header", "schema": obj{"type": "string"},
			"description": "Works like the body's id; when both are given they must be equal.", "example": "ord_1234-created"})
	}
	if params != nil {
		out["parameters"] = params
	}
	if o.body != "" {
		content := jsonContent(ref(o.body))
		if o.example != nil {
			content["application/json"].(obj)["example"] = o.example
		}
		out["requestBody"] = obj{"required": !o.optional, "content": content,
			"description": schemas[o.body].(obj)["description"]}
	}
	resp := obj{}
	switch {
	case o.answer != nil && o.media != "":
		resp[o.status] = obj{"description": o.summary, "content": obj{o.media: obj{"schema": o.answer}}}
	case o.answer != nil:
		resp[o.status] = obj{"description": o.summary, "content": jsonContent(o.answer)}
	default:
		resp[o.status] = obj{"description": o.summary}
	}
	if o.repeat {
		resp["200"] = obj{"description": "A repeat of an accepted event (same id or Idempotency-Key): the existing event; nothing new is delivered", "content": jsonContent(o.answer)}
	}
	errs := o.errors
	if !o.public {
		errs = append([]string{"401"}, errs...)
	}
	for _, code := range errs {
		resp[code] = obj{"$ref": "#/components/responses/" + errorAnswers()[code].name}
	}
	if !o.public {
		resp["default"] = obj{"$ref": "#/components/responses/Error"}
	}
	out["responses"] = resp
	if o.public {
		out["security"] = []obj{}
	}
	return out
}

// routes lists every route: path -> method -> operation.
func routes() map[string]map[string]op {
	page := []string{"limit", "cursor"}
	return map[string]map[string]op{
		"/healthz": {"get": {id: "getHealth", tag: "operations", summary: "The process is up",
			desc: "Answers 200 while the process runs; it checks nothing else (see /readyz).", status: "200", answer: ref("Status"), public: true}},
		"/readyz": {"get": {id: "getReadiness", tag: "operations", summary: "The database and Temporal are reachable",
			desc: "200 when the database and Temporal answer within 3 s; else 503 with the unreachable ones in details.", status: "200", answer: ref("Status"), public: true, errors: []string{"503"}}},
		"/metrics": {"get": {id: "getMetrics", tag: "operations", summary: "Prometheus metrics (text format)",
			desc: "Herald's herald_* metrics, the Temporal SDK's and Go's, in the Prometheus text format.", status: "200", answer: obj{"type": "string"}, media: "text/plain", public: true}},
		"/openapi.json": {"get": {id: "getOpenAPI", tag: "operations", summary: "This document",
			desc: "The OpenAPI 3.1 document of every route, and of what an endpoint receives (webhooks).", status: "200", answer: obj{"type": "object"}, public: true}},
		"/docs": {"get": {id: "getDocs", tag: "operations", summary: "API documentation viewer (HTML)",
			desc: "A browsable view of this document.", status: "200", answer: obj{"type": "string"}, media: "text/html", public: true}},
		"/docs/{asset}": {"get": {id: "getDocsAsset", tag: "operations", summary: "Assets of the documentation viewer",
			desc: "Scripts and styles of /docs.", status: "200", public: true, errors: []string{"404"}}},
		"/v1/apps": {
			"post": {id: "createApp", tag: "apps", summary: "Create an app", desc: "Creates a tenant. Give your own id (your customer's id, say) or let Herald make one (app_...).",
				body: "AppCreate", example: obj{"id": "acme", "name": "Acme Inc."}, status: "201", answer: ref("App"), errors: []string{"400", "409", "413", "422"}},
			"get": {id: "listApps", tag: "apps", summary: "List apps, newest first", desc: "Pages through every app, newest first.",
				status: "200", answer: ref("AppList"), query: page, errors: []string{"400"}},
		},
		"/v1/apps/{app}": {
			"get": {id: "getApp", tag: "apps", summary: "Get an app", desc: "The app with this id.", status: "200", answer: ref("App"), errors: []string{"404"}},
			"patch": {id: "updateApp", tag: "apps", summary: "Rename an app", desc: "Changes the app's name; its id never changes.",
				body: "AppUpdate", example: obj{"name": "Acme Corporation"}, status: "200", answer: ref("App"), errors: []string{"400", "404", "422"}},
			"delete": {id: "deleteApp", tag: "apps", summary: "Delete an app, its endpoints and their pending deliveries",
				desc: "Deletes the app and its endpoints; their pending deliveries stop.", status: "204", errors: []string{"404"}},
		},
		"/v1/event-types": {
			"post": {id: "createEventType", tag: "event types", summary: "Create an event type",
				desc: "Names a kind of event. With a JSON Schema (draft 2020-12), every event of the type must satisfy it (422 with the schema errors otherwise); its examples are the payload of test events.",
				body: "EventTypeCreate", example: obj{"name": "order.created", "description": "An order was placed",
					"schema": obj{"type": "object", "required": []string{"order"}, "properties": obj{"order": obj{"type": "string"}, "total": obj{"type": "integer", "minimum": 0}}}},
				status: "201", answer: ref("EventType"), errors: []string{"400", "409", "422"}},
			"get": {id: "listEventTypes", tag: "event types", summary: "List event types, newest first", desc: "Pages through every event type, newest first.",
				status: "200", answer: ref("EventTypeList"), query: page, errors: []string{"400"}},
		},
		"/v1/event-types/{name}": {
			"get": {id: "getEventType", tag: "event types", summary: "Get an event type", desc: "The event type with this name, with its schema.", status: "200", answer: ref("EventType"), errors: []string{"404"}},
			"patch": {id: "updateEventType", tag: "event types", summary: "Change an event type's description or schema (null removes it)",
				desc: "Changes the description or the schema; events accepted later are checked against the new schema.",
				body: "EventTypeUpdate", example: obj{"description": "An order was placed (v2)"}, status: "200", answer: ref("EventType"), errors: []string{"400", "404", "422"}},
			"delete": {id: "deleteEventType", tag: "event types", summary: "Delete an event type", desc: "Events of the type are refused (422) afterwards; accepted ones are still delivered.", status: "204", errors: []string{"404"}},
		},
		"/v1/apps/{app}/endpoints": {
			"post": {id: "createEndpoint", tag: "endpoints", summary: "Create an endpoint",
				desc: "Adds a receiver to the app. The answer carries the signing secret (whsec_...; made when absent) or, for ed25519, the whpk_ public key. " +
					"Ordered by default: deliveries go one at a time, so one failing delivery holds the later ones until it ends failed (after the retry schedule) or is cancelled; use \"ordered\": false, or ordering keys, where order does not matter.",
				body: "EndpointCreate", example: obj{"url": exampleURL, "description": "Orders service", "event_types": []string{"order.created"}},
				status: "201", answer: ref("EndpointCreated"), errors: []string{"400", "404", "422"}},
			"get": {id: "listEndpoints", tag: "endpoints", summary: "List an app's endpoints, newest first", desc: "Pages through the app's endpoints, newest first.",
				status: "200", answer: ref("EndpointList"), query: page, errors: []string{"400", "404"}},
		},
		"/v1/apps/{app}/endpoints/{ep}": {
			"get": {id: "getEndpoint", tag: "endpoints", summary: "Get an endpoint", desc: "The endpoint, without its secret.", status: "200", answer: ref("Endpoint"), errors: []string{"404"}},
			"patch": {id: "updateEndpoint", tag: "endpoints", summary: "Change an endpoint (any create field)",
				desc: "Changes any of the create fields; absent fields are kept. Re-enabling (disabled: false) clears disabled_reason.",
				body: "EndpointUpdate", example: obj{"disabled": false, "rate_limit_per_second": 50}, status: "200", answer: ref("Endpoint"), errors: []string{"400", "404", "422"}},
			"delete": {id: "deleteEndpoint", tag: "endpoints", summary: "Delete an endpoint; its pending deliveries are cancelled",
				desc: "Deletes the endpoint; its pending deliveries become cancelled.", status: "204", errors: []string{"404"}},
		},
		"/v1/apps/{app}/endpoints/{ep}/secret": {
			"get": {id: "getEndpointSecret", tag: "endpoints", summary: "The endpoint's signing secret (whsec_), or its public key (whpk_) for ed25519",
				desc: "The key a receiver verifies signatures with.", status: "200", answer: ref("Key"), errors: []string{"404"}},
		},
		"/v1/apps/{app}/endpoints/{ep}/secret/rotate": {
			"post": {id: "rotateEndpointSecret", tag: "endpoints", summary: "Rotate the secret; the old one keeps signing for HERALD_SECRET_OVERLAP",
				desc: "Sets a new secret (given, or made). Deliveries carry a signature by each active key until the overlap (default 24h) ends, so receivers can switch keys without a failed delivery.",
				body: "KeyRotate", optional: true, status: "200", answer: ref("Key"), errors: []string{"400", "404", "422"}},
		},
		"/v1/apps/{app}/endpoints/{ep}/recover": {
			"post": {id: "recoverEndpoint", tag: "endpoints", summary: "Deliver again every delivery to the endpoint that ended failed in the window",
				desc: "After an outage of the receiver: every delivery to this endpoint that ended failed between since and until is delivered again.",
				body: "Recover", example: obj{"since": "2026-01-15T00:00:00Z"}, status: "202", answer: ref("Recovered"), errors: []string{"400", "404", "422", "503"}},
		},
		"/v1/apps/{app}/endpoints/{ep}/test": {
			"post": {id: "sendTestEvent", tag: "endpoints", summary: "Send a test event (id test_...) to this endpoint only; the payload defaults to the event type's schema example",
				desc: "Delivers a test event to this endpoint only, signed and retried like any other.",
				body: "TestEvent", optional: true, example: obj{"event_type": "order.created"}, status: "202", answer: ref("Event"), errors: []string{"400", "404", "422", "503"}},
		},
		"/v1/apps/{app}/endpoints/{ep}/stats": {
			"get": {id: "getEndpointStats", tag: "endpoints", summary: "The endpoint's delivery counts, attempt outcomes, latency and hourly buckets (default: the last 24h)",
				desc: "Counts of deliveries and attempts, latency percentiles and hourly buckets over the window.", status: "200", answer: ref("EndpointStats"), query: []string{"since", "until"}, errors: []string{"400", "404"}},
		},
		"/v1/apps/{app}/portal-links": {
			"post": {id: "createPortalLink", tag: "portal", summary: "Make a consumer portal link: a token scoped to this app (read-only if asked) and the portal URL",
				desc: "The URL opens Herald's consumer portal for this app's customer; the token works on this app's routes only.",
				body: "PortalLinkCreate", optional: true, example: obj{"expires_in": 3600, "read_only": false}, status: "201", answer: ref("PortalLink"), errors: []string{"400", "403", "404", "422"}},
		},
		"/v1/apps/{app}/portal-links/self": {
			"get": {id: "getPortalGrant", tag: "portal", summary: "What the calling portal token grants (portal tokens only)",
				desc: "The app, mode and expiry of the calling portal token; the portal reads it at start.", status: "200", answer: ref("PortalGrant"), errors: []string{"400", "403"}},
		},
		"/v1/apps/{app}/sources": {
			"post": {id: "createSource", tag: "sources", summary: "Consume a RabbitMQ queue or a NATS JetStream consumer: each message becomes an event of the app",
				desc: "Each message becomes an event as POST .../events would make it (id from message-id / Nats-Msg-Id, type from the herald-event-type header or event_type); it is acknowledged only once accepted.",
				body: "SourceCreate", example: obj{"url": "amqp://guest:guest@127.0.0.1:5672/?queue=orders", "event_type": "order.created"}, status: "201", answer: ref("Source"), errors: []string{"400", "403", "404", "422", "503"}},
			"get": {id: "listSources", tag: "sources", summary: "List an app's sources, newest first", desc: "Pages through the app's sources, newest first.",
				status: "200", answer: ref("SourceList"), query: page, errors: []string{"400", "403", "404"}},
		},
		"/v1/apps/{app}/sources/{src}": {
			"get":    {id: "getSource", tag: "sources", summary: "Get a source, with how its consumption goes", desc: "The source, its status and last error.", status: "200", answer: ref("Source"), errors: []string{"403", "404"}},
			"delete": {id: "deleteSource", tag: "sources", summary: "Stop consuming and delete the source", desc: "Stops consuming; messages already accepted stay events.", status: "204", errors: []string{"403", "404"}},
		},
		"/v1/apps/{app}/events": {
			"post": {id: "createEvent", tag: "events", summary: "Send an event",
				desc: "Accepts the event durably: once 202 is answered it is delivered to every subscribed endpoint even if every process crashes right after. " +
					"The same id (or Idempotency-Key) again answers 200 with the existing event for HERALD_IDEMPOTENCY_WINDOW (default 24h).",
				body: "EventCreate", example: obj{"id": "ord_1234-created", "event_type": "order.created", "payload": obj{"order": "ord_1234", "total": 1250}},
				status: "202", answer: ref("Event"), repeat: true, errors: []string{"400", "404", "413", "422", "503"}},
			"get": {id: "listEvents", tag: "events", summary: "List an app's events, newest first", desc: "Pages through the app's events, newest first, optionally filtered.",
				status: "200", answer: ref("EventList"), query: append(page, "status", "event_type", "endpoint_id", "ordering_key", "since", "until"), errors: []string{"400", "404"}},
		},
		"/v1/apps/{app}/events/{id}": {
			"get": {id: "getEvent", tag: "events", summary: "Get an event with its deliveries and attempts",
				desc: "The event, its status, and per endpoint the delivery's status and every attempt.", status: "200", answer: ref("Event"), errors: []string{"404"}},
		},
		"/v1/apps/{app}/events/{id}/cancel": {
			"post": {id: "cancelEvent", tag: "events", summary: "Cancel the event's deliveries that have not succeeded",
				desc:   "Deliveries not yet succeeded stop for good and become cancelled: no new attempt starts after 202 (one under way may finish). On an ordered endpoint the next delivery goes.",
				status: "202", answer: ref("Event"), errors: []string{"404", "503"}},
		},
		"/v1/apps/{app}/events/{id}/replay": {
			"post": {id: "replayEvent", tag: "events", summary: "Deliver the event again (to one endpoint or all)",
				desc: "Delivers the event again to that endpoint, or to every endpoint it was for, whatever happened before; works at any time.",
				body: "Replay", optional: true, example: obj{"endpoint_id": "ep_01JH2X8Z6N4Q7R9T3V5W8Y0B2C"}, status: "202", answer: ref("Event"), errors: []string{"400", "404", "503"}},
		},
	}
}

// componentResponses are the shared error answers.
func componentResponses() obj {
	out := obj{"Error": obj{"description": "Any other error, in the same shape (e.g. 429 over the connection limit, 500)",
		"content": jsonContent(ref("Error"))}}
	for _, e := range errorAnswers() {
		ex := obj{"error": obj{"code": e.code, "message": e.message}}
		out[e.name] = obj{"description": e.text, "content": obj{"application/json": obj{"schema": ref("Error"), "example": ex}}}
	}
	return out
}

// webhooks describes what an endpoint receives (the contract's "What an
// endpoint receives").
func webhooks() obj {
	header := func(name, text string, example any) obj {
		return obj{"name": name, "in": "header", "required": true, "description": text, "schema": obj{"type": "string"}, "example": example}
	}
	return obj{"event": obj{"post": obj{
		"operationId": "receiveEvent",
		"tags":        []string{"events"},
		"summary":     "What an endpoint receives: one POST per attempt",
		"description": "Herald POSTs each event to every subscribed endpoint's URL, signed per Standard Webhooks " +
			"(https://www.standardwebhooks.com): the signature is base64(HMAC-SHA256(key, \"<webhook-id>.<webhook-timestamp>.<body>\")), " +
			"key being the base64-decoded part of the endpoint's whsec_ secret, sent as v1,<sig>; an ed25519 endpoint sends v1a,<base64 ed25519 signature> " +
			"over the same content, verifiable with its whpk_ public key. Any Standard Webhooks verifier accepts it (Go: client.Verify). " +
			"The endpoint's custom headers are added; a transform may replace the body and add headers (the signature is over the body sent). " +
			"Success is a 2xx within HERALD_DELIVERY_TIMEOUT (default 15s); anything else fails the attempt and it is retried by HERALD_RETRY_SCHEDULE " +
			"(default 5s,5m,30m,2h,5h,10h,10h: 8 attempts over about 28 hours). Receivers dedupe on webhook-id.",
		"parameters": []obj{
			header("webhook-id", "The event's id: the same across retries and replays, so receivers dedupe on it", "evt_01JH2XB4D6F8H0J2K4M6N8P0Q2"),
			header("webhook-timestamp", "Unix seconds of this attempt; reject ones far from now (Standard Webhooks verifiers allow 5 minutes)", "1768469400"),
			header("webhook-signature", "Space-separated signatures, one per active key (two while a rotated key overlaps): v1,<base64 HMAC-SHA256> or v1a,<base64 ed25519>",
				"v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="),
			{"name": "User-Agent", "in": "header", "description": "Herald/<version>", "schema": obj{"type": "string"}, "example": "Herald/v1.0.0"},
		},
		"requestBody": obj{"required": true, "description": "The envelope (unless the endpoint's transform gives another body)",
			"content": obj{"application/json": obj{"schema": ref("WebhookMessage"),
				"example": obj{"type": "order.created", "timestamp": "2026-01-15T09:30:00Z", "data": obj{"order": "ord_1234", "total": 1250}}}}},
		"responses": obj{
			"2XX": obj{"description": "Delivered: the delivery is succeeded and, on an ordered endpoint, the next one goes"},
			"410": obj{"description": "Gone: final, as Standard Webhooks asks: no more retries, the delivery is failed and the endpoint disabled (disabled_reason gone)"},
			"429": obj{"description": "Too many requests: retried; a Retry-After (seconds or HTTP date) is honoured, up to twice the scheduled delay",
				"headers": obj{"Retry-After": obj{"description": "Seconds or an HTTP date", "schema": obj{"type": "string"}}}},
			"503": obj{"description": "Unavailable: retried; a Retry-After is honoured as for 429",
				"headers": obj{"Retry-After": obj{"description": "Seconds or an HTTP date", "schema": obj{"type": "string"}}}},
			"default": obj{"description": "Any other answer, or none within the timeout: the attempt failed and is retried; after the last one the delivery is failed"},
		},
		"security": []obj{},
	}}}
}

// OpenAPIDocument is the OpenAPI 3.1 document /openapi.json serves, for
// version; the client package is generated from it (api/cmd/openapi).
func OpenAPIDocument(version string) []byte { return openAPIDocument(version) }

// openAPIDocument renders the document.
func openAPIDocument(version string) []byte {
	if version == "" {
		version = "dev"
	}
	schemas, paths := componentSchemas(), obj{}
	for path, methods := range routes() {
		item := obj{}
		for method, o := range methods {
			item[method] = o.build(path, schemas)
		}
		paths[path] = item
	}
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{"title": "Herald", "version": version,
			"description": "Durable webhook delivery on Temporal. Every /v1 route needs Authorization: Bearer <HERALD_API_TOKEN> " +
				"(or a portal token, for its app's routes). Errors are {\"error\": {\"code\", \"message\", \"details\"?}}. " +
				"Lists are {\"data\": [...], \"next_cursor\"}, newest first. What endpoints receive is under webhooks."},
		"tags":     docTags(),
		"security": []obj{{"bearer": []string{}}},
		"paths":    paths,
		"webhooks": webhooks(),
		"components": obj{
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer",
				"description": "HERALD_API_TOKEN (herald dev prints it at start and keeps it in its data dir), or a portal link's token"}},
			"responses": componentResponses(),
			"schemas":   schemas,
		},
	}
	out, err := json.Marshal(doc)
	if err != nil {
		panic("openapi: " + err.Error()) // the document is static data
	}
	return out
}
