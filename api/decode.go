package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/schemas"
	"github.com/herald-hq/herald/store"
)

// idPattern is what client-given ids (apps, events) and event type names
// must match (schemas.IDPattern). It excludes '/', which keeps workflow ids
// unambiguous, and "." and "..", which path normalisation would swallow.
var idPattern = regexp.MustCompile(schemas.IDPattern)

const (
	defaultLimit = 50
	maxLimit     = 250
)

// decode reads the JSON body into dst, refusing unknown fields and trailing
// data. An empty body is an error unless optional, when dst stays as it is.
func (s *server) decode(c *fiber.Ctx, dst any, optional bool) error {
	body := c.Body()
	if len(body) > s.Config.MaxPayloadBytes {
		return errTooLarge
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return schemas.E(schemas.KindBadRequest, "invalid_json", "the request body is empty; a JSON object is expected")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return schemas.E(schemas.KindBadRequest, "invalid_json", "the request body has data after its JSON value")
	}
	return checkText(dst)
}

// decodeError explains why a body did not decode.
func decodeError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		tm     *time.ParseError
	)
	switch {
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return schemas.Errorf(schemas.KindBadRequest, "invalid_json", "the request body is not valid JSON: %v", err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return schemas.Errorf(schemas.KindBadRequest, "invalid_json", "the request body must be a JSON object, not %s", typ.Value)
		}
		return schemas.Errorf(schemas.KindBadRequest, "invalid_field_type", "field %q must be %s, not %s",
			typ.Field, jsonTypeName(typ.Type.String()), typ.Value)
	case errors.As(err, &tm):
		return schemas.Errorf(schemas.KindBadRequest, "invalid_time", "times must be RFC 3339 strings: %v", err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return schemas.Errorf(schemas.KindBadRequest, "unknown_field", "unknown field %s in the request body", field)
	default:
		return schemas.Errorf(schemas.KindBadRequest, "invalid_json", "the request body is not valid: %v", err)
	}
}

func jsonTypeName(goType string) string {
	switch {
	case goType == "string", goType == "*string":
		return "a string"
	case goType == "bool", goType == "*bool":
		return "a boolean"
	case strings.Contains(goType, "int"):
		return "an integer"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["):
		return "an object"
	case strings.Contains(goType, "Time"):
		return "an RFC 3339 time string"
	default:
		return "of another type"
	}
}

// page reads the limit and cursor query parameters.
func page(c *fiber.Ctx) (store.Page, error) {
	p := store.Page{Limit: defaultLimit, Cursor: c.Query("cursor")}
	if raw := c.Query("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > maxLimit {
			return p, schemas.Errorf(schemas.KindBadRequest, "invalid_limit",
				"limit must be an integer from 1 to %d, not %q", maxLimit, raw)
		}
		p.Limit = n
	}
	return p, nil
}

// queryTime reads an optional RFC 3339 time from the query.
func queryTime(c *fiber.Ctx, name string) (*time.Time, error) {
	raw := c.Query(name)
	if raw == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return nil, schemas.Errorf(schemas.KindBadRequest, "invalid_"+name,
			"%s must be an RFC 3339 time such as 2006-01-02T15:04:05Z, not %q", name, raw)
	}
	t = t.UTC()
	return &t, nil
}

// checkID validates a client-given id.
func checkID(what, id string) error {
	if !idPattern.MatchString(id) {
		return schemas.Errorf(schemas.KindInvalid, "invalid_id",
			"%s must be 1 to 128 letters, digits, '_', '.' or '-', and not \".\" or \"..\"; not %q", what, id)
	}
	return nil
}

// list is the contract's list answer; data is never null.
type list[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor"`
}

func listOf[T any](items []T, next string, conv func(T) T) list[T] {
	out := make([]T, len(items))
	for i, it := range items {
		out[i] = conv(it)
	}
	return list[T]{Data: out, NextCursor: next}
}

// requireApp answers app_not_found (404) for an unknown app.
func (s *server) requireApp(c *fiber.Ctx, appID string) error {
	_, err := s.Store.GetApp(c.UserContext(), appID)
	return err
}

// listInApp answers GET /apps/{app}/<things>: the page asked for, then
// app_not_found for an unknown app, then a page of list's items shown by out.
func listInApp[T any](s *server, c *fiber.Ctx, list func(ctx context.Context, appID string, p store.Page) ([]T, string, error), out func(T) T) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	appID := c.Params("app")
	if err := s.requireApp(c, appID); err != nil {
		return err
	}
	items, next, err := list(c.UserContext(), appID, p)
	if err != nil {
		return err
	}
	return c.JSON(listOf(items, next, out))
}

// inApp loads the app's item named by the route parameter param,
// answering app_not_found for an unknown app before the item's not-found.
func inApp[T any](s *server, c *fiber.Ctx, param string, get func(ctx context.Context, appID, id string) (T, error)) (T, error) {
	appID := c.Params("app")
	if err := s.requireApp(c, appID); err != nil {
		var zero T
		return zero, err
	}
	return get(c.UserContext(), appID, c.Params(param))
}

func noContent(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusNoContent) }

// errorf wraps err with what was being done, keeping its kind.
func errorf(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, err)...)
}
