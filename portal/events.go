package portal

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/herald-hq/herald/internal/jsonexample"
	"github.com/herald-hq/herald/schemas"
)

type eventType struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
}

// HasSchema reports whether the type constrains its payload.
func (t eventType) HasSchema() bool { return len(t.Schema) > 0 && string(t.Schema) != "null" }

// Example is the schema's example payload, or one made from it.
func (t eventType) Example() json.RawMessage { return jsonexample.FromSchema(t.Schema) }

// field is one property of a schema, as the catalog lists it.
type field struct {
	Name, Type, Description string
	Required                bool
	Depth                   int
}

// Fields lists the schema's properties (nested objects indented), so a
// customer can read a schema without reading JSON Schema.
func (t eventType) Fields() []field {
	var s map[string]any
	if json.Unmarshal(t.Schema, &s) != nil {
		return nil
	}
	var out []field
	var walk func(s map[string]any, prefix string, depth int)
	walk = func(s map[string]any, prefix string, depth int) {
		props, _ := s["properties"].(map[string]any)
		req := map[string]bool{}
		if list, ok := s["required"].([]any); ok {
			for _, r := range list {
				if name, ok := r.(string); ok {
					req[name] = true
				}
			}
		}
		names := make([]string, 0, len(props))
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p, _ := props[n].(map[string]any)
			f := field{Name: prefix + n, Required: req[n], Depth: depth, Type: typeName(p)}
			f.Description, _ = p["description"].(string)
			out = append(out, f)
			if depth < 4 {
				walk(p, prefix+n+".", depth+1)
				if items, ok := p["items"].(map[string]any); ok {
					walk(items, prefix+n+"[].", depth+1)
				}
			}
		}
	}
	walk(s, "", 0)
	return out
}

func typeName(p map[string]any) string {
	var parts []string
	switch t := p["type"].(type) {
	case string:
		parts = append(parts, t)
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				parts = append(parts, s)
			}
		}
	}
	name := strings.Join(parts, " or ")
	if items, ok := p["items"].(map[string]any); ok && name == "array" {
		name = "array of " + typeName(items)
	}
	if f, ok := p["format"].(string); ok {
		name += " (" + f + ")"
	}
	if enum, ok := p["enum"].([]any); ok {
		raw, _ := json.Marshal(enum)
		name += " one of " + string(raw)
	}
	if name == "" {
		name = "any"
	}
	return name
}

func (s *server) catalog(q *req) (string, any, error) {
	types, err := s.eventTypes(q)
	return "catalog", types, err
}

type attempt struct {
	Attempt        int       `json:"attempt"`
	StartedAt      time.Time `json:"started_at"`
	DurationMS     int64     `json:"duration_ms"`
	ResponseStatus int       `json:"response_status"`
	Error          string    `json:"error"`
	ResponseBody   string    `json:"response_body"`
}

