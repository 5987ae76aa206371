// Package signing signs and verifies webhooks as the Standard Webhooks
// specification asks: the signed content is "<msg id>.<unix timestamp>.<body>";
// symmetric keys are "whsec_" + base64 and sign with HMAC-SHA256 ("v1,..."),
// asymmetric keys are an ed25519 pair, "whsk_" + base64 of the 32-byte seed
// and "whpk_" + base64 of the 32-byte public key, signing "v1a,...".
package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Key prefixes.
const (
	PrefixSecret     = "whsec_" // HMAC-SHA256 secret
	PrefixSigningKey = "whsk_"  // ed25519 private key (seed)
	PrefixPublicKey  = "whpk_"  // ed25519 public key
)

// Secret sizes the contract allows for whsec_ keys, in bytes.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
	// NewSecretBytes is the size of the secrets NewSecret makes.
	NewSecretBytes = 32
)

// ErrInvalidKey is wrapped by every error about a key's format.
var ErrInvalidKey = errors.New("invalid key")

var b64 = base64.StdEncoding

// NewSecret makes an HMAC secret: "whsec_" + base64 of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, NewSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make secret: %w", err)
	}
	return PrefixSecret + b64.EncodeToString(b), nil
}

// ValidateSecret checks that s is "whsec_" + standard base64 of 24 to 64
// bytes.
func ValidateSecret(s string) error {
	_, err := decodeSecret(s)
	return err
}

func decodeSecret(s string) ([]byte, error) {
	raw, ok := strings.CutPrefix(s, PrefixSecret)
	if !ok {
		return nil, fmt.Errorf("%w: a secret starts with %q", ErrInvalidKey, PrefixSecret)
	}
	key, err := b64.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: a secret is %q followed by standard base64", ErrInvalidKey, PrefixSecret)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: a secret holds %d to %d bytes, this one %d", ErrInvalidKey,
			MinSecretBytes, MaxSecretBytes, len(key))
	}
	return key, nil
}

// NewEd25519Key makes an ed25519 key pair: the signing key "whsk_" + base64
// of the 32-byte seed and the public key "whpk_" + base64 of the 32-byte
// public key, the encodings of the Standard Webhooks libraries.
func NewEd25519Key() (secretKey, publicKey string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("make ed25519 key: %w", err)
	}
	return PrefixSigningKey + b64.EncodeToString(priv.Seed()), PrefixPublicKey + b64.EncodeToString(pub), nil
}

// PublicKey returns the whpk_ public key of a whsk_ signing key.
func PublicKey(signingKey string) (string, error) {
	priv, err := decodeSigningKey(signingKey)
	if err != nil {
		return "", err
	}
	return PrefixPublicKey + b64.EncodeToString(priv.Public().(ed25519.PublicKey)), nil
}

// ValidateSigningKey checks that s is a whsk_ ed25519 signing key.
func ValidateSigningKey(s string) error {
	_, err := decodeSigningKey(s)
	return err
}

func decodeSigningKey(s string) (ed25519.PrivateKey, error) {
	raw, ok := strings.CutPrefix(s, PrefixSigningKey)
	if !ok {
		return nil, fmt.Errorf("%w: an ed25519 signing key starts with %q", ErrInvalidKey, PrefixSigningKey)
	}
	seed, err := b64.DecodeString(raw)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: an ed25519 signing key is %q followed by the standard base64 of a %d-byte seed",
			ErrInvalidKey, PrefixSigningKey, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func decodePublicKey(s string) (ed25519.PublicKey, error) {
	raw, ok := strings.CutPrefix(s, PrefixPublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: an ed25519 public key starts with %q", ErrInvalidKey, PrefixPublicKey)
	}
	pub, err := b64.DecodeString(raw)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: an ed25519 public key is %q followed by the standard base64 of %d bytes",
			ErrInvalidKey, PrefixPublicKey, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(pub), nil
}
