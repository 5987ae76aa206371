package schemas

// Receiver authentication types (an endpoint's auth.type).
const (
	AuthOAuth2ClientCredentials = "oauth2_client_credentials"
	AuthMTLS                    = "mtls"
)

// EndpointAuth is how Herald authenticates to an endpoint's receiver,
// besides the signature. Its secrets (ClientSecret, KeyPEM) are write-only:
// they never encode to JSON, so no answer, log or workflow payload carries
// them; the store seals them at rest.
type EndpointAuth struct {
	Type string `json:"type"`
	// oauth2_client_credentials
	TokenURL     string   `json:"token_url,omitempty"`
	ClientID     string   `json:"client_id,omitempty"`
	ClientSecret string   `json:"-"`
	Scopes       []string `json:"scopes,omitempty"`
	Audience     string   `json:"audience,omitempty"`
	// mtls
	CertPEM string `json:"cert_pem,omitempty"`
	KeyPEM  string `json:"-"`
}

// Secret is the auth's one secret: the client secret or the private key.
func (a *EndpointAuth) Secret() string {
	if a == nil {
		return ""
	}
	if a.Type == AuthMTLS {
		return a.KeyPEM
	}
	return a.ClientSecret
}

// SetSecret puts s where the auth's type keeps its secret.
func (a *EndpointAuth) SetSecret(s string) {
	if a.Type == AuthMTLS {
		a.KeyPEM = s
	} else {
		a.ClientSecret = s
	}
}
