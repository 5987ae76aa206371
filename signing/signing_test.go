package signing

import (
	"crypto/ed25519"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Test vectors of the Standard Webhooks libraries
// (libraries/go/webhook_test.go and webhook_asymmetric_test.go).
const (
	vectorMsgID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorHMACSig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	vectorEdSeed  = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
	vectorEdSig   = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
)

var (
	vectorTime    = time.Unix(1614265330, 0)
	vectorPayload = []byte(`{"test": 2432232314}`)
)

func headers(id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h
}

func TestSignVectors(t *testing.T) {
	got, err := Sign(vectorSecret, vectorMsgID, vectorTime, vectorPayload)
	if err != nil || got != vectorHMACSig {
		t.Fatalf("hmac: got %q, %v; want %q", got, err, vectorHMACSig)
	}
	got, err = Sign(vectorEdSeed, vectorMsgID, vectorTime, vectorPayload)
	if err != nil || got != vectorEdSig {
		t.Fatalf("ed25519: got %q, %v; want %q", got, err, vectorEdSig)
	}
	pub, err := PublicKey(vectorEdSeed)
	if err != nil {
		t.Fatal(err)
	}
	h := headers(vectorMsgID, vectorTime, vectorEdSig)
	if err := verifyAt(pub, h, vectorPayload, 5*time.Minute, vectorTime.Add(time.Minute)); err != nil {
		t.Fatalf("verify ed25519 vector with %s: %v", pub, err)
	}
	h = headers(vectorMsgID, vectorTime, vectorHMACSig)
	if err := verifyAt(vectorSecret, h, vectorPayload, 5*time.Minute, vectorTime); err != nil {
		t.Fatalf("verify hmac vector: %v", err)
	}
}

// What Sign makes, the official Go verifier accepts, alone and beside the
// previous key's signature during a rotation.
func TestOfficialVerifierAccepts(t *testing.T) {
	oldKey, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"order.created","timestamp":"2024-01-02T03:04:05Z","data":{"id":1,"name":"ü \"q\""}}`)
	now := time.Now()
	sig, err := SignatureHeader([]string{newKey, oldKey}, "evt_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("want two signatures, got %q", sig)
	}
	h := headers("evt_1", now, sig)
	for _, key := range []string{newKey, oldKey} {
		wh, err := standardwebhooks.NewWebhook(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Fatalf("official verifier refused %s: %v", sig, err)
		}
		if err := Verify(key, h, body, 5*time.Minute); err != nil {
			t.Fatalf("Verify refused %s: %v", sig, err)
		}
	}
	third, _ := NewSecret()
	wh, _ := standardwebhooks.NewWebhook(third)
	if err := wh.Verify(body, h); err == nil {
		t.Fatal("official verifier accepted a signature made with other keys")
	}
	// And the other way round: a signature made by the official library verifies here.
	official, _ := standardwebhooks.NewWebhook(newKey)
	osig, _ := official.Sign("evt_2", now, body)
	if err := Verify(newKey, headers("evt_2", now, osig), body, time.Minute); err != nil {
		t.Fatalf("Verify refused the official library's signature: %v", err)
	}
}

func TestEd25519(t *testing.T) {
	sk, pk, err := NewEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sk, PrefixSigningKey) || !strings.HasPrefix(pk, PrefixPublicKey) {
		t.Fatalf("keys %q %q", sk, pk)
	}
	if derived, err := PublicKey(sk); err != nil || derived != pk {
		t.Fatalf("PublicKey(%s) = %s, %v; want %s", sk, derived, err, pk)
	}
	hmacKey, _ := NewSecret()
	body := []byte(`{"a":1}`)
	now := time.Now()
	sig, err := SignatureHeader([]string{sk, hmacKey}, "evt_x", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sig, "v1a,") {
		t.Fatalf("signature %q", sig)
	}
	h := headers("evt_x", now, sig)
	for _, key := range []string{pk, sk, hmacKey} {
		if err := Verify(key, h, body, time.Minute); err != nil {
			t.Fatalf("Verify with %s: %v", key[:5], err)
		}
	}
	other, otherPub, _ := NewEd25519Key()
	_ = other
	if err := Verify(otherPub, h, body, time.Minute); !errors.Is(err, ErrNoMatchingSignature) {
		t.Fatalf("another public key: %v", err)
	}
	if err := Verify(pk, h, []byte(`{"a":2}`), time.Minute); !errors.Is(err, ErrNoMatchingSignature) {
		t.Fatalf("tampered body: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	key, _ := NewSecret()
	body := []byte(`{}`)
	now := time.Now()
	good, _ := Sign(key, "evt_1", now, body)
	cases := []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"no id", headers("", now, good), body, ErrMissingHeaders},
		{"no signature", headers("evt_1", now, ""), body, ErrMissingHeaders},
		{"bad timestamp", func() http.Header { h := headers("evt_1", now, good); h.Set(HeaderTimestamp, "x"); return h }(), body, ErrInvalidTimestamp},
		{"too old", headers("evt_1", now.Add(-6*time.Minute), good), body, ErrTimestampTooOld},
		{"too new", headers("evt_1", now.Add(6*time.Minute), good), body, ErrTimestampTooNew},
		{"other id", headers("evt_2", now, good), body, ErrNoMatchingSignature},
		{"other body", headers("evt_1", now, good), []byte(`{ }`), ErrNoMatchingSignature},
		{"partial", headers("evt_1", now, "v1,"), body, ErrNoMatchingSignature},
		{"wrong version", headers("evt_1", now, "v2,"+strings.TrimPrefix(good, "v1,")), body, ErrNoMatchingSignature},
		{"garbage", headers("evt_1", now, "v1,@@@ nonsense"), body, ErrNoMatchingSignature},
	}
	for _, c := range cases {
		if err := Verify(key, c.h, c.body, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// tolerance <= 0 skips the timestamp check only.
	if err := Verify(key, headers("evt_1", now.Add(-time.Hour), mustSign(t, key, "evt_1", now.Add(-time.Hour), body)), body, 0); err != nil {
		t.Errorf("old capture without tolerance: %v", err)
	}
}

func mustSign(t *testing.T, key, id string, ts time.Time, body []byte) string {
	t.Helper()
	s, err := Sign(key, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSecrets(t *testing.T) {
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateSecret(s); err != nil {
		t.Fatalf("NewSecret made an invalid secret %q: %v", s, err)
	}
	if len(s) != len("whsec_")+44 {
		t.Fatalf("secret %q: want 32 bytes", s)
	}
	cases := map[string]bool{
		vectorSecret: true, // 24 bytes
		"whsec_" + b64.EncodeToString(make([]byte, 64)): true,
		"whsec_" + b64.EncodeToString(make([]byte, 23)): false,
		"whsec_" + b64.EncodeToString(make([]byte, 65)): false,
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw":              false, // no prefix
		"whsec_not base64!":                             false,
		"whsk_" + b64.EncodeToString(make([]byte, 32)):  false,
	}
	for s, ok := range cases {
		if err := ValidateSecret(s); (err == nil) != ok {
			t.Errorf("ValidateSecret(%q) = %v, want ok=%v", s, err, ok)
		} else if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidateSecret(%q) error does not wrap ErrInvalidKey: %v", s, err)
		}
	}
	if _, err := Sign("whpk_"+b64.EncodeToString(make([]byte, ed25519.PublicKeySize)), "m", time.Now(), nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("signing with a public key: %v", err)
	}
	if _, err := PublicKey("whsk_" + b64.EncodeToString(make([]byte, 31))); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("short seed: %v", err)
	}
}

func BenchmarkSignHMAC(b *testing.B) {
	key, _ := ParseKey(vectorSecret)
	body := []byte(strings.Repeat(`{"field":"value"},`, 60)) // ~1 KiB
	ts := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = key.Sign("evt_01hzz", ts, body)
	}
}

func BenchmarkSignEd25519(b *testing.B) {
	key, _ := ParseKey(vectorEdSeed)
	body := []byte(strings.Repeat(`{"field":"value"},`, 60))
	ts := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = key.Sign("evt_01hzz", ts, body)
	}
}

// BenchmarkSignParse is Sign as the activity calls it: parse the key string, then sign.
func BenchmarkSignParseHMAC(b *testing.B) {
	body := []byte(strings.Repeat(`{"field":"value"},`, 60))
	ts := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Sign(vectorSecret, "evt_01hzz", ts, body)
	}
}
