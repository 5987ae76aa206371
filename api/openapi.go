package api

import (
	"encoding/json"
	"strings"
)

// The OpenAPI 3.1 document of every route, built as data. openapi_test.go
// fails when a route of the app has no entry here.

type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func jsonContent(schema obj) obj {
	return obj{"application/json": obj{"schema": schema}}
}

func listOfRef(name string) obj {
	return obj{"type": "object", "required": []string{"data", "next_cursor"}, "properties": obj{
		"data": obj{"type": "array", "items": ref(name)}, "next_cursor": obj{"type": "string"}}}
}

// op describes one operation.
type op struct {
	summary  string
	body     obj // request body schema, nil for none
	optional bool
	status   string
	answer   obj // response schema, nil for none
	query    []string
	public   bool
	errors   []string
	repeat   bool // also answers 200 with the same schema (an idempotent repeat)
}

func (o op) build(method, path string) obj {
	out := obj{"summary": o.summary, "operationId": operationID(method, path)}
	var params []obj
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") {
			params = append(params, obj{"name": strings.Trim(seg, "{}"), "in": "path", "required": true,
				"schema": obj{"type": "string"}})
		}
	}
	for _, q := range o.query {
		schema := obj{"type": "string"}
		switch q {
		case "limit":
			schema = obj{"type": "integer", "minimum": 1, "maximum": 250, "default": 50}
		case "since", "until":
			schema = obj{"type": "string", "format": "date-time"}
		case "status":
			schema = obj{"type": "string", "enum": eventStatuses}
		}
		params = append(params, obj{"name": q, "in": "query", "schema": schema})
	}
	if method == "post" && strings.HasSuffix(path, "/events") {
		params = append(params, obj{"name": "Idempotency-Key", "in": "header", "schema": obj{"type": "string"},
			"description": "Works like the body's id; when both are given they must be equal."})
	}
	if params != nil {
		out["parameters"] = params
	}
	if o.body != nil {
		out["requestBody"] = obj{"required": !o.optional, "content": jsonContent(o.body)}
	}
	resp := obj{}
	if o.answer != nil {
		resp[o.status] = obj{"description": o.summary, "content": jsonContent(o.answer)}
	} else {
		resp[o.status] = obj{"description": o.summary}
	}
	if o.repeat {
		resp["200"] = obj{"description": "A repeat of an accepted event: the existing event", "content": jsonContent(o.answer)}
	}
	errs := o.errors
	if !o.public {
		errs = append([]string{"401"}, errs...)
	}
	for _, code := range errs {
		resp[code] = obj{"$ref": "#/components/responses/Error"}
	}
	out["responses"] = resp
	if o.public {
		out["security"] = []obj{}
	}
	return out
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(method)
	for _, seg := range strings.Split(path, "/") {
		seg = strings.Trim(seg, "{}")
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '.' || r == '_' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// routes lists every route: path -> method -> operation.
func routes() map[string]map[string]op {
	page := []string{"limit", "cursor"}
	return map[string]map[string]op{
		"/healthz":      {"get": {summary: "The process is up", status: "200", answer: obj{"type": "object"}, public: true}},
		"/readyz":       {"get": {summary: "The database and Temporal are reachable", status: "200", answer: obj{"type": "object"}, public: true, errors: []string{"503"}}},
		"/metrics":      {"get": {summary: "Prometheus metrics (text format)", status: "200", public: true}},
		"/openapi.json": {"get": {summary: "This document", status: "200", answer: obj{"type": "object"}, public: true}},
		"/docs":         {"get": {summary: "API documentation viewer (HTML)", status: "200", public: true}},
		"/docs/{asset}": {"get": {summary: "Assets of the documentation viewer", status: "200", public: true, errors: []string{"404"}}},
		"/v1/apps": {
			"post": {summary: "Create an app", body: ref("AppCreate"), status: "201", answer: ref("App"), errors: []string{"400", "409", "413", "422"}},
			"get":  {summary: "List apps, newest first", status: "200", answer: listOfRef("App"), query: page, errors: []string{"400"}},
		},
		"/v1/apps/{app}": {
			"get":    {summary: "Get an app", status: "200", answer: ref("App"), errors: []string{"404"}},
			"patch":  {summary: "Rename an app", body: ref("AppUpdate"), status: "200", answer: ref("App"), errors: []string{"400", "404", "422"}},
			"delete": {summary: "Delete an app, its endpoints and their pending deliveries", status: "204", errors: []string{"404"}},
		},
		"/v1/event-types": {
			"post": {summary: "Create an event type", body: ref("EventTypeCreate"), status: "201", answer: ref("EventType"), errors: []string{"400", "409", "422"}},
			"get":  {summary: "List event types, newest first", status: "200", answer: listOfRef("EventType"), query: page, errors: []string{"400"}},
		},
		"/v1/event-types/{name}": {
			"get":    {summary: "Get an event type", status: "200", answer: ref("EventType"), errors: []string{"404"}},
			"patch":  {summary: "Change an event type's description or schema (null removes it)", body: ref("EventTypeUpdate"), status: "200", answer: ref("EventType"), errors: []string{"400", "404", "422"}},
			"delete": {summary: "Delete an event type", status: "204", errors: []string{"404"}},
		},
		"/v1/apps/{app}/endpoints": {
			"post": {summary: "Create an endpoint", body: ref("EndpointCreate"), status: "201", answer: ref("EndpointCreated"), errors: []string{"400", "404", "422"}},
			"get":  {summary: "List an app's endpoints, newest first", status: "200", answer: listOfRef("Endpoint"), query: page, errors: []string{"400", "404"}},
		},
		"/v1/apps/{app}/endpoints/{ep}": {
			"get":    {summary: "Get an endpoint", status: "200", answer: ref("Endpoint"), errors: []string{"404"}},
			"patch":  {summary: "Change an endpoint (any create field)", body: ref("EndpointUpdate"), status: "200", answer: ref("Endpoint"), errors: []string{"400", "404", "422"}},
			"delete": {summary: "Delete an endpoint; its pending deliveries are cancelled", status: "204", errors: []string{"404"}},
		},
		"/v1/apps/{app}/endpoints/{ep}/secret": {
			"get": {summary: "The endpoint's signing secret (whsec_), or its public key (whpk_) for ed25519", status: "200", answer: ref("Key"), errors: []string{"404"}},
		},
		"/v1/apps/{app}/endpoints/{ep}/secret/rotate": {
			"post": {summary: "Rotate the secret; the old one keeps signing for HERALD_SECRET_OVERLAP", body: ref("KeyRotate"), optional: true, status: "200", answer: ref("Key"), errors: []string{"400", "404", "422"}},
		},
		"/v1/apps/{app}/endpoints/{ep}/recover": {
			"post": {summary: "Deliver again every delivery to the endpoint that ended failed in the window", body: ref("Recover"), status: "202", answer: ref("Recovered"), errors: []string{"400", "404", "422", "503"}},
		},
		"/v1/apps/{app}/endpoints/{ep}/test": {
			"post": {summary: "Send a test event (id test_...) to this endpoint only; the payload defaults to the event type's schema example", body: testEventSchema, optional: true, status: "202", answer: ref("Event"), errors: []string{"400", "404", "422", "503"}},
		},
		"/v1/apps/{app}/endpoints/{ep}/stats": {
			"get": {summary: "The endpoint's delivery counts, attempt outcomes, latency and hourly buckets (default: the last 24h)", status: "200", answer: statsSchema, query: []string{"since", "until"}, errors: []string{"400", "404"}},
		},
		"/v1/apps/{app}/portal-links": {
			"post": {summary: "Make a consumer portal link: a token scoped to this app (read-only if asked) and the portal URL", body: portalLinkRequestSchema, optional: true, status: "201", answer: portalLinkSchema, errors: []string{"400", "403", "404", "422"}},
		},
		"/v1/apps/{app}/portal-links/self": {
			"get": {summary: "What the calling portal token grants (portal tokens only)", status: "200", answer: obj{"type": "object"}, errors: []string{"400", "403"}},
		},
		"/v1/apps/{app}/sources": {
			"post": {summary: "Consume a RabbitMQ queue or a NATS JetStream consumer: each message becomes an event of the app", body: sourceCreateSchema, status: "201", answer: sourceSchema, errors: []string{"400", "403", "404", "422", "503"}},
			"get":  {summary: "List an app's sources, newest first", status: "200", answer: sourceListSchema, query: page, errors: []string{"400", "403", "404"}},
		},
		"/v1/apps/{app}/sources/{src}": {
			"get":    {summary: "Get a source, with how its consumption goes", status: "200", answer: sourceSchema, errors: []string{"403", "404"}},
			"delete": {summary: "Stop consuming and delete the source", status: "204", errors: []string{"403", "404"}},
		},
		"/v1/apps/{app}/events": {
			"post": {summary: "Send an event", body: ref("EventCreate"), status: "202", answer: ref("Event"), repeat: true, errors: []string{"400", "404", "413", "422", "503"}},
			"get":  {summary: "List an app's events, newest first", status: "200", answer: listOfRef("Event"), query: append(page, "status", "event_type", "endpoint_id", "ordering_key", "since", "until"), errors: []string{"400", "404"}},
		},
		"/v1/apps/{app}/events/{id}": {
			"get": {summary: "Get an event with its deliveries and attempts", status: "200", answer: ref("Event"), errors: []string{"404"}},
		},
		"/v1/apps/{app}/events/{id}/cancel": {
			"post": {summary: "Cancel the event's deliveries that have not succeeded", status: "202", answer: ref("Event"), errors: []string{"404", "503"}},
		},
		"/v1/apps/{app}/events/{id}/replay": {
			"post": {summary: "Deliver the event again (to one endpoint or all)", body: ref("Replay"), optional: true, status: "202", answer: ref("Event"), errors: []string{"400", "404", "503"}},
		},
	}
}

// openAPIDocument renders the document.
func openAPIDocument(version string) []byte {
	if version == "" {
		version = "dev"
	}
	paths := obj{}
	for path, methods := range routes() {
		item := obj{}
		for method, o := range methods {
			item[method] = o.build(method, path)
		}
		paths[path] = item
	}
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{"title": "Herald", "version": version,
			"description": "Durable webhook delivery. Every /v1 route needs Authorization: Bearer <HERALD_API_TOKEN>."},
		"security": []obj{{"bearer": []string{}}},
		"paths":    paths,
		"components": obj{
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer"}},
			"responses": obj{"Error": obj{"description": "An error",
				"content": jsonContent(ref("Error"))}},
			"schemas": componentSchemas(),
		},
	}
	out, err := json.Marshal(doc)
	if err != nil {
		panic("openapi: " + err.Error()) // the document is static data
	}
	return out
}
