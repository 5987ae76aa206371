package receiverauth

import (
	"context"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/herald-hq/herald/schemas"
)

// bearer returns the endpoint's cached token, or fetches one (fresh) when
// there is none or it expires within oauth2's margin. Concurrent sends wait
// for one fetch. The token request goes through the endpoint's own client:
// dial-guarded like the delivery, and trusting the endpoint's CA.
func (ep *endpoint) bearer(ctx context.Context, a *schemas.EndpointAuth) (tok *oauth2.Token, fresh bool, err error) {
	ep.tokenMu.Lock()
	defer ep.tokenMu.Unlock()
	if ep.token != nil && ep.token.Valid() {
		return ep.token, false, nil
	}
	cc := clientcredentials.Config{
		ClientID:     a.ClientID,
		ClientSecret: a.ClientSecret,
		TokenURL:     a.TokenURL,
		Scopes:       a.Scopes,
	}
	if a.Audience != "" {
		cc.EndpointParams = map[string][]string{"audience": {a.Audience}}
	}
	tok, err = cc.Token(context.WithValue(ctx, oauth2.HTTPClient, ep.client))
	if err != nil {
		return nil, false, err
	}
	ep.token = tok
	return tok, true, nil
}

// forget drops tok if it is still the cached token (a concurrent send may
// have replaced it already).
func (ep *endpoint) forget(tok *oauth2.Token) {
	ep.tokenMu.Lock()
	defer ep.tokenMu.Unlock()
	if ep.token == tok {
		ep.token = nil
	}
}
