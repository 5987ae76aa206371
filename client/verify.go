package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/herald-hq/herald/signing"
)

// Verify checks a delivery Herald made to an endpoint of yours: its
// webhook-id, webhook-timestamp (within 5 minutes of now) and
// webhook-signature headers against body, the raw request body. key is the
// endpoint's secret as GetEndpointSecret or CreateEndpoint gives it: a
// whsec_ secret is checked by the Standard Webhooks reference library; a
// whpk_ public key (an ed25519 endpoint) checks its v1a signatures. During a
// secret rotation either key verifies, as Herald signs with both. The
// errors are the reference library's (standardwebhooks.ErrNoMatchingSignature...)
// or, for whpk_ keys, Herald's signing package's.
//
//	body, _ := io.ReadAll(r.Body)
//	if err := client.Verify(secret, r.Header, body); err != nil {
//		http.Error(w, "bad signature", http.StatusUnauthorized)
//		return
//	}
//	var msg client.WebhookMessage // unless the endpoint has a transform
//	_ = json.Unmarshal(body, &msg)
func Verify(key string, header http.Header, body []byte) error {
	if strings.HasPrefix(key, signing.PrefixPublicKey) {
		// The reference library has no ed25519 yet: Herald's own check.
		return signing.Verify(key, header, body, 5*time.Minute)
	}
	wh, err := standardwebhooks.NewWebhook(key)
	if err != nil {
		return fmt.Errorf("the key is not a whsec_ secret or whpk_ public key: %w", err)
	}
	err = wh.Verify(body, header)
	// The library's sentinel alone: it wraps them in "unable to verify payload, err: ...".
	for _, s := range []error{standardwebhooks.ErrNoMatchingSignature, standardwebhooks.ErrRequiredHeaders,
		standardwebhooks.ErrMessageTooOld, standardwebhooks.ErrMessageTooNew, standardwebhooks.ErrInvalidHeaders} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}
