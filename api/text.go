package api

import (
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/herald-hq/herald/schemas"
)

// Text that Postgres cannot hold (a NUL byte, invalid UTF-8) is refused at
// the door, the same on both databases: in the path and query (400) and in
// any string field of a decoded body (422). Raw JSON (payloads, schemas) is
// stored as its own text, escapes and all, so it needs no check.

// checkParams refuses a request whose path (path parameters are taken from
// it as sent) or query (decoded) holds a NUL byte or invalid UTF-8.
func (s *server) checkParams(c *fiber.Ctx) error {
	bad := func(v string) bool { return strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) }
	if bad(c.Path()) {
		return schemas.E(schemas.KindBadRequest, "invalid_parameter", "the path holds a NUL byte or invalid UTF-8")
	}
	var err error
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if err == nil && (bad(string(k)) || bad(string(v))) {
			err = schemas.Errorf(schemas.KindBadRequest, "invalid_parameter",
				"query parameter %q holds a NUL byte or invalid UTF-8", strings.ToValidUTF8(string(k), "?"))
		}
	})
	if err != nil {
		return err
	}
	return c.Next()
}

// checkText refuses NUL bytes in the strings of a decoded request body:
// struct fields, pointers, slices and maps (keys too), by JSON field name.
func checkText(v any) error {
	if field, ok := findNUL(reflect.ValueOf(v), ""); ok {
		return schemas.Errorf(schemas.KindInvalid, "invalid_text", "%s holds a NUL character, which Herald does not store", field)
	}
	return nil
}

var rawJSON = reflect.TypeOf([]byte(nil))

func findNUL(v reflect.Value, path string) (string, bool) {
	switch v.Kind() {
	case reflect.String:
		return path, strings.IndexByte(v.String(), 0) >= 0
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", false
		}
		return findNUL(v.Elem(), path)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" && tag != "-" {
				name = tag
			}
			if f.Anonymous {
				name = path
			} else if path != "" {
				name = path + "." + name
			}
			if p, ok := findNUL(v.Field(i), name); ok {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().ConvertibleTo(rawJSON) {
			return "", false
		}
		for i := range v.Len() {
			if p, ok := findNUL(v.Index(i), path); ok {
				return p, true
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if p, ok := findNUL(it.Key(), path+" (a key)"); ok {
				return p, true
			}
			if p, ok := findNUL(it.Value(), path); ok {
				return p, true
			}
		}
	}
	return "", false
}
