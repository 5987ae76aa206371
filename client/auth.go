package client

import (
	"context"
	"net/http"
)

// WithBearer authenticates every request with token: HERALD_API_TOKEN, or a
// portal link's token.
func WithBearer(token string) ClientOption {
	return WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	})
}