type delivery struct {
	EndpointID    string     `json:"endpoint_id"`
	Status        string     `json:"status"`
	Attempts      []attempt  `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

type event struct {
	ID         string          `json:"id"`
	EventType  string          `json:"event_type"`
	Payload    json.RawMessage `json:"payload"`
	CreatedAt  time.Time       `json:"created_at"`
	Status     string          `json:"status"`
	Deliveries []delivery      `json:"deliveries"`
}

// eventsPage is the filtered list with what the filters offer.
type eventsPage struct {
	Events    []event
	Next      string
	Filter    url.Values
	Types     []eventType
	Endpoints []endpoint
	Statuses  []string
}

// NextQuery is the address of the next page, with the same filters.
func (p eventsPage) NextQuery() string {
	v := url.Values{}
	for k, vs := range p.Filter {
		v[k] = vs
	}
	v.Set("cursor", p.Next)
	return v.Encode()
}

func (s *server) eventList(q *req) (string, any, error) {
	in := q.r.URL.Query()
	p := eventsPage{Filter: url.Values{}}
	for _, st := range schemas.EventStatuses() {
		p.Statuses = append(p.Statuses, string(st))
	}
	api := url.Values{"limit": {"50"}}
	for _, k := range []string{"status", "event_type", "endpoint_id", "since", "until", "cursor"} {
		v := strings.TrimSpace(in.Get(k))
		if v == "" {
			continue
		}
		if k != "cursor" {
			p.Filter.Set(k, v)
		}
		if k == "since" || k == "until" {
			// datetime-local inputs give minutes, in UTC as the form says.
			if t, err := time.Parse("2006-01-02T15:04", v); err == nil {
				v = t.UTC().Format(time.RFC3339)
			}
		}
		api.Set(k, v)
	}
	var evs listOf[event]
	if err := q.c.call(q.r.Context(), http.MethodGet, q.api+"/events", api, nil, &evs); err != nil {
		return "", nil, err
	}
	p.Events, p.Next = evs.Data, evs.NextCursor
	var err error
	if p.Types, err = s.eventTypes(q); err != nil {
		return "", nil, err
	}
	var eps listOf[endpoint]
	err = q.c.call(q.r.Context(), http.MethodGet, q.api+"/endpoints", url.Values{"limit": {"250"}}, nil, &eps)
	p.Endpoints = eps.Data
	return "events", p, err
}

type eventPage struct {
	Event event
	Note  string
}

func (s *server) eventShow(q *req) (string, any, error) {
	var ev event
	err := q.c.call(q.r.Context(), http.MethodGet, q.api+"/events/"+url.PathEscape(q.r.PathValue("id")), nil, nil, &ev)
	return "event", eventPage{Event: ev}, err
}

func (s *server) eventReplay(q *req) (string, any, error) {
	_ = q.r.ParseForm()
	body := map[string]any{}
	if ep := q.r.PostFormValue("endpoint_id"); ep != "" {
		body["endpoint_id"] = ep
	}
	var ev event
	err := q.c.call(q.r.Context(), http.MethodPost, q.api+"/events/"+url.PathEscape(q.r.PathValue("id"))+"/replay", nil, body, &ev)
	q.push = q.base + "/events/" + url.PathEscape(q.r.PathValue("id"))
	return "event", eventPage{Event: ev, Note: "Replay started: the event is being delivered again."}, err
}

// statsView is the stats route's answer and the chart's series.
type statsView struct {
	Counts   map[string]int   `json:"counts"`
	Attempts map[string]int   `json:"attempts"`
	Latency  map[string]int64 `json:"latency_ms"`
	Buckets  []struct {
		Start     time.Time `json:"start"`
		Succeeded int       `json:"succeeded"`
		Failed    int       `json:"failed"`
		Attempts  int       `json:"attempts"`
		P50       int64     `json:"latency_p50_ms"`
		P95       int64     `json:"latency_p95_ms"`
	} `json:"buckets"`
}

// Series is the chart data, read by portal.js from a data attribute.
func (v statsView) Series() string {
	var x []int64
	var ok, failed, p50, p95 []any
	for _, b := range v.Buckets {
		x = append(x, b.Start.Unix())
		ok = append(ok, b.Succeeded)
		failed = append(failed, b.Failed)
		if b.Attempts == 0 {
			p50, p95 = append(p50, nil), append(p95, nil)
		} else {
			p50, p95 = append(p50, b.P50), append(p95, b.P95)
		}
	}
	raw, _ := json.Marshal(map[string]any{"x": x, "succeeded": ok, "failed": failed, "p50": p50, "p95": p95})
	return string(raw)
}

// SuccessRate is the share of final deliveries that succeeded, in percent, or -1.
func (v statsView) SuccessRate() int {
	n := v.Counts["succeeded"] + v.Counts["failed"]
	if n == 0 {
		return -1
	}
	return v.Counts["succeeded"] * 100 / n
}

func (s *server) endpointStats(q *req) (string, any, error) {
	var st statsView
	err := q.c.call(q.r.Context(), http.MethodGet, q.api+"/endpoints/"+url.PathEscape(q.r.PathValue("ep"))+"/stats", nil, nil, &st)
	return "stats", st, err
}
