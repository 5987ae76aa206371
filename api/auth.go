package api

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"

	"github.com/herald-hq/herald/netguard"
	"github.com/herald-hq/herald/schemas"
)

// maxPEM bounds each PEM field: a certificate chain fits many times over.
const maxPEM = 64 << 10

// authField is an endpoint's "auth" in a request: absent, null (PATCH:
// remove it) or an object.
type authField struct {
	set, null bool
	v         authBody
}

type authBody struct {
	Type         string   `json:"type"`
	TokenURL     string   `json:"token_url"`
	ClientID     string   `json:"client_id"`
	ClientSecret *string  `json:"client_secret"`
	Scopes       []string `json:"scopes"`
	Audience     string   `json:"audience"`
	CertPEM      string   `json:"cert_pem"`
	KeyPEM       *string  `json:"key_pem"`
}

// UnmarshalJSON keeps null apart from absent and refuses unknown fields.
func (a *authField) UnmarshalJSON(b []byte) error {
	a.set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		a.null = true
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(&a.v)
}

func invalidAuth(format string, args ...any) error {
	return schemas.Errorf(schemas.KindInvalid, "invalid_auth", format, args...)
}

// applyAuth validates the request's auth and ca_pem and writes them into
// e, whose Auth is the current one on PATCH. A secret left out keeps the
// stored one when the type (and, for mTLS, the certificate) is unchanged,
// so that an endpoint read, edited and sent back keeps working.
func (s *server) applyAuth(f authField, caPEM *string, e *schemas.Endpoint) error {
	if caPEM != nil {
		if *caPEM != "" {
			if err := checkCertPEM(*caPEM); err != nil {
				return schemas.Errorf(schemas.KindInvalid, "invalid_ca_pem", "ca_pem: %v", err)
			}
		}
		e.CAPEM = *caPEM
	}
	if !f.set {
		return nil
	}
	if f.null {
		e.Auth = nil
		return nil
	}
	cur, b := e.Auth, f.v
	a := &schemas.EndpointAuth{Type: b.Type}
	switch b.Type {
	case schemas.AuthOAuth2ClientCredentials:
		if b.TokenURL == "" || b.ClientID == "" {
			return invalidAuth("auth of type %s needs token_url and client_id", b.Type)
		}
		if err := netguard.CheckURL(b.TokenURL, s.Config.AllowPrivateNetworks); err != nil {
			return invalidAuth("token_url: %v", err)
		}
		for _, sc := range b.Scopes {
			if sc == "" || len(sc) > 256 {
				return invalidAuth("scopes must be non-empty strings of at most 256 bytes")
			}
		}
		if len(b.ClientID) > 1024 || len(b.Audience) > 1024 || len(b.Scopes) > 64 {
			return invalidAuth("client_id and audience are at most 1024 bytes, scopes at most 64")
		}
		a.TokenURL, a.ClientID, a.Scopes, a.Audience = b.TokenURL, b.ClientID, b.Scopes, b.Audience
		switch {
		case b.ClientSecret != nil && *b.ClientSecret != "" && len(*b.ClientSecret) <= 4096:
			a.ClientSecret = *b.ClientSecret
		case b.ClientSecret == nil && cur != nil && cur.Type == b.Type && cur.TokenURL == b.TokenURL:
			// Kept by the store. Only for the same token_url: the secret is
			// sent there, so whoever may edit the endpoint (a portal link
			// too) could otherwise have the write-only secret sent to a
			// server of theirs.
		default:
			return invalidAuth("auth of type %s needs client_secret (a non-empty string of at most 4096 bytes), "+
				"also when token_url changes", b.Type)
		}
	case schemas.AuthMTLS:
		if b.TokenURL != "" || b.ClientID != "" || b.ClientSecret != nil || b.Scopes != nil || b.Audience != "" {
			return invalidAuth("auth of type mtls takes only cert_pem and key_pem")
		}
		if err := checkCertPEM(b.CertPEM); err != nil {
			return invalidAuth("cert_pem: %v", err)
		}
		a.CertPEM = b.CertPEM
		switch {
		case b.KeyPEM != nil:
			if len(*b.KeyPEM) > maxPEM {
				return invalidAuth("key_pem is longer than %d bytes", maxPEM)
			}
			if _, err := tls.X509KeyPair([]byte(b.CertPEM), []byte(*b.KeyPEM)); err != nil {
				return invalidAuth("cert_pem and key_pem are not a certificate and its private key: %v", err)
			}
			a.KeyPEM = *b.KeyPEM
		case cur != nil && cur.Type == b.Type && cur.CertPEM == b.CertPEM:
			// kept by the store
		default:
			return invalidAuth("auth of type mtls needs key_pem, the private key of cert_pem")
		}
	default:
		return invalidAuth("auth.type must be %q or %q, not %q",
			schemas.AuthOAuth2ClientCredentials, schemas.AuthMTLS, b.Type)
	}
	e.Auth = a
	return nil
}

// checkCertPEM accepts PEM holding one or more certificates and nothing else.
func checkCertPEM(s string) error {
	if len(s) > maxPEM {
		return fmt.Errorf("longer than %d bytes", maxPEM)
	}
	rest, n := []byte(s), 0
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a %q block; only certificates belong here", blk.Type)
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %v", n+1, err)
		}
		n++
	}
	if n == 0 || len(bytes.TrimSpace(rest)) > 0 {
		return fmt.Errorf("is not PEM-encoded certificates")
	}
	return nil
}
