package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/herald-hq/herald/schemas"
)

// endpoint is an endpoint as the API shows it (the API's own type: the
// portal calls the API of its own build), with what the pages need of it.
type endpoint struct {
	schemas.Endpoint
}

// HeaderLines are the custom headers as the form shows them, one "Name: value" a line.
func (e endpoint) HeaderLines() string {
	names := make([]string, 0, len(e.Headers))
	for n := range e.Headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s: %s\n", n, e.Headers[n])
	}
	return b.String()
}

type listOf[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor"`
}

func (s *server) endpointList(q *req) (string, any, error) {
	var eps listOf[endpoint]
	err := q.c.call(q.r.Context(), http.MethodGet, q.api+"/endpoints", url.Values{"limit": {"250"}}, nil, &eps)
	return "endpoints", eps.Data, err
}

func (s *server) endpoint(q *req) (endpoint, error) {
	var e endpoint
	err := q.c.call(q.r.Context(), http.MethodGet, q.api+"/endpoints/"+url.PathEscape(q.r.PathValue("ep")), nil, nil, &e)
	return e, err
}

// form is the endpoint form: its values, the catalog to choose from, and
// the errors by field.
type form struct {
	Endpoint endpoint
	New      bool
	Types    []eventType
	Errors   map[string]string
}

func (s *server) eventTypes(q *req) ([]eventType, error) {
	var ts listOf[eventType]
	err := q.c.call(q.r.Context(), http.MethodGet, "/v1/event-types", url.Values{"limit": {"250"}}, nil, &ts)
	sort.Slice(ts.Data, func(i, j int) bool { return ts.Data[i].Name < ts.Data[j].Name })
	return ts.Data, err
}

func (s *server) endpointNew(q *req) (string, any, error) {
	types, err := s.eventTypes(q)
	return "endpoint_form", form{New: true, Types: types, Endpoint: endpoint{schemas.Endpoint{Ordered: true}}}, err
}

func (s *server) endpointEdit(q *req) (string, any, error) {
	e, err := s.endpoint(q)
	if err != nil {
		return "", nil, err
	}
	types, err := s.eventTypes(q)
	return "endpoint_form", form{Endpoint: e, Types: types}, err
}

// fieldOf says which form field an API error code is about.
var fieldOf = map[string]string{
	"invalid_url": "url", "unknown_event_type": "event_types", "invalid_header": "headers",
	"invalid_rate_limit": "rate_limit_per_second", "invalid_filter": "filter", "invalid_transform": "transform",
}

// readForm turns the posted form into an API body; errs has the fields it
// could not read.
func readForm(r *http.Request, prev endpoint) (map[string]any, endpoint, map[string]string) {
	errs := map[string]string{}
	_ = r.ParseForm()
	e := prev
	e.URL = strings.TrimSpace(r.PostFormValue("url"))
	e.Description = r.PostFormValue("description")
	e.EventTypes = r.PostForm["event_types"]
	e.Ordered = r.PostFormValue("ordered") == "on"
	body := map[string]any{"url": e.URL, "description": e.Description, "ordered": e.Ordered}
	if e.EventTypes == nil {
		e.EventTypes = []string{}
	}
	body["event_types"] = e.EventTypes
	if raw := strings.TrimSpace(r.PostFormValue("rate_limit_per_second")); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil {
			errs["rate_limit_per_second"] = "a whole number of requests per second (0: no limit)"
		}
		e.RateLimitPerSecond = n
	} else {
		e.RateLimitPerSecond = 0
	}
	body["rate_limit_per_second"] = e.RateLimitPerSecond
	e.Headers = map[string]string{}
	for _, line := range strings.Split(r.PostFormValue("headers"), "\n") {
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			errs["headers"] = fmt.Sprintf("%q is not \"Name: value\"", line)
			continue
		}
		e.Headers[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	body["headers"] = e.Headers
	// "" removes a filter or transform.
	e.Filter = strings.TrimSpace(r.PostFormValue("filter"))
	e.Transform = strings.TrimSpace(r.PostFormValue("transform"))
	body["filter"], body["transform"] = e.Filter, e.Transform
	return body, e, errs
}

// formFailed renders the form again with the API's error beside its field.
func (s *server) formFailed(q *req, f form, err error) (string, any, error) {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity {
		return "", nil, err
	}
	field := fieldOf[ae.Code]
	if field == "" {
		field = "form"
	}
	msg := ae.Message
	if len(ae.Details) > 0 && string(ae.Details) != "null" {
		msg += ": " + detailText(ae.Details)
	}
	f.Errors[field] = msg
	f.Types, _ = s.eventTypes(q)
	return "endpoint_form", f, nil
}

func detailText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func (s *server) endpointCreate(q *req) (string, any, error) {
	body, e, errs := readForm(q.r, endpoint{})
	f := form{Endpoint: e, New: true, Errors: errs}
	if len(errs) > 0 {
		f.Types, _ = s.eventTypes(q)
		return "endpoint_form", f, nil
	}
	var created struct {
		endpoint
		Secret string `json:"secret"`
	}
	if err := q.c.call(q.r.Context(), http.MethodPost, q.api+"/endpoints", nil, body, &created); err != nil {
		return s.formFailed(q, f, err)
	}
	q.r.SetPathValue("ep", created.ID)
	q.push = q.base + "/endpoints/" + url.PathEscape(created.ID)
	return s.endpointShow(q)
}

