package schemas

import (
	"errors"
	"fmt"
)

// Kind classifies an error so that the API can map it to one status and code.
type Kind string

// Error kinds. The API's error table maps each to an HTTP status.
const (
	KindInvalid     Kind = "invalid"     // 422: valid JSON that breaks a rule
	KindBadRequest  Kind = "bad_request" // 400: malformed JSON or parameter
	KindNotFound    Kind = "not_found"   // 404
	KindConflict    Kind = "conflict"    // 409
	KindTooLarge    Kind = "too_large"   // 413
	KindUnavailable Kind = "unavailable" // 503: a dependency is down
	KindInternal    Kind = "internal"    // 500
)

// Error is an error with a kind, a snake_case code for clients, a human
// message and optional details (e.g. JSON Schema errors).
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Details any
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// E makes an Error.
func E(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// Errorf makes an Error with a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first *Error in err's chain, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// IsNotFound reports whether err is (or wraps) a not-found error.
func IsNotFound(err error) bool { return KindOf(err) == KindNotFound }

// IsConflict reports whether err is (or wraps) a conflict error.
func IsConflict(err error) bool { return KindOf(err) == KindConflict }
