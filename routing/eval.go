package routing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/textproto"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// Event is one event being routed. Its payload is decoded once, on first
// use, however many endpoints look at it.
type Event struct {
	ID      string
	Type    EventType
	Payload json.RawMessage

	decoded   any
	decodeErr error
	done      bool
}

func (ev *Event) payload() (any, error) {
	if !ev.done {
		ev.done = true
		ev.decodeErr = json.Unmarshal(ev.Payload, &ev.decoded)
		if ev.decodeErr != nil {
			ev.decodeErr = fmt.Errorf("decode payload: %w", ev.decodeErr)
		}
	}
	return ev.decoded, ev.decodeErr
}

// vars binds the expression variables without building a map per call.
type vars struct {
	eventType, eventID string
	payload            any
}

func (v *vars) ResolveName(name string) (any, bool) {
	switch name {
	case "event_type":
		return v.eventType, true
	case "payload":
		return v.payload, true
	case "event_id":
		return v.eventID, true
	}
	return nil, false
}

func (v *vars) Parent() interpreter.Activation { return nil }

func (r *Router) eval(ctx context.Context, kind Kind, expr string, typed bool, ev *Event) (ref.Val, error) {
	e, err := r.program(kind, expr, typed, ev.Type)
	if err != nil {
		return nil, err
	}
	p, err := ev.payload()
	if err != nil {
		return nil, err
	}
	out, _, err := e.c.prg.ContextEval(ctx, &vars{eventType: ev.Type.Name, eventID: ev.ID, payload: e.c.payload.convert(p)})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Match evaluates an endpoint's filter for an event. typed is whether the
// endpoint names event types (else its payload is dyn). An evaluation error
// is no match: it is counted and returned for the log.
func (r *Router) Match(ctx context.Context, endpointID, filter string, typed bool, ev *Event) (bool, error) {
	out, err := r.eval(ctx, Filter, filter, typed, ev)
	if err == nil {
		b, ok := out.(types.Bool)
		if ok {
			return bool(b), nil
		}
		err = fmt.Errorf("the filter yielded %s, not a bool", out.Type().TypeName())
	}
	r.count(Filter)
	return false, fmt.Errorf("filter of endpoint %s on event %s: %w", endpointID, ev.ID, err)
}

// Result is what a transform makes of a delivery.
type Result struct {
	Body    []byte            // nil: the envelope, as without a transform
	Headers map[string]string // set over the endpoint's headers
}

// Transform evaluates an endpoint's transform for an event. The error,
// counted, fails the attempt.
func (r *Router) Transform(ctx context.Context, endpointID, transform string, typed bool, ev *Event) (Result, error) {
	res, err := r.transform(ctx, transform, typed, ev)
	if err != nil {
		r.count(Transform)
		return Result{}, fmt.Errorf("transform of endpoint %s: %w", endpointID, err)
	}
	return res, nil
}

func (r *Router) transform(ctx context.Context, expr string, typed bool, ev *Event) (Result, error) {
	out, err := r.eval(ctx, Transform, expr, typed, ev)
	if err != nil {
		return Result{}, err
	}
	m, ok := out.(traits.Mapper)
	if !ok {
		return Result{}, fmt.Errorf(`yielded %s, not a map such as {"body": ..., "headers": {...}}`, out.Type().TypeName())
	}
	var res Result
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		v := m.Get(k)
		switch k {
		case types.String("body"):
			body, err := toJSON(v, 0)
			if err != nil {
				return Result{}, fmt.Errorf("body: %w", err)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(body); err != nil {
				return Result{}, fmt.Errorf("body: %w", err)
			}
			res.Body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		case types.String("headers"):
			if res.Headers, err = headers(v); err != nil {
				return Result{}, err
			}
		default:
			return Result{}, fmt.Errorf(`yielded the key %v: only "body" and "headers" are allowed`, k)
		}
	}
	return res, nil
}

// headers reads the transform's headers: a map of names to string values,
// none of which Herald sets itself.
func headers(v ref.Val) (map[string]string, error) {
	m, ok := v.(traits.Mapper)
	if !ok {
		return nil, fmt.Errorf("headers: %s, not a map", v.Type().TypeName())
	}
	out := map[string]string{}
	for it := m.Iterator(); it.HasNext() == types.True; {
		k := it.Next()
		name, ok := k.(types.String)
		if !ok {
			return nil, fmt.Errorf("headers: the name %v is not a string", k)
		}
		val, ok := m.Get(k).(types.String)
		if !ok {
			return nil, fmt.Errorf("headers: the value of %q is %s, not a string", name, m.Get(k).Type().TypeName())
		}
		if err := CheckHeader(string(name), string(val)); err != nil {
			return nil, fmt.Errorf("headers: %w", err)
		}
		out[string(name)] = string(val)
	}
	return out, nil
}

// Reserved are the headers Herald sets itself (and webhook-*): neither an
// endpoint's headers nor a transform may set them.
var Reserved = map[string]bool{
	"Content-Type": true, "User-Agent": true, "Host": true, "Content-Length": true,
	"Transfer-Encoding": true, "Connection": true, "Content-Encoding": true,
	"Te": true, "Trailer": true, "Upgrade": true, "Keep-Alive": true, "Proxy-Connection": true,
}

// CheckHeader checks one header a transform sets.
func CheckHeader(name, value string) error {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return r > '~' || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	}) {
		return fmt.Errorf("%q is not a valid header name", name)
	}
	if Reserved[textproto.CanonicalMIMEHeaderKey(name)] || strings.HasPrefix(strings.ToLower(name), "webhook-") {
		return fmt.Errorf("header %q is set by Herald and cannot be overridden", name)
	}
	if strings.ContainsFunc(value, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) {
		return fmt.Errorf("the value of header %q has a control character", name)
	}
	return nil
}

// maxNesting bounds the depth of a body, as JSON decoders do.
const maxNesting = 128

// toJSON turns a CEL value into what encoding/json writes as the same JSON.
func toJSON(v ref.Val, depth int) (any, error) {
	if depth > maxNesting {
		return nil, errors.New("nested too deeply")
	}
	switch x := v.(type) {
	case types.Null:
		return nil, nil
	case types.Bool:
		return bool(x), nil
	case types.Int:
		return int64(x), nil
	case types.Uint:
		return uint64(x), nil
	case types.Double:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("%v has no JSON form", x)
		}
		return float64(x), nil
	case types.String:
		return string(x), nil
	case types.Bytes:
		return base64.StdEncoding.EncodeToString(x), nil
	case types.Timestamp:
		return x.UTC().Format(time.RFC3339Nano), nil
	case types.Duration:
		return x.String(), nil
	case *types.Err:
		return nil, x
	case traits.Mapper:
		out := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.(types.String)
			if !ok {
				return nil, fmt.Errorf("the key %v is not a string", k)
			}
			val, err := toJSON(x.Get(k), depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ks, err)
			}
			out[string(ks)] = val
		}
		return out, nil
	case traits.Lister:
		n := int(x.Size().(types.Int))
		out := make([]any, n)
		for i := range n {
			val, err := toJSON(x.Get(types.Int(i)), depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out[i] = val
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %s has no JSON form", v.Type().TypeName())
}