func (s *server) endpointUpdate(q *req) (string, any, error) {
	prev, err := s.endpoint(q)
	if err != nil {
		return "", nil, err
	}
	body, e, errs := readForm(q.r, prev)
	f := form{Endpoint: e, Errors: errs}
	if len(errs) > 0 {
		f.Types, _ = s.eventTypes(q)
		return "endpoint_form", f, nil
	}
	if err := q.c.call(q.r.Context(), http.MethodPatch, q.api+"/endpoints/"+url.PathEscape(prev.ID), nil, body, nil); err != nil {
		return s.formFailed(q, f, err)
	}
	q.push = q.base + "/endpoints/" + url.PathEscape(prev.ID)
	return s.endpointShow(q)
}

// endpointPage is the endpoint's page: the endpoint, the catalog for test
// events, and a note on what was just done.
type endpointPage struct {
	Endpoint endpoint
	Types    []eventType
	Note     string
	Since    string
}

func (s *server) endpointShow(q *req) (string, any, error) {
	return s.endpointPage(q, "")
}

func (s *server) endpointPage(q *req, note string) (string, any, error) {
	e, err := s.endpoint(q)
	if err != nil {
		return "", nil, err
	}
	types, err := s.eventTypes(q)
	since := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02T15:04")
	return "endpoint", endpointPage{Endpoint: e, Types: types, Note: note, Since: since}, err
}

func (s *server) endpointToggle(q *req) (string, any, error) {
	e, err := s.endpoint(q)
	if err != nil {
		return "", nil, err
	}
	body := map[string]any{"disabled": !e.Disabled}
	if err := q.c.call(q.r.Context(), http.MethodPatch, q.api+"/endpoints/"+url.PathEscape(e.ID), nil, body, nil); err != nil {
		return "", nil, err
	}
	note := "Endpoint disabled: nothing is delivered to it until it is enabled."
	if e.Disabled {
		note = "Endpoint enabled."
	}
	return s.endpointPage(q, note)
}

func (s *server) endpointDelete(q *req) (string, any, error) {
	ep := url.PathEscape(q.r.PathValue("ep"))
	if err := q.c.call(q.r.Context(), http.MethodDelete, q.api+"/endpoints/"+ep, nil, nil, nil); err != nil {
		return "", nil, err
	}
	q.push = q.base + "/endpoints"
	return s.endpointList(q)
}

type secretView struct {
	Key     string
	Rotated bool
}

func (s *server) secretReveal(q *req) (string, any, error) {
	var k struct {
		Key string `json:"key"`
	}
	err := q.c.call(q.r.Context(), http.MethodGet, q.api+"/endpoints/"+url.PathEscape(q.r.PathValue("ep"))+"/secret", nil, nil, &k)
	return "secret", secretView{Key: k.Key}, err
}

func (s *server) secretRotate(q *req) (string, any, error) {
	var k struct {
		Key string `json:"key"`
	}
	err := q.c.call(q.r.Context(), http.MethodPost, q.api+"/endpoints/"+url.PathEscape(q.r.PathValue("ep"))+"/secret/rotate", nil, map[string]any{}, &k)
	return "secret", secretView{Key: k.Key, Rotated: true}, err
}

func (s *server) endpointTest(q *req) (string, any, error) {
	_ = q.r.ParseForm()
	body := map[string]any{}
	if t := q.r.PostFormValue("event_type"); t != "" {
		body["event_type"] = t
	}
	if p := strings.TrimSpace(q.r.PostFormValue("payload")); p != "" {
		if !json.Valid([]byte(p)) {
			return s.endpointPage(q, "The test payload is not valid JSON.")
		}
		body["payload"] = json.RawMessage(p)
	}
	var ev event
	err := q.c.call(q.r.Context(), http.MethodPost, q.api+"/endpoints/"+url.PathEscape(q.r.PathValue("ep"))+"/test", nil, body, &ev)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity {
		return s.endpointPage(q, "Test event refused: "+ae.Message)
	}
	if err != nil {
		return "", nil, err
	}
	q.r.SetPathValue("id", ev.ID)
	q.push = q.base + "/events/" + url.PathEscape(ev.ID)
	return s.eventShow(q)
}

func (s *server) endpointRecover(q *req) (string, any, error) {
	_ = q.r.ParseForm()
	since, err := time.Parse("2006-01-02T15:04", q.r.PostFormValue("since"))
	if err != nil {
		return s.endpointPage(q, "Choose the time to recover from.")
	}
	var out struct {
		Replayed int `json:"replayed"`
	}
	err = q.c.call(q.r.Context(), http.MethodPost, q.api+"/endpoints/"+url.PathEscape(q.r.PathValue("ep"))+"/recover", nil,
		map[string]any{"since": since.UTC()}, &out)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity {
		return s.endpointPage(q, "Recover refused: "+ae.Message)
	}
	if err != nil {
		return "", nil, err
	}
	return s.endpointPage(q, fmt.Sprintf("%d failed deliveries since %s are being delivered again.", out.Replayed, since.Format("2006-01-02 15:04Z")))
}
