package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/api"
	"github.com/herald-hq/herald/signing"
)

func setupApp(h *harness) {
	h.ok(201, "POST", "/v1/apps", map[string]any{"id": "acme", "name": "Acme"})
	h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "order.created"})
	h.ok(201, "POST", "/v1/event-types", map[string]any{"name": "order.paid"})
}

func TestEndpoints(t *testing.T) {
	h := newHarness(t)
	setupApp(h)
	ep := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/hook"})
	id, _ := ep["id"].(string)
	if !strings.HasPrefix(id, "ep_") || ep["app_id"] != "acme" || ep["url"] != "https://example.com/hook" ||
		ep["ordered"] != true || ep["disabled"] != false || ep["signature_type"] != "hmac-sha256" ||
		ep["rate_limit_per_second"] != 0.0 || ep["description"] != "" {
		t.Fatalf("created %v", ep)
	}
	if et, ok := ep["event_types"].([]any); !ok || len(et) != 0 {
		t.Fatalf("event_types %v", ep["event_types"])
	}
	if hd, ok := ep["headers"].(map[string]any); !ok || len(hd) != 0 {
		t.Fatalf("headers %v", ep["headers"])
	}
	if _, ok := ep["disabled_reason"]; ok {
		t.Fatalf("disabled_reason on an enabled endpoint: %v", ep)
	}
	secret, _ := ep["secret"].(string)
	if err := signing.ValidateSecret(secret); err != nil {
		t.Fatalf("secret %q: %v", secret, err)
	}
	checkTime(t, ep["created_at"])
	checkTime(t, ep["updated_at"])

	got := h.ok(200, "GET", "/v1/apps/acme/endpoints/"+id, nil)
	if _, ok := got["secret"]; ok {
		t.Fatal("GET shows the secret")
	}
	if k := h.ok(200, "GET", "/v1/apps/acme/endpoints/"+id+"/secret", nil); k["key"] != secret {
		t.Fatalf("secret route %v, want %s", k, secret)
	}

	full := map[string]any{"url": "http://example.org/in", "description": "d", "event_types": []string{"order.paid"},
		"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "ordered": false, "rate_limit_per_second": 5,
		"headers": map[string]string{"X-Team": "billing"}, "disabled": true, "signature_type": "hmac-sha256"}
	ep2 := h.ok(201, "POST", "/v1/apps/acme/endpoints", full)
	if ep2["secret"] != full["secret"] || ep2["ordered"] != false || ep2["disabled"] != true ||
		ep2["disabled_reason"] != "manual" || ep2["rate_limit_per_second"] != 5.0 ||
		ep2["headers"].(map[string]any)["X-Team"] != "billing" || ep2["event_types"].([]any)[0] != "order.paid" {
		t.Fatalf("created %v", ep2)
	}
	checkTime(t, ep2["disabled_at"])
	id2 := ep2["id"].(string)
	if l := data(t, h.ok(200, "GET", "/v1/apps/acme/endpoints", nil)); len(l) != 2 || l[0].(map[string]any)["id"] != id2 {
		t.Fatalf("list %v", l)
	}

	up := h.ok(200, "PATCH", "/v1/apps/acme/endpoints/"+id2, map[string]any{"disabled": false, "description": "e"})
	if up["disabled"] != false || up["description"] != "e" || up["url"] != "http://example.org/in" || up["ordered"] != false {
		t.Fatalf("patch %v", up)
	}
	if _, ok := up["disabled_reason"]; ok {
		t.Fatalf("disabled_reason kept: %v", up)
	}
	if _, ok := up["disabled_at"]; ok {
		t.Fatalf("disabled_at kept: %v", up)
	}
	up = h.ok(200, "PATCH", "/v1/apps/acme/endpoints/"+id2, map[string]any{"event_types": []string{}, "headers": map[string]string{}})
	if len(up["event_types"].([]any)) != 0 || len(up["headers"].(map[string]any)) != 0 {
		t.Fatalf("patch clear %v", up)
	}
	up = h.ok(200, "PATCH", "/v1/apps/acme/endpoints/"+id2, map[string]any{"disabled": true})
	if up["disabled_reason"] != "manual" {
		t.Fatalf("patch disable %v", up)
	}

	h.ok(204, "DELETE", "/v1/apps/acme/endpoints/"+id2, nil)
	h.fails(404, "endpoint_not_found", "GET", "/v1/apps/acme/endpoints/"+id2, nil)
	h.fails(404, "endpoint_not_found", "DELETE", "/v1/apps/acme/endpoints/"+id2, nil)
	h.fails(404, "endpoint_not_found", "PATCH", "/v1/apps/acme/endpoints/"+id2, map[string]any{"description": "x"})
	h.fails(404, "endpoint_not_found", "GET", "/v1/apps/acme/endpoints/"+id2+"/secret", nil)
	h.fails(404, "app_not_found", "GET", "/v1/apps/nope/endpoints", nil)
	h.fails(404, "app_not_found", "POST", "/v1/apps/nope/endpoints", map[string]any{"url": "https://example.com"})
	h.fails(404, "app_not_found", "GET", "/v1/apps/nope/endpoints/"+id, nil)
}

