package signing

import (
	"crypto/ed25519"
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Verification errors; Verify wraps one of them (or ErrInvalidKey).
var (
	ErrMissingHeaders      = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrInvalidTimestamp    = errors.New("webhook-timestamp is not an integer")
	ErrTimestampTooOld     = errors.New("webhook-timestamp is too old")
	ErrTimestampTooNew     = errors.New("webhook-timestamp is too far in the future")
	ErrNoMatchingSignature = errors.New("no matching signature")
)

// Verify checks a received webhook: its headers (webhook-id,
// webhook-timestamp, webhook-signature), that the timestamp is within
// tolerance of now (tolerance <= 0 skips that check, for inspecting old
// captures), and that one of the signatures is valid for key: a whsec_
// secret checks "v1" signatures in constant time; a whpk_ public key (or a
// whsk_ signing key) checks "v1a" signatures. Signatures of other versions
// are ignored, as the specification asks.
func Verify(key string, headers http.Header, body []byte, tolerance time.Duration) error {
	return verifyAt(key, headers, body, tolerance, time.Now())
}

func verifyAt(key string, headers http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	var (
		version string
		check   func(msgID string, ts time.Time, sig []byte) bool
	)
	switch {
	case strings.HasPrefix(key, PrefixSecret):
		secret, err := decodeSecret(key)
		if err != nil {
			return err
		}
		version = VersionHMAC
		check = func(msgID string, ts time.Time, sig []byte) bool {
			return hmac.Equal(sig, hmacSum(secret, msgID, ts, body))
		}
	case strings.HasPrefix(key, PrefixPublicKey), strings.HasPrefix(key, PrefixSigningKey):
		pub, err := decodePublicKey(key)
		if strings.HasPrefix(key, PrefixSigningKey) {
			var priv ed25519.PrivateKey
			if priv, err = decodeSigningKey(key); err == nil {
				pub = priv.Public().(ed25519.PublicKey)
			}
		}
		if err != nil {
			return err
		}
		version = VersionEd25519
		check = func(msgID string, ts time.Time, sig []byte) bool {
			return len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, signedContent(msgID, ts, body), sig)
		}
	default:
		return fmt.Errorf("%w: a verification key starts with %q or %q", ErrInvalidKey, PrefixSecret, PrefixPublicKey)
	}

	msgID, tsHeader, sigHeader := headers.Get(HeaderID), headers.Get(HeaderTimestamp), headers.Get(HeaderSignature)
	if msgID == "" || tsHeader == "" || sigHeader == "" {
		return ErrMissingHeaders
	}
	secs, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrInvalidTimestamp, tsHeader)
	}
	ts := time.Unix(secs, 0)
	if tolerance > 0 {
		if now.Sub(ts) > tolerance {
			return fmt.Errorf("%w: %s, tolerance %s", ErrTimestampTooOld, ts.UTC().Format(time.RFC3339), tolerance)
		}
		if ts.Sub(now) > tolerance {
			return fmt.Errorf("%w: %s, tolerance %s", ErrTimestampTooNew, ts.UTC().Format(time.RFC3339), tolerance)
		}
	}
	for _, vs := range strings.Fields(sigHeader) {
		v, enc, ok := strings.Cut(vs, ",")
		if !ok || v != version {
			continue
		}
		// Strict: the spare bits of the last base64 character must be zero,
		// so only the one canonical encoding of a signature matches, as in
		// verifiers that compare the encoded strings.
		sig, err := b64.Strict().DecodeString(enc)
		if err != nil {
			continue
		}
		if check(msgID, ts, sig) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}
