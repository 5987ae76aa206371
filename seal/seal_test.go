package seal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustKey(t *testing.T) string {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k, err := ParseKeys(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
	a, err := k.Seal(secret, "endpoint:ep_1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Seal(secret, "endpoint:ep_1")
	if a == b {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	if strings.Contains(a, "whsec_") || strings.Contains(a, "c2VjcmV0") {
		t.Fatalf("sealed value shows the secret: %s", a)
	}
	if id, ok := SealedWith(a); !ok || id != k.SealingKeyID() {
		t.Fatalf("SealedWith = %q %v, want %q", id, ok, k.SealingKeyID())
	}
	got, err := k.Open(a, "endpoint:ep_1")
	if err != nil || got != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k.Open(a, "endpoint:ep_2"); err == nil {
		t.Fatal("a value sealed for one row opened for another")
	}
	tampered := a[:len(a)-2] + "AA"
	if tampered == a {
		tampered = a[:len(a)-2] + "BB"
	}
	if _, err := k.Open(tampered, "endpoint:ep_1"); err == nil {
		t.Fatal("an altered value opened")
	}
	// Values from before encryption was configured read as they are.
	if got, err := k.Open(secret, "x"); err != nil || got != secret {
		t.Fatalf("Open(plain) = %q, %v", got, err)
	}
	if s, _ := k.Seal("", "x"); s != "" {
		t.Fatalf("Seal(\"\") = %q", s)
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := mustKey(t), mustKey(t)
	oldRing, _ := ParseKeys(oldKey)
	sealedOld, _ := oldRing.Seal("whsk_private", "c")

	both, err := ParseKeys(newKey + ", " + oldKey)
	if err != nil {
		t.Fatal(err)
	}
	if both.Current(sealedOld) {
		t.Fatal("a value sealed with the old key counts as current")
	}
	plain, err := both.Open(sealedOld, "c")
	if err != nil || plain != "whsk_private" {
		t.Fatalf("new keyring opens old value: %q %v", plain, err)
	}
	resealed, _ := both.Seal(plain, "c")
	if !both.Current(resealed) {
		t.Fatal("resealed value is not current")
	}
	newOnly, _ := ParseKeys(newKey)
	if got, err := newOnly.Open(resealed, "c"); err != nil || got != "whsk_private" {
		t.Fatalf("after rekey the new key alone opens: %q %v", got, err)
	}
	if _, err := newOnly.Open(sealedOld, "c"); err == nil {
		t.Fatal("a value sealed with a removed key opened")
	}
}

func TestParseKeysRejects(t *testing.T) {
	for _, bad := range []string{"", "not base64!", "c2hvcnQ=", " , "} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "encryption-key")
	k1, err := KeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %o, want 600", fi.Mode().Perm())
	}
	k2, err := KeyFile(path)
	if err != nil || k2 != k1 {
		t.Fatalf("second read %q %v, want the same key", k2, err)
	}
	if _, err := ParseKeys(k1); err != nil {
		t.Fatal(err)
	}
}
