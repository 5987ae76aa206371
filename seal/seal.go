// Package seal encrypts Herald's secrets at rest with AES-256-GCM. A Keyring
// holds one or more 32-byte keys: the first seals, every one opens, so keys
// rotate by putting a new key first and running `herald rekey`. Each sealed
// value names the key that sealed it, so opening never guesses.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key: AES-256.
const KeySize = 32

// prefix starts every sealed value; the format is
// "hsv1.<key id>.<base64url(nonce || ciphertext)>". Plain secrets (whsec_,
// whsk_, PEM) never start with it, which is how values written before
// encryption was configured are told apart.
const prefix = "hsv1."

// ErrUnknownKey is returned when a value was sealed with a key the keyring
// does not hold.
var ErrUnknownKey = errors.New("sealed with a key that is not in HERALD_ENCRYPTION_KEYS")

// Keyring seals with its first key and opens with any of its keys. It is
// safe for concurrent use.
type Keyring struct {
	ids   []string
	aeads map[string]cipher.AEAD
}

// NewKeyring makes a keyring from raw 32-byte keys, the sealing key first.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("no encryption key")
	}
	k := &Keyring{aeads: make(map[string]cipher.AEAD, len(keys))}
	for i, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("key %d is %d bytes, not %d", i+1, len(key), KeySize)
		}
		id := KeyID(key)
		if _, dup := k.aeads[id]; dup {
			continue
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		k.ids = append(k.ids, id)
		k.aeads[id] = aead
	}
	return k, nil
}

// ParseKeys reads HERALD_ENCRYPTION_KEYS: comma-separated base64 (standard
// or URL alphabet, padded or not) 32-byte keys, the sealing key first.
func ParseKeys(s string) (*Keyring, error) {
	var keys [][]byte
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, err := decodeKey(part)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		keys = append(keys, key)
	}
	return NewKeyring(keys...)
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes, not %d", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, errors.New("is not base64")
}

// NewKey makes a random key, base64-encoded as HERALD_ENCRYPTION_KEYS takes it.
func NewKey() (string, error) {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make encryption key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// KeyID names a key without revealing it: the first 8 hex digits of its
// SHA-256.
func KeyID(key []byte) string {
	h := sha256.Sum256(key)
	return hex.EncodeToString(h[:4])
}

// SealingKeyID is the id of the key that seals.
func (k *Keyring) SealingKeyID() string { return k.ids[0] }

// Seal encrypts plain with the first key. context is authenticated but not
// stored (e.g. the row the value belongs to), so a sealed value copied to
// another row does not open there. The empty string stays empty: "no
// secret" needs no protection and keeps its meaning in queries.
func (k *Keyring) Seal(plain, context string) (string, error) {
	if plain == "" {
		return "", nil
	}
	id := k.ids[0]
	aead := k.aeads[id]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, []byte(plain), []byte(context))
	return prefix + id + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal with the same context. A value that is
// not sealed (written before encryption was configured) is returned as is.
func (k *Keyring) Open(value, context string) (string, error) {
	id, ok := SealedWith(value)
	if !ok {
		return value, nil
	}
	aead := k.aeads[id]
	if aead == nil {
		return "", fmt.Errorf("open: key %s: %w", id, ErrUnknownKey)
	}
	raw, err := base64.RawURLEncoding.DecodeString(value[len(prefix)+len(id)+1:])
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("open: key %s: malformed sealed value", id)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return "", fmt.Errorf("open: key %s: the value does not authenticate (altered, or sealed for another row)", id)
	}
	return string(plain), nil
}

// SealedWith reports whether value is sealed and with which key id.
func SealedWith(value string) (id string, sealed bool) {
	rest, ok := strings.CutPrefix(value, prefix)
	if !ok {
		return "", false
	}
	id, _, ok = strings.Cut(rest, ".")
	return id, ok && id != ""
}

// Current reports whether value is sealed with the sealing key, so that
// rekey can skip it; the empty value is current too.
func (k *Keyring) Current(value string) bool {
	if value == "" {
		return true
	}
	id, ok := SealedWith(value)
	return ok && id == k.ids[0]
}
