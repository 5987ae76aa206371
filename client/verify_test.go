package client_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/herald-hq/herald/client"
	"github.com/herald-hq/herald/signing"
)

// delivery signs body with keys as Herald's worker does (signing is the
// code that signs every real delivery; cmd/herald's listen test also runs
// Verify on deliveries from a running Herald).
func delivery(t *testing.T, keys []string, at time.Time, body []byte) http.Header {
	t.Helper()
	sig, err := signing.SignatureHeader(keys, "evt_01JH2XB4D6F8H0J2K4M6N8P0Q2", at, body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "evt_01JH2XB4D6F8H0J2K4M6N8P0Q2")
	h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

func TestVerify(t *testing.T) {
	body := []byte(`{"type":"order.created","timestamp":"2026-01-15T09:30:00Z","data":{"order":"ord_1234"}}`)
	secret, _ := signing.NewSecret()
	rotated, _ := signing.NewSecret()
	other, _ := signing.NewSecret()
	signKey, publicKey, err := signing.NewEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	_, otherPublic, _ := signing.NewEd25519Key()
	now := time.Now()
	cases := []struct {
		name   string
		key    string
		header http.Header
		body   []byte
		ok     bool
	}{
		{"hmac", secret, delivery(t, []string{secret}, now, body), body, true},
		{"hmac during a rotation, old key", secret, delivery(t, []string{rotated, secret}, now, body), body, true},
		{"hmac during a rotation, new key", rotated, delivery(t, []string{rotated, secret}, now, body), body, true},
		{"ed25519", publicKey, delivery(t, []string{signKey}, now, body), body, true},
		{"wrong secret", other, delivery(t, []string{secret}, now, body), body, false},
		{"wrong public key", otherPublic, delivery(t, []string{signKey}, now, body), body, false},
		{"body changed", secret, delivery(t, []string{secret}, now, body), append([]byte(" "), body...), false},
		{"ed25519 body changed", publicKey, delivery(t, []string{signKey}, now, body), body[1:], false},
		{"timestamp 10 minutes old", secret, delivery(t, []string{secret}, now.Add(-10*time.Minute), body), body, false},
		{"ed25519 timestamp 10 minutes old", publicKey, delivery(t, []string{signKey}, now.Add(-10*time.Minute), body), body, false},
		{"no headers", secret, http.Header{}, body, false},
		{"not a key", "hunter2", delivery(t, []string{secret}, now, body), body, false},
	}
	for _, c := range cases {
		err := client.Verify(c.key, c.header, c.body)
		if (err == nil) != c.ok {
			t.Errorf("%s: Verify = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