func TestEndpointsBadInput(t *testing.T) {
	h := newHarness(t)
	setupApp(h)
	ep := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/hook"})
	id := ep["id"].(string)
	before := h.snapshot("/v1/apps/acme/endpoints")
	one := h.snapshot("/v1/apps/acme/endpoints/" + id)

	for _, u := range []string{"", "example.com/hook", "ftp://example.com", "https://", "http://127.0.0.1/x",
		"http://127.0.0.1:8080/", "http://10.1.2.3/", "http://[::1]/", "https://user:pw@example.com/", "::not a url"} {
		h.fails(422, "invalid_url", "POST", "/v1/apps/acme/endpoints", map[string]any{"url": u})
		h.fails(422, "invalid_url", "PATCH", "/v1/apps/acme/endpoints/"+id, map[string]any{"url": u})
	}
	h.fails(422, "invalid_url", "POST", "/v1/apps/acme/endpoints", map[string]any{"description": "no url"})
	bad := []struct {
		code string
		body map[string]any
	}{
		{"unknown_event_type", map[string]any{"event_types": []string{"order.created", "nope"}}},
		{"invalid_secret", map[string]any{"secret": "not-a-secret"}},
		{"invalid_secret", map[string]any{"secret": "whsec_c2hvcnQ="}},
		{"invalid_secret", map[string]any{"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "signature_type": "ed25519"}},
		{"invalid_rate_limit", map[string]any{"rate_limit_per_second": -1}},
		{"invalid_signature_type", map[string]any{"signature_type": "rsa"}},
		{"invalid_header", map[string]any{"headers": map[string]string{"webhook-id": "x"}}},
		{"invalid_header", map[string]any{"headers": map[string]string{"Webhook-Signature": "x"}}},
		{"invalid_header", map[string]any{"headers": map[string]string{"content-type": "text/plain"}}},
		{"invalid_header", map[string]any{"headers": map[string]string{"User-Agent": "me"}}},
		{"invalid_header", map[string]any{"headers": map[string]string{"Host": "evil"}}},
		{"invalid_header", map[string]any{"headers": map[string]string{"bad name": "x"}}},
		{"invalid_header", map[string]any{"headers": map[string]string{"X-A": "line\r\nInjected: 1"}}},
		{"invalid_header", map[string]any{"headers": map[string]string{"": "x"}}},
	}
	for _, b := range bad {
		b.body["url"] = "https://example.com/x"
		h.fails(422, b.code, "POST", "/v1/apps/acme/endpoints", b.body)
		if b.body["signature_type"] == nil {
			h.fails(422, b.code, "PATCH", "/v1/apps/acme/endpoints/"+id, b.body)
		}
	}
	h.fails(422, "invalid_signature_type", "PATCH", "/v1/apps/acme/endpoints/"+id, map[string]any{"signature_type": "ed25519"})
	h.fails(400, "unknown_field", "POST", "/v1/apps/acme/endpoints", `{"url": "https://example.com", "uri": "x"}`)
	h.fails(400, "unknown_field", "PATCH", "/v1/apps/acme/endpoints/"+id, `{"id": "ep_other"}`)
	h.fails(400, "invalid_field_type", "POST", "/v1/apps/acme/endpoints", `{"url": "https://example.com", "ordered": "yes"}`)
	h.fails(400, "invalid_field_type", "POST", "/v1/apps/acme/endpoints", `{"url": "https://example.com", "event_types": "order.paid"}`)
	h.fails(400, "invalid_json", "POST", "/v1/apps/acme/endpoints", `{"url": "https://example.com"`)
	h.unchanged("/v1/apps/acme/endpoints", before)
	h.unchanged("/v1/apps/acme/endpoints/"+id, one)
}

func TestEndpointPrivateNetworksAllowed(t *testing.T) {
	h := newHarness(t, func(d *api.Deps) { d.Config.AllowPrivateNetworks = true })
	setupApp(h)
	h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "http://127.0.0.1:9000/hook"})
	h.fails(422, "invalid_url", "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "ftp://127.0.0.1/"})
}

func TestSecretRotation(t *testing.T) {
	h := newHarness(t)
	setupApp(h)
	ep := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/hook"})
	id, old := ep["id"].(string), ep["secret"].(string)
	base := "/v1/apps/acme/endpoints/" + id

	k := h.ok(200, "POST", base+"/secret/rotate", nil)
	fresh, _ := k["key"].(string)
	if fresh == old || signing.ValidateSecret(fresh) != nil {
		t.Fatalf("rotated key %q (old %q)", fresh, old)
	}
	if got := h.ok(200, "GET", base+"/secret", nil); got["key"] != fresh {
		t.Fatalf("secret after rotate: %v", got)
	}
	sec, err := h.store.GetEndpointSecrets(t.Context(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	if sec.Key != fresh || sec.PreviousKey != old || sec.PreviousExpiresAt == nil ||
		time.Until(*sec.PreviousExpiresAt) < 50*time.Minute || time.Until(*sec.PreviousExpiresAt) > 61*time.Minute {
		t.Fatalf("stored secrets %+v (overlap 1h)", sec)
	}
	given := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	if k := h.ok(200, "POST", base+"/secret/rotate", map[string]any{"key": given}); k["key"] != given {
		t.Fatalf("rotate to given: %v", k)
	}
	h.fails(422, "invalid_secret", "POST", base+"/secret/rotate", map[string]any{"key": "whsec_!!"})
	h.fails(400, "unknown_field", "POST", base+"/secret/rotate", `{"secret": "x"}`)
	h.fails(404, "endpoint_not_found", "POST", "/v1/apps/acme/endpoints/ep_nope/secret/rotate", nil)
	if got := h.ok(200, "GET", base+"/secret", nil); got["key"] != given {
		t.Fatalf("a refused rotation changed the key: %v", got)
	}
	// PATCH secret rotates too.
	other := "whsec_" + strings.Repeat("QUJD", 8)
	h.ok(200, "PATCH", base, map[string]any{"secret": other})
	if got := h.ok(200, "GET", base+"/secret", nil); got["key"] != other {
		t.Fatalf("PATCH secret: %v", got)
	}
}

func TestEd25519Endpoint(t *testing.T) {
	h := newHarness(t)
	setupApp(h)
	ep := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/hook", "signature_type": "ed25519"})
	id, pub := ep["id"].(string), ep["secret"].(string)
	if ep["signature_type"] != "ed25519" || !strings.HasPrefix(pub, "whpk_") {
		t.Fatalf("created %v", ep)
	}
	base := "/v1/apps/acme/endpoints/" + id
	if got := h.ok(200, "GET", base+"/secret", nil); got["key"] != pub {
		t.Fatalf("secret route %v, want %s", got, pub)
	}
	sec, err := h.store.GetEndpointSecrets(t.Context(), "acme", id)
	if err != nil || !strings.HasPrefix(sec.Key, "whsk_") {
		t.Fatalf("stored key %q %v", sec.Key, err)
	}
	k := h.ok(200, "POST", base+"/secret/rotate", nil)
	if k["key"] == pub || !strings.HasPrefix(k["key"].(string), "whpk_") {
		t.Fatalf("rotated %v", k)
	}
	if got := h.ok(200, "GET", base+"/secret", nil); got["key"] != k["key"] {
		t.Fatalf("after rotate %v", got)
	}
	h.fails(422, "invalid_secret", "POST", base+"/secret/rotate", map[string]any{"key": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	h.fails(422, "invalid_secret", "PATCH", base, map[string]any{"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	h.ok(200, "PATCH", base, map[string]any{"signature_type": "ed25519", "description": "same type is fine"})
}
