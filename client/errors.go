package client

import (
	"encoding/json"
	"fmt"
	"slices"
)

// APIError is an error answer of Herald's API, in the contract's shape:
// {"error": {"code", "message", "details"}}.
type APIError struct {
	Status  int
	Code    string // stable snake_case code to branch on
	Message string
	Details any
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("herald: status %d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("herald: %d %s: %s", e.Status, e.Code, e.Message)
}

// Response is what every generated ...Response has.
type Response interface {
	StatusCode() int
	GetBody() []byte
}

// Expect returns nil when res has one of the statuses want, else an
// *APIError read from its body:
//
//	res, err := c.CancelEventWithResponse(ctx, app, id)
//	if err == nil {
//		err = client.Expect(res, http.StatusAccepted)
//	}
func Expect(res Response, want ...int) error {
	if slices.Contains(want, res.StatusCode()) {
		return nil
	}
	e := &APIError{Status: res.StatusCode()}
	var body Error
	if json.Unmarshal(res.GetBody(), &body) == nil && body.Error.Code != "" {
		e.Code, e.Message, e.Details = body.Error.Code, body.Error.Message, body.Error.Details
	} else {
		e.Message = string(res.GetBody())
	}
	return e
}
