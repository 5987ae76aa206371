package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/herald-hq/herald/internal/pgtest"
	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/seal"
	"github.com/herald-hq/herald/signing"
	"github.com/herald-hq/herald/store"
)

func keyring(t *testing.T, keys ...string) *seal.Keyring {
	t.Helper()
	var csv string
	for i, k := range keys {
		if i > 0 {
			csv += ","
		}
		csv += k
	}
	kr, err := seal.ParseKeys(csv)
	must(t, err)
	return kr
}

func newKey(t *testing.T) string {
	t.Helper()
	k, err := seal.NewKey()
	must(t, err)
	return k
}

func openSealed(t *testing.T, dsn string, kr *seal.Keyring) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, store.WithSealer(kr))
	must(t, err)
	must(t, s.Migrate(context.Background()))
	return s
}

// planted are the secrets a test stores and then looks for in the raw data.
type planted struct{ hmac, previous, ed25519, clientSecret, keyPEM string }

func plant(t *testing.T, s *store.Store) planted {
	t.Helper()
	ctx := context.Background()
	p := planted{clientSecret: "cs-" + randomHex(t) + randomHex(t), keyPEM: "-----BEGIN PRIVATE KEY-----" + randomHex(t)}
	var err error
	p.previous, _ = signing.NewSecret()
	p.hmac, _ = signing.NewSecret()
	p.ed25519, _, err = signing.NewEd25519Key()
	must(t, err)
	mkApp(t, s, "app_1")
	e := schemas.Endpoint{ID: "ep_1", AppID: "app_1", URL: "https://example.com/", SignatureType: schemas.SignatureHMAC,
		CreatedAt: t0, UpdatedAt: t0, Auth: &schemas.EndpointAuth{Type: schemas.AuthOAuth2ClientCredentials,
			TokenURL: "https://auth.example.com/token", ClientID: "herald", ClientSecret: p.clientSecret}}
	must(t, s.CreateEndpoint(ctx, e, schemas.EndpointSecrets{Key: p.previous}))
	must(t, s.RotateEndpointSecret(ctx, "app_1", "ep_1", p.hmac, at(3600)))
	e2 := schemas.Endpoint{ID: "ep_2", AppID: "app_1", URL: "https://example.com/2", SignatureType: schemas.SignatureEd25519,
		CreatedAt: t0, UpdatedAt: t0, Auth: &schemas.EndpointAuth{Type: schemas.AuthMTLS, CertPEM: "cert", KeyPEM: p.keyPEM}}
	must(t, s.CreateEndpoint(ctx, e2, schemas.EndpointSecrets{Key: p.ed25519}))
	return p
}

// check reads the secrets back through the store.
func (p planted) check(t *testing.T, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	sec, err := s.GetEndpointSecrets(ctx, "app_1", "ep_1")
	must(t, err)
	if sec.Key != p.hmac || sec.PreviousKey != p.previous {
		t.Fatalf("ep_1 secrets read back as %q / %q", sec.Key, sec.PreviousKey)
	}
	sec, err = s.GetEndpointSecrets(ctx, "app_1", "ep_2")
	must(t, err)
	if sec.Key != p.ed25519 {
		t.Fatalf("ep_2 key read back as %q", sec.Key)
	}
	_, _, _, err = s.AcceptEvent(ctx, store.NewEvent{AppID: "app_1", ID: "evt_" + randomHex(t), EventType: "a",
		Payload: []byte(`{}`), CreatedAt: at(1)})
	must(t, err)
	evs, _, err := s.ListEvents(ctx, "app_1", store.EventFilter{}, store.Page{})
	must(t, err)
	for _, ep := range []string{"ep_1", "ep_2"} {
		job, err := s.LoadDelivery(ctx, "app_1", evs[0].ID, ep)
		must(t, err)
		if got := job.Endpoint.Auth.Secret(); got != map[string]string{"ep_1": p.clientSecret, "ep_2": p.keyPEM}[ep] {
			t.Fatalf("%s auth secret read back as %q", ep, got)
		}
	}
	got, err := s.GetEndpoint(ctx, "app_1", "ep_1")
	must(t, err)
	if got.Auth == nil || got.Auth.ClientID != "herald" || got.Auth.ClientSecret != "" {
		t.Fatalf("GetEndpoint auth %+v: want the public part only", got.Auth)
	}
}

