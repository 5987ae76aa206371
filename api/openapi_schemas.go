package api

func str() obj           { return obj{"type": "string"} }
func timeStr() obj       { return obj{"type": "string", "format": "date-time"} }
func boolean() obj       { return obj{"type": "boolean"} }
func integer() obj       { return obj{"type": "integer"} }
func arrayOf(it obj) obj { return obj{"type": "array", "items": it} }

func object(required []string, props obj) obj {
	o := obj{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// request is an object schema of a request body: unknown fields are refused.
func request(required []string, props obj) obj {
	o := object(required, props)
	o["additionalProperties"] = false
	return o
}

func endpointFields() obj {
	return obj{
		"url":                   obj{"type": "string", "format": "uri"},
		"description":           str(),
		"event_types":           arrayOf(str()),
		"secret":                obj{"type": "string", "description": "whsec_ + base64 of 24 to 64 bytes (hmac-sha256 only)"},
		"ordered":               obj{"type": "boolean", "default": true},
		"rate_limit_per_second": obj{"type": "integer", "minimum": 0},
		"headers":               obj{"type": "object", "additionalProperties": str()},
		"disabled":              boolean(),
		"signature_type":        obj{"type": "string", "enum": []string{"hmac-sha256", "ed25519"}, "default": "hmac-sha256"},
		"filter":                obj{"type": []string{"string", "null"}, "description": "CEL over event_type and payload (docs/routing.md); null or empty removes it"},
		"transform":             obj{"type": []string{"string", "null"}, "description": "CEL over event_type, payload and event_id yielding {body?, headers?} (docs/routing.md)"},
		"auth":                  authSchema(true),
		"ca_pem":                obj{"type": "string", "description": "PEM certificates of a private CA the receiver's certificate must chain to"},
	}
}

// authSchema is an endpoint's receiver authentication; its secrets are
// write-only (only in requests).
func authSchema(withSecrets bool) obj {
	props := obj{
		"type":      obj{"type": "string", "enum": []string{"oauth2_client_credentials", "mtls"}},
		"token_url": obj{"type": "string", "format": "uri"}, "client_id": str(),
		"scopes": arrayOf(str()), "audience": str(), "cert_pem": str(),
	}
	if withSecrets {
		props["client_secret"] = str()
		props["key_pem"] = str()
		return request([]string{"type"}, props)
	}
	return object([]string{"type"}, props)
}

func endpointSchema(withSecret bool) obj {
	props := obj{
		"id": str(), "app_id": str(), "url": str(), "description": str(),
		"event_types": arrayOf(str()), "ordered": boolean(), "rate_limit_per_second": integer(),
		"headers":  obj{"type": "object", "additionalProperties": str()},
		"disabled": boolean(), "disabled_reason": str(), "disabled_at": timeStr(),
		"signature_type": str(), "created_at": timeStr(), "updated_at": timeStr(),
		"filter": str(), "transform": str(), "auth": authSchema(false), "ca_pem": str(),
	}
	req := []string{"id", "app_id", "url", "description", "event_types", "ordered", "rate_limit_per_second",
		"headers", "disabled", "signature_type", "created_at", "updated_at"}
	if withSecret {
		props["secret"] = str()
		req = append(req, "secret")
	}
	return object(req, props)
}

func componentSchemas() obj {
	eventStatus := obj{"type": "string", "enum": eventStatuses}
	deliveryStatus := obj{"type": "string", "enum": []string{"pending", "delivering", "succeeded", "failed", "cancelled"}}
	return obj{
		"Error": object([]string{"error"}, obj{"error": object([]string{"code", "message"}, obj{
			"code": str(), "message": str(), "details": obj{}})}),
		"App":       object([]string{"id", "name", "created_at"}, obj{"id": str(), "name": str(), "created_at": timeStr(), "updated_at": timeStr()}),
		"AppCreate": request([]string{"name"}, obj{"id": obj{"type": "string", "pattern": idPattern.String()}, "name": str()}),
		"AppUpdate": request([]string{"name"}, obj{"name": str()}),
		"EventType": object([]string{"name", "description", "schema", "created_at", "updated_at"}, obj{
			"name": str(), "description": str(), "schema": obj{"type": []string{"object", "null"}},
			"created_at": timeStr(), "updated_at": timeStr()}),
		"EventTypeCreate": request([]string{"name"}, obj{"name": obj{"type": "string", "pattern": idPattern.String()},
			"description": str(), "schema": obj{"type": []string{"object", "null"}, "description": "JSON Schema (draft 2020-12)"}}),
		"EventTypeUpdate": request(nil, obj{"name": obj{"type": "string", "description": "must be the type's own name"}, "description": str(), "schema": obj{"type": []string{"object", "null"}}}),
		"Endpoint":        endpointSchema(false),
		"EndpointCreated": endpointSchema(true),
		"EndpointCreate":  request([]string{"url"}, endpointFields()),
		"EndpointUpdate":  request(nil, endpointFields()),
		"Key":             object([]string{"key"}, obj{"key": str()}),
		"KeyRotate":       request(nil, obj{"key": str()}),
		"Recover":         request([]string{"since"}, obj{"since": timeStr(), "until": timeStr()}),
		"Recovered":       object([]string{"replayed"}, obj{"replayed": integer()}),
		"Replay":          request(nil, obj{"endpoint_id": str()}),
		"EventCreate": request([]string{"event_type", "payload"}, obj{
			"id": obj{"type": "string", "pattern": idPattern.String()}, "event_type": str(), "payload": obj{},
			"ordering_key": obj{"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[\\x20-\\x7e]+$"}}),
		"Event": object([]string{"id", "app_id", "event_type", "payload", "created_at", "status", "deliveries"}, obj{
			"id": str(), "app_id": str(), "event_type": str(), "payload": obj{}, "ordering_key": str(), "created_at": timeStr(),
			"status": eventStatus, "deliveries": arrayOf(ref("Delivery"))}),
		"Delivery": object([]string{"endpoint_id", "status", "attempts"}, obj{
			"endpoint_id": str(), "status": deliveryStatus, "attempts": arrayOf(ref("Attempt")), "next_attempt_at": timeStr()}),
		"Attempt": object([]string{"attempt", "started_at", "duration_ms"}, obj{
			"attempt": integer(), "started_at": timeStr(), "duration_ms": integer(), "response_status": integer(),
			"error": str(), "response_body": str()}),
		"SchemaError": object([]string{"path", "message"}, obj{"path": str(), "message": str()}),
	}
}
