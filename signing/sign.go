package signing

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Signature versions.
const (
	VersionHMAC    = "v1"
	VersionEd25519 = "v1a"
)

// Key is a parsed signing key: an HMAC secret or an ed25519 private key.
// Parse once with ParseKey to sign many messages with it.
type Key struct {
	hmacKey []byte
	priv    ed25519.PrivateKey
}

// ParseKey parses a whsec_ secret or a whsk_ ed25519 signing key.
func ParseKey(key string) (Key, error) {
	switch {
	case strings.HasPrefix(key, PrefixSecret):
		k, err := decodeSecret(key)
		return Key{hmacKey: k}, err
	case strings.HasPrefix(key, PrefixSigningKey):
		k, err := decodeSigningKey(key)
		return Key{priv: k}, err
	default:
		return Key{}, fmt.Errorf("%w: a signing key starts with %q or %q", ErrInvalidKey, PrefixSecret, PrefixSigningKey)
	}
}

// Sign returns the versioned signature of the message: "v1,<base64>" for an
// HMAC secret, "v1a,<base64>" for an ed25519 key.
func (k Key) Sign(msgID string, ts time.Time, body []byte) string {
	if k.priv != nil {
		sig := ed25519.Sign(k.priv, signedContent(msgID, ts, body))
		return VersionEd25519 + "," + b64.EncodeToString(sig)
	}
	return VersionHMAC + "," + b64.EncodeToString(hmacSum(k.hmacKey, msgID, ts, body))
}

// Sign parses key (whsec_ or whsk_) and signs the message with it.
func Sign(key, msgID string, ts time.Time, body []byte) (string, error) {
	k, err := ParseKey(key)
	if err != nil {
		return "", err
	}
	return k.Sign(msgID, ts, body), nil
}

// SignatureHeader is the webhook-signature value: one signature per key,
// space-separated, in the order of keys.
func SignatureHeader(keys []string, msgID string, ts time.Time, body []byte) (string, error) {
	if len(keys) == 0 {
		return "", fmt.Errorf("%w: no key to sign with", ErrInvalidKey)
	}
	sigs := make([]string, 0, len(keys))
	for _, key := range keys {
		sig, err := Sign(key, msgID, ts, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// hmacSum is HMAC-SHA256(key, "<id>.<ts>.<body>"), written piecewise so the
// body is not copied.
func hmacSum(key []byte, msgID string, ts time.Time, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	var buf [24]byte
	h.Write([]byte(msgID))
	h.Write(strconv.AppendInt(append(buf[:0], '.'), ts.Unix(), 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// signedContent is "<id>.<ts>.<body>" as one slice (ed25519 signs a message
// whole).
func signedContent(msgID string, ts time.Time, body []byte) []byte {
	b := make([]byte, 0, len(msgID)+len(body)+24)
	b = append(b, msgID...)
	b = append(b, '.')
	b = strconv.AppendInt(b, ts.Unix(), 10)
	b = append(b, '.')
	return append(b, body...)
}
