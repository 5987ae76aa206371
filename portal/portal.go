// Package portal is Herald's consumer portal: the pages an app's customer
// uses, embedded in the product that sends them webhooks, to manage their
// endpoints and see what was sent to them.
//
// It is server-rendered: html/template escapes everything a customer or a
// receiver controls, and htmx (vendored, like the uPlot chart library) swaps
// the rendered fragments in. Every asset is embedded in the binary. A page
// load without the HX-Request header gets the shell, which holds no data;
// the shell's script takes the portal link's token from the URL fragment and
// sends it as a bearer header on every fragment request. The portal answers
// fragments by calling Herald's own /v1 API in process with that token, so it
// can do exactly what the token may. No cookie is used, so a cross-site page
// cannot make a request that carries the token (no CSRF).
package portal

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Deps is what the portal needs.
type Deps struct {
	// API serves Herald's /v1 routes (the API's own handler, called in process).
	API http.Handler
	// FrameAncestors are the origins that may embed the portal in a frame;
	// none means it may not be framed.
	FrameAncestors []string
	Logger         *slog.Logger
}

type server struct {
	Deps
	tmpl *template.Template
	csp  string
}

// templates are parsed once: they are part of the binary, and a mistake in
// them fails every test of this package.
var templates = template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))

// New builds the portal's handler; it serves every path under /portal.
func New(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	tmpl := templates
	ancestors := "'none'"
	if len(d.FrameAncestors) > 0 {
		ancestors = strings.Join(d.FrameAncestors, " ")
	}
	s := &server{Deps: d, tmpl: tmpl,
		csp: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
			"form-action 'self'; base-uri 'none'; frame-ancestors " + ancestors}
	static, _ := fs.Sub(staticFS, "static") // "static" is embedded above
	mux := http.NewServeMux()
	mux.Handle("GET /portal/static/", http.StripPrefix("/portal/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /portal/{$}", s.noApp)
	mux.HandleFunc("GET /portal", s.noApp)
	s.routes(mux)
	return s.secure(mux)
}

// secure sets the headers every answer carries.
func (s *server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", s.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if len(s.FrameAncestors) == 0 {
			h.Set("X-Frame-Options", "DENY")
		}
		if strings.HasPrefix(r.URL.Path, "/portal/static/") {
			h.Set("Cache-Control", "public, max-age=3600")
		} else {
			h.Set("Cache-Control", "no-store")
			h.Set("Vary", "HX-Request, Authorization")
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) noApp(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	_ = s.tmpl.ExecuteTemplate(w, "shell", shellData{Missing: true})
}

type shellData struct {
	App     string
	Missing bool
}