func (p planted) absentFrom(t *testing.T, what string, raw []byte) {
	t.Helper()
	for name, v := range map[string]string{"whsec_ key": p.hmac, "previous whsec_ key": p.previous,
		"whsk_ key": p.ed25519, "client_secret": p.clientSecret, "key_pem": p.keyPEM} {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("%s holds the %s in plain text", what, name)
		}
	}
	if len(raw) == 0 {
		t.Errorf("%s is empty: nothing was checked", what)
	}
}

func TestSealedAtRestSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "herald.db")
	s := openSealed(t, "sqlite:"+path, keyring(t, newKey(t)))
	p := plant(t, s)
	p.check(t, s)
	must(t, s.Close())
	var raw []byte
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err == nil {
			raw = append(raw, b...)
		}
		if fi, err := os.Stat(f); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(f), fi.Mode().Perm())
		}
	}
	p.absentFrom(t, "the SQLite file", raw)
}

func TestSealedAtRestPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := openSealed(t, dsn, keyring(t, newKey(t)))
	defer s.Close()
	p := plant(t, s)
	p.check(t, s)
	db, err := sql.Open("postgres", dsn)
	must(t, err)
	defer db.Close()
	var raw string
	must(t, db.QueryRow(`SELECT string_agg(t::text, ' ') FROM endpoints t`).Scan(&raw))
	p.absentFrom(t, "the endpoints rows", []byte(raw))
}

// TestRekey: values sealed with an old key, and values stored before
// encryption was configured, are sealed with the new key by Rekey; the old
// key can then be removed.
func TestRekey(t *testing.T) {
	t.Parallel()
	for name, dsn := range map[string]func() string{
		"sqlite":   func() string { return "sqlite:" + filepath.Join(t.TempDir(), "herald.db") },
		"postgres": func() string { return pgtest.DSN(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := dsn()
			oldKey, newK := newKey(t), newKey(t)
			// An endpoint from before encryption, then two sealed with the old key.
			s, err := store.Open(ctx, dsn)
			must(t, err)
			must(t, s.Migrate(ctx))
			mkApp(t, s, "app_0")
			mkEndpoint(t, s, "app_0", "ep_plain", true)
			must(t, s.Close())
			s = openSealed(t, dsn, keyring(t, oldKey))
			p := plant(t, s)
			must(t, s.Close())

			s = openSealed(t, dsn, keyring(t, newK, oldKey))
			p.check(t, s) // both keys open
			n, err := s.Rekey(ctx)
			must(t, err)
			if n != 3 {
				t.Fatalf("rekey changed %d endpoints, want 3", n)
			}
			if n, err = s.Rekey(ctx); err != nil || n != 0 {
				t.Fatalf("second rekey changed %d (%v), want 0", n, err)
			}
			must(t, s.Close())

			s = openSealed(t, dsn, keyring(t, newK)) // the old key is gone
			defer s.Close()
			p.check(t, s)
			sec, err := s.GetEndpointSecrets(ctx, "app_0", "ep_plain")
			must(t, err)
			if sec.Key != "whsec_ep_plain" {
				t.Fatalf("the endpoint from before encryption reads %q", sec.Key)
			}
			s2 := openSealed(t, dsn, keyring(t, oldKey))
			defer s2.Close()
			if _, err := s2.GetEndpointSecrets(ctx, "app_1", "ep_1"); err == nil {
				t.Fatal("after rekey the old key alone still opens the secrets")
			}
		})
	}
}
