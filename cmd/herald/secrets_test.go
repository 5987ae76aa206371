package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/seal"
	"github.com/herald-hq/herald/signing"
)

// `herald dev` keeps every secret sealed and every file private: after a
// delivery, no file of the data dir holds the endpoint's key in plain text
// and each file is 0600. `herald rekey` then seals with a new key, and
// herald dev comes back on it.
func TestDevSecretsAtRest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startDev(t, dir, nil)
	f := newFixture(t, p.api.withT(t), nil)
	rc := newReceiver(t, nil)
	secret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	f.endpoint(t, map[string]any{"url": rc.URL(), "secret": secret})
	// A receiver behind OAuth2: the client secret is sealed too, and the
	// delivery carries the token.
	const clientSecret = "cs-7f3a9c1e55d04b2a"
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, s, _ := r.BasicAuth(); s != clientSecret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"tok-e2e","token_type":"Bearer","expires_in":3600}`)
	}))
	defer tokens.Close()
	guarded := newReceiver(t, func(_ int, r *http.Request) (int, http.Header, time.Duration) {
		if r.Header.Get("Authorization") != "Bearer tok-e2e" {
			return http.StatusUnauthorized, nil, 0
		}
		return http.StatusOK, nil, 0
	})
	f.endpoint(t, map[string]any{"url": guarded.URL(), "auth": map[string]any{"type": "oauth2_client_credentials",
		"token_url": tokens.URL, "client_id": "herald", "client_secret": clientSecret}})
	var link struct{ Token string }
	f.api.must(201, "POST", "/v1/apps/"+f.app+"/portal-links", map[string]any{}, &link)

	f.send(t, "evt-sealed", map[string]any{"n": 1})
	f.waitStatus(t, "evt-sealed", schemas.EventDelivered, 30*time.Second)
	if got := rc.received()[0].Header.Get("webhook-signature"); got == "" {
		t.Fatal("delivered without a signature")
	}
	if guarded.count() != 1 {
		t.Fatalf("the OAuth2 receiver got %d requests, want 1 with the token", guarded.count())
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}

	needles := map[string][]byte{"endpoint secret": []byte(strings.TrimPrefix(secret, "whsec_")),
		"client secret": []byte(clientSecret), "portal token": []byte(link.Token)}
	var files int
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 600", d.Name(), fi.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for what, needle := range needles {
			if len(needle) > 0 && bytes.Contains(b, needle) {
				t.Errorf("%s holds the %s in plain text", d.Name(), what)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 4 { // herald.db, temporal.db, encryption-key and their journals
		t.Fatalf("only %d files in the data dir", files)
	}

	newKey, err := seal.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HERALD_DATA_DIR": dir, "HERALD_ENCRYPTION_KEYS": newKey}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"rekey"}, func(k string) string { return env[k] }, &out, &out); err != nil {
		t.Fatalf("rekey: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "of 2 endpoints") {
		t.Fatalf("rekey said %q", out.String())
	}
	p2 := startDev(t, dir, map[string]string{"HERALD_ENCRYPTION_KEYS": newKey})
	var eps struct{ Data []schemas.Endpoint }
	p2.api.withT(t).must(200, "GET", "/v1/apps/"+f.app+"/endpoints", nil, &eps)
	var key struct{ Key string }
	p2.api.withT(t).must(200, "GET", "/v1/apps/"+f.app+"/endpoints/"+eps.Data[1].ID+"/secret", nil, &key)
	if key.Key != secret {
		t.Fatalf("after rekey the secret reads %q, want %q", key.Key, secret)
	}
}
