package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a certificate and its private key, PEM-encoded.
func selfSigned(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
}

// authSecret is the auth secret the store hands to a delivery of the endpoint.
func authSecret(t *testing.T, h *harness, epID string) string {
	t.Helper()
	ev := h.ok(202, "POST", "/v1/apps/acme/events", map[string]any{"event_type": "order.created", "payload": map[string]any{}})
	job, err := h.store.LoadDelivery(context.Background(), "acme", ev["id"].(string), epID)
	if err != nil {
		t.Fatal(err)
	}
	if job.Endpoint.Auth == nil {
		return ""
	}
	return job.Endpoint.Auth.Secret()
}

func TestEndpointAuthWriteOnly(t *testing.T) {
	h := newHarness(t)
	setupApp(h)
	oauth := map[string]any{"type": "oauth2_client_credentials", "token_url": "https://auth.example.com/token",
		"client_id": "herald", "client_secret": "s3cret-value", "scopes": []string{"hooks"}, "audience": "https://rx"}
	ep := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/hook", "auth": oauth})
	id := ep["id"].(string)
	path := "/v1/apps/acme/endpoints/" + id
	for _, got := range []map[string]any{ep, h.ok(200, "GET", path, nil)} {
		a, _ := got["auth"].(map[string]any)
		if a["type"] != "oauth2_client_credentials" || a["client_id"] != "herald" || a["token_url"] != oauth["token_url"] ||
			a["audience"] != "https://rx" || a["scopes"].([]any)[0] != "hooks" {
			t.Fatalf("auth shown as %v", got["auth"])
		}
		if _, shown := a["client_secret"]; shown {
			t.Fatalf("client_secret shown: %v", a)
		}
	}
	if s := authSecret(t, h, id); s != "s3cret-value" {
		t.Fatalf("delivery gets client secret %q", s)
	}
	list := h.req("GET", "/v1/apps/acme/endpoints", nil)
	if strings.Contains(string(list.body), "s3cret-value") {
		t.Fatal("the list shows the client secret")
	}

	// Read, edit, send back: the secret is kept.
	delete(oauth, "client_secret")
	oauth["client_id"] = "herald-2"
	h.ok(200, "PATCH", path, map[string]any{"auth": oauth})
	if s := authSecret(t, h, id); s != "s3cret-value" {
		t.Fatalf("after a PATCH without client_secret the delivery gets %q", s)
	}
	// Not to another token_url: the kept secret would be sent there.
	before := h.snapshot(path)
	oauth["token_url"] = "https://attacker.example.net/token"
	h.fails(422, "invalid_auth", "PATCH", path, map[string]any{"auth": oauth})
	h.unchanged(path, before)

	cert, key := selfSigned(t, "herald-client")
	ca, _ := selfSigned(t, "private CA")
	// Another type needs its own secret.
	h.fails(422, "invalid_auth", "PATCH", path, map[string]any{"auth": map[string]any{"type": "mtls", "cert_pem": cert}})
	h.unchanged(path, before)

	h.ok(200, "PATCH", path, map[string]any{"auth": map[string]any{"type": "mtls", "cert_pem": cert, "key_pem": key}, "ca_pem": ca})
	got := h.ok(200, "GET", path, nil)
	if a := got["auth"].(map[string]any); a["cert_pem"] != cert || a["key_pem"] != nil || got["ca_pem"] != ca {
		t.Fatalf("mtls endpoint shown as %v", got)
	}
	if s := authSecret(t, h, id); s != key {
		t.Fatal("the delivery does not get the private key")
	}
	if strings.Contains(h.snapshot(path), "PRIVATE KEY") {
		t.Fatal("GET shows the private key")
	}

	h.ok(200, "PATCH", path, map[string]any{"auth": nil, "ca_pem": ""})
	if got := h.ok(200, "GET", path, nil); got["auth"] != nil || got["ca_pem"] != nil {
		t.Fatalf("after removing auth and ca_pem: %v", got)
	}
}

func TestEndpointAuthRefused(t *testing.T) {
	h := newHarness(t)
	setupApp(h)
	cert, key := selfSigned(t, "a")
	otherCert, _ := selfSigned(t, "b")
	ok := map[string]any{"type": "oauth2_client_credentials", "token_url": "https://auth.example.com/t", "client_id": "c", "client_secret": "s"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	ep := h.ok(201, "POST", "/v1/apps/acme/endpoints", map[string]any{"url": "https://example.com/h"})
	path := "/v1/apps/acme/endpoints/" + ep["id"].(string)
	before := h.snapshot(path)
	list := h.snapshot("/v1/apps/acme/endpoints")
	for name, c := range map[string]struct {
		body   map[string]any
		status int
		code   string
	}{
		"no token_url":      {map[string]any{"auth": with("token_url", nil)}, 422, "invalid_auth"},
		"no client_id":      {map[string]any{"auth": with("client_id", nil)}, 422, "invalid_auth"},
		"no client_secret":  {map[string]any{"auth": with("client_secret", nil)}, 422, "invalid_auth"},
		"token_url not URL": {map[string]any{"auth": with("token_url", "ftp://x/t")}, 422, "invalid_auth"},
		"private token_url": {map[string]any{"auth": with("token_url", "http://127.0.0.1:9/t")}, 422, "invalid_auth"},
		"unknown type":      {map[string]any{"auth": map[string]any{"type": "basic"}}, 422, "invalid_auth"},
		"no type":           {map[string]any{"auth": map[string]any{}}, 422, "invalid_auth"},
		"unknown field":     {map[string]any{"auth": with("password", "x")}, 400, "unknown_field"},
		"auth not object":   {map[string]any{"auth": "oauth"}, 400, "invalid_field_type"},
		"mtls no key":       {map[string]any{"auth": map[string]any{"type": "mtls", "cert_pem": cert}}, 422, "invalid_auth"},
		"mtls bad cert":     {map[string]any{"auth": map[string]any{"type": "mtls", "cert_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "key_pem": key}}, 422, "invalid_auth"},
		"mtls key is cert":  {map[string]any{"auth": map[string]any{"type": "mtls", "cert_pem": cert, "key_pem": cert}}, 422, "invalid_auth"},
		"mtls wrong key":    {map[string]any{"auth": map[string]any{"type": "mtls", "cert_pem": otherCert, "key_pem": key}}, 422, "invalid_auth"},
		"mtls key as cert":  {map[string]any{"auth": map[string]any{"type": "mtls", "cert_pem": key, "key_pem": key}}, 422, "invalid_auth"},
		"ca garbage":        {map[string]any{"ca_pem": "not pem"}, 422, "invalid_ca_pem"},
		"ca is a key":       {map[string]any{"ca_pem": key}, 422, "invalid_ca_pem"},
	} {
		t.Run(name, func(t *testing.T) {
			h.t = t
			create := map[string]any{"url": "https://example.com/h"}
			for k, v := range c.body {
				create[k] = v
			}
			h.fails(c.status, c.code, "POST", "/v1/apps/acme/endpoints", create)
			h.fails(c.status, c.code, "PATCH", path, c.body)
			h.unchanged(path, before)
			h.unchanged("/v1/apps/acme/endpoints", list)
		})
	}
}
