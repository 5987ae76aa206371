package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// req is one fragment request: who asks, for which app.
type req struct {
	r        *http.Request
	c        client
	app      string
	base     string // /portal/apps/{app}
	api      string // /v1/apps/{app}
	readOnly bool
	// push, when set, is the address the browser shows for the answer.
	push string
}

// handler answers a fragment request with a template and its data.
type handler func(q *req) (tmpl string, data any, err error)

// view is what every fragment template gets.
type view struct {
	App      string
	Base     string
	ReadOnly bool
	Data     any
}

func (s *server) routes(mux *http.ServeMux) {
	app := "/portal/apps/{app}"
	for pattern, h := range map[string]handler{
		"GET " + app + "/{$}":                           s.endpointList,
		"GET " + app + "/endpoints":                     s.endpointList,
		"GET " + app + "/endpoints/new":                 s.endpointNew,
		"POST " + app + "/endpoints":                    s.endpointCreate,
		"GET " + app + "/endpoints/{ep}":                s.endpointShow,
		"GET " + app + "/endpoints/{ep}/edit":           s.endpointEdit,
		"POST " + app + "/endpoints/{ep}":               s.endpointUpdate,
		"POST " + app + "/endpoints/{ep}/toggle":        s.endpointToggle,
		"POST " + app + "/endpoints/{ep}/delete":        s.endpointDelete,
		"GET " + app + "/endpoints/{ep}/secret":         s.secretReveal,
		"POST " + app + "/endpoints/{ep}/secret/rotate": s.secretRotate,
		"POST " + app + "/endpoints/{ep}/test":          s.endpointTest,
		"POST " + app + "/endpoints/{ep}/recover":       s.endpointRecover,
		"GET " + app + "/endpoints/{ep}/stats":          s.endpointStats,
		"GET " + app + "/event-types":                   s.catalog,
		"GET " + app + "/events":                        s.eventList,
		"GET " + app + "/events/{id}":                   s.eventShow,
		"POST " + app + "/events/{id}/replay":           s.eventReplay,
	} {
		mux.HandleFunc(pattern, s.serve(h))
	}
	mux.HandleFunc("GET "+app, s.serve(s.endpointList))
}

// serve answers a page load with the shell, and an htmx request with the
// fragment h renders.
func (s *server) serve(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		appID := r.PathValue("app")
		if r.Header.Get("HX-Request") != "true" {
			if r.Method != http.MethodGet {
				s.fail(w, nil, &apiError{Status: http.StatusBadRequest, Code: "bad_request",
					Message: "the portal's actions are sent by its own page"})
				return
			}
			_ = s.tmpl.ExecuteTemplate(w, "shell", shellData{App: appID})
			return
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			s.fail(w, nil, &apiError{Status: http.StatusUnauthorized, Code: "unauthorized",
				Message: "this page needs the token of a portal link"})
			return
		}
		q := &req{r: r, c: client{api: s.API, token: token}, app: appID,
			base: "/portal/apps/" + url.PathEscape(appID), api: "/v1/apps/" + url.PathEscape(appID)}
		var self struct {
			ReadOnly bool `json:"read_only"`
		}
		var ae *apiError
		// The operator's own token (no portal grant) has no self: it may do everything.
		if err := q.c.call(r.Context(), http.MethodGet, q.api+"/portal-links/self", nil, nil, &self); err != nil &&
			!(errors.As(err, &ae) && ae.Code == "not_a_portal_token") {
			s.fail(w, q, err)
			return
		}
		q.readOnly = self.ReadOnly
		if r.Method != http.MethodGet && q.readOnly {
			s.fail(w, q, &apiError{Status: http.StatusForbidden, Code: "forbidden", Message: "this portal link is read-only"})
			return
		}
		name, data, err := h(q)
		if err != nil {
			s.fail(w, q, err)
			return
		}
		switch {
		case q.push != "":
			w.Header().Set("HX-Push-Url", q.push)
		case r.Method != http.MethodGet:
			// An action's own address is no page to come back to.
			w.Header().Set("HX-Push-Url", "false")
		}
		var buf bytes.Buffer
		if err := s.tmpl.ExecuteTemplate(&buf, name, view{App: appID, Base: q.base, ReadOnly: q.readOnly, Data: data}); err != nil {
			s.Logger.Error("portal template", "template", name, "err", err)
			s.fail(w, q, err)
			return
		}
		_, _ = buf.WriteTo(w)
	}
}

// fail renders an error fragment with the API's status.
func (s *server) fail(w http.ResponseWriter, q *req, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.Logger.Error("portal request failed", "err", err)
		ae = &apiError{Status: http.StatusInternalServerError, Code: "internal_error", Message: "something went wrong"}
	}
	w.Header().Set("HX-Retarget", "#main")
	w.Header().Set("HX-Reswap", "innerHTML")
	w.WriteHeader(ae.Status)
	v := view{Data: ae}
	if q != nil {
		v.App, v.Base = q.app, q.base
	}
	_ = s.tmpl.ExecuteTemplate(w, "error", v)
}

var funcs = template.FuncMap{
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04:05Z")
		case *time.Time:
			if v == nil {
				return ""
			}
			return v.UTC().Format("2006-01-02 15:04:05Z")
		}
		return ""
	},
	"pretty": func(raw json.RawMessage) string {
		var b bytes.Buffer
		if len(raw) == 0 || json.Indent(&b, raw, "", "  ") != nil {
			return string(raw)
		}
		return b.String()
	},
	"has": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
	"path": url.PathEscape,
}
