package api

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// Kinds only the API produces.
const (
	kindUnauthorized    schemas.Kind = "unauthorized"       // 401
	kindMethod          schemas.Kind = "method_not_allowed" // 405
	kindTooManyRequests schemas.Kind = "too_many_requests"  // 429
)

// statusOf is the one table from error kinds to HTTP statuses.
var statusOf = map[schemas.Kind]int{
	schemas.KindBadRequest:  http.StatusBadRequest,
	kindUnauthorized:        http.StatusUnauthorized,
	kindForbidden:           http.StatusForbidden,
	schemas.KindNotFound:    http.StatusNotFound,
	kindMethod:              http.StatusMethodNotAllowed,
	schemas.KindConflict:    http.StatusConflict,
	schemas.KindTooLarge:    http.StatusRequestEntityTooLarge,
	schemas.KindInvalid:     http.StatusUnprocessableEntity,
	kindTooManyRequests:     http.StatusTooManyRequests,
	schemas.KindInternal:    http.StatusInternalServerError,
	schemas.KindUnavailable: http.StatusServiceUnavailable,
}

// fiberErrors turns Fiber's own errors (unknown route, wrong method, body
// over its limit...) into ours, so that they take the contract's shape too.
var fiberErrors = map[int]func(c *fiber.Ctx) *schemas.Error{
	http.StatusNotFound: func(c *fiber.Ctx) *schemas.Error {
		return schemas.Errorf(schemas.KindNotFound, "route_not_found", "no route %s %s", c.Method(), c.Path())
	},
	http.StatusMethodNotAllowed: func(c *fiber.Ctx) *schemas.Error {
		return schemas.Errorf(kindMethod, "method_not_allowed", "%s is not allowed on %s", c.Method(), c.Path())
	},
	http.StatusRequestEntityTooLarge: func(*fiber.Ctx) *schemas.Error { return errTooLarge },
}

var errTooLarge = schemas.E(schemas.KindTooLarge, "payload_too_large", "the request body is larger than the limit")

type errorBody struct {
	Error errorFields `json:"error"`
}

type errorFields struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// handleError is the app's one error handler: every error answer is written here.
func (s *server) handleError(c *fiber.Ctx, err error) error {
	var (
		e  *schemas.Error
		fe *fiber.Error
	)
	switch {
	case errors.As(err, &e):
	case errors.As(err, &fe):
		if mk, ok := fiberErrors[fe.Code]; ok {
			e = mk(c)
		} else if fe.Code >= 400 && fe.Code < 500 {
			e = schemas.E(schemas.KindBadRequest, "bad_request", fe.Message)
		} else {
			e = &schemas.Error{Kind: schemas.KindInternal, Err: fe}
		}
	default:
		e = &schemas.Error{Kind: schemas.KindInternal, Err: err}
	}
	if e.Kind == schemas.KindInternal && store.Unreachable(err) {
		// Whichever call met it, a database that is down, restarting or
		// out of connections is a dependency down (503, worth a retry),
		// not a fault of Herald's.
		e = &schemas.Error{Kind: schemas.KindUnavailable, Code: "database_unavailable",
			Message: "the database is unreachable; try again", Err: err}
	}
	status, ok := statusOf[e.Kind]
	if !ok {
		status = http.StatusInternalServerError
	}
	out := errorFields{Code: e.Code, Message: e.Message, Details: e.Details}
	switch {
	case status == http.StatusInternalServerError:
		s.Logger.Error("request failed", "method", c.Method(), "path", c.Path(), "status", status, "err", err)
	case status >= 500:
		s.Logger.Warn("request failed", "method", c.Method(), "path", c.Path(), "status", status, "err", err)
	}
	if status == http.StatusInternalServerError {
		// Never show internals to clients: the log has them.
		out = errorFields{Code: "internal_error", Message: "internal error"}
	}
	if out.Code == "" {
		out.Code = strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
	}
	if out.Message == "" {
		out.Message = http.StatusText(status)
	}
	return c.Status(status).JSON(errorBody{Error: out})
}

// recoverPanic turns a panic in a handler into a logged 500.
func (s *server) recoverPanic(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.Logger.Error("panic in handler", "method", c.Method(), "path", c.Path(),
				"panic", r, "stack", string(debug.Stack()))
			err = schemas.E(schemas.KindInternal, "internal_error", "internal error")
		}
	}()
	return c.Next()
}

// auth checks the bearer token in constant time. An empty configured token
// lets nobody in.
func (s *server) auth(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	bearer := ok && strings.EqualFold(scheme, "Bearer")
	operator := bearer && s.Config.Token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.Config.Token)) == 1
	if !operator && bearer && strings.HasPrefix(token, portalTokenPrefix) {
		return s.portalAuth(c, token)
	}
	if !operator {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="herald"`)
		if h == "" {
			return schemas.E(kindUnauthorized, "unauthorized", "missing Authorization: Bearer <token> header")
		}
		return schemas.E(kindUnauthorized, "unauthorized", "invalid API token")
	}
	return c.Next()
}

// JSONErrors wraps a handler served beside the API (the portal, the docs)
// so that the error answers it writes as plain text, net/http's 404 and 405
// among them, take the contract's shape too. Its own pages (HTML) pass.
func JSONErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&jsonErrorWriter{ResponseWriter: w, r: r}, r)
	})
}

type jsonErrorWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool // the answer's body is ours: the handler's text is dropped
}

func (w *jsonErrorWriter) WriteHeader(status int) {
	if status < 400 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	out := errorFields{
		Code:    strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_"),
		Message: http.StatusText(status),
	}
	switch status {
	case http.StatusNotFound:
		out = errorFields{Code: "route_not_found", Message: "no route " + w.r.Method + " " + w.r.URL.Path}
	case http.StatusMethodNotAllowed:
		out = errorFields{Code: "method_not_allowed", Message: w.r.Method + " is not allowed on " + w.r.URL.Path}
	}
	body, _ := json.Marshal(errorBody{Error: out}) // strings only: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(status)
	_, _ = w.ResponseWriter.Write(body)
	w.replaced = true
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (w *jsonErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
