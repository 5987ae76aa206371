package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// client calls Herald's /v1 API in process, with the portal user's own
// token: the portal can do exactly what that token may, and every rule
// (validation, scopes, read-only, expiry) stays in one place, the API.
type client struct {
	api   http.Handler
	token string
}

// apiError is an API error answer.
type apiError struct {
	Status  int
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// call sends one request; body, when not nil, is sent as JSON; out, when not
// nil, receives the JSON answer. A non-2xx answer is an *apiError.
func (c client) call(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	uri := path
	if len(query) > 0 {
		uri += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, uri, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.RequestURI = uri
	req.RemoteAddr = "127.0.0.1:0"
	req.Host = "portal.internal"
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	w := &answer{header: http.Header{}}
	c.api.ServeHTTP(w, req)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= 300 {
		e := &apiError{Status: w.status}
		var env struct {
			Error *apiError `json:"error"`
		}
		env.Error = e
		if json.Unmarshal(w.body.Bytes(), &env) != nil || e.Code == "" {
			e.Code, e.Message = "error", strings.TrimSpace(w.body.String())
		}
		e.Status = w.status
		return e
	}
	if out != nil && w.body.Len() > 0 {
		if err := json.Unmarshal(w.body.Bytes(), out); err != nil {
			return fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return nil
}

// answer is an in-memory http.ResponseWriter.
type answer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *answer) Header() http.Header { return a.header }

func (a *answer) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	return a.body.Write(p)
}

func (a *answer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}
