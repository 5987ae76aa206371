package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/herald-hq/herald/internal/longtest"
)

// dashboardPanel is what deploy/grafana/herald.json says about a panel.
type dashboardPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr   string `json:"expr"`
		Legend string `json:"legendFormat"`
	} `json:"targets"`
}

// quietSeries are the dashboard's series that a healthy run of HTTP
// endpoints leaves empty, and that is what their panels should show: they
// exist once a Temporal request or a workflow fails, or (regular
// activities) once a broker source consumes.
var quietSeries = []string{"temporal_request_failure_total", "temporal_workflow_failed_total",
	"temporal_activity_execution_latency_seconds"}

// TestDashboardAgainstARealRun scrapes a real `herald dev` under load with
// a real Prometheus and runs every query of the Grafana dashboard against
// it: each must parse, and each must return series (except quietSeries).
// metrics/dashboard_test.go checks the names Herald exports; this checks
// the queries themselves, the Temporal SDK's metrics included, and that the
// labels they sum by are there. With HERALD_DASHBOARD_SCREENSHOT=1 it saves
// the queries' graphs, drawn by Prometheus's own UI, to
// deploy/grafana/prometheus.png.
func TestDashboardAgainstARealRun(t *testing.T) {
	longtest.Require(t, "the Grafana dashboard's queries against a real Prometheus")
	promBin := debianTool(t, "prometheus", "prometheus", "the dashboard's test")
	panels := readDashboard(t)

	dev := startDev(t, t.TempDir(), map[string]string{
		"HERALD_RETRY_SCHEDULE":   "1s,2s",
		"HERALD_DELIVERY_TIMEOUT": "2s",
	})
	prom := startPrometheus(t, promBin, dev.env["HERALD_HTTP_ADDR"])

	f := newFixture(t, dev.api.withT(t), nil)
	mostly := newReceiver(t, func(n int, _ *http.Request) (int, http.Header, time.Duration) {
		if n%7 == 0 {
			return http.StatusInternalServerError, nil, 0
		}
		return http.StatusOK, nil, time.Duration(n%5) * 10 * time.Millisecond
	})
	failing := newReceiver(t, func(int, *http.Request) (int, http.Header, time.Duration) {
		return http.StatusServiceUnavailable, nil, 0
	})
	f.endpoint(t, map[string]any{"url": mostly.URL(), "ordered": false})
	f.endpoint(t, map[string]any{"url": failing.URL()}) // ordered: its lane queues behind a failing head

	// Load until every query that should have data has it: a rate needs
	// two scrapes inside its window after the first events.
	pending := map[string]string{} // expr -> panel title
	for _, p := range panels {
		for _, tg := range p.Targets {
			if !quiet(tg.Expr) {
				pending[tg.Expr] = p.Title
			}
		}
	}
	// A screenshot wants a few minutes of history to draw; the check
	// itself stops as soon as every panel has data.
	shoot := os.Getenv("HERALD_DASHBOARD_SCREENSHOT") == "1"
	loadUntil := time.Now()
	if shoot {
		loadUntil = loadUntil.Add(3 * time.Minute)
	}
	deadline := time.Now().Add(3 * time.Minute)
	sent := 0
	for len(pending) > 0 || time.Now().Before(loadUntil) {
		if len(pending) > 0 && time.Now().After(deadline) {
			for expr, title := range pending {
				t.Errorf("panel %q: no series after %d events: %s", title, sent, expr)
			}
			t.FailNow()
		}
		for range 10 {
			f.send(t, "", map[string]any{"n": sent})
			sent++
		}
		for expr := range pending {
			if len(prom.query(t, expr)) > 0 {
				delete(pending, expr)
			}
		}
		time.Sleep(500 * time.Millisecond) // pacing the load, not waiting for it
	}
	for _, p := range panels {
		for _, tg := range p.Targets {
			if quiet(tg.Expr) {
				prom.query(t, tg.Expr) // must still parse and run
			}
		}
	}
	t.Logf("every panel has data after %d events", sent)

	if shoot {
		prom.screenshot(t, panels, filepath.Join("..", "..", "deploy", "grafana", "prometheus.png"))
	}
}

func quiet(expr string) bool {
	for _, m := range quietSeries {
		if strings.Contains(expr, m) {
			return true
		}
	}
	return false
}

func readDashboard(t *testing.T) []dashboardPanel {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "herald.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("deploy/grafana/herald.json: %v", err)
	}
	return dash.Panels
}

// grafanaVariables stands in for what Grafana substitutes in a query: the
// job variable, and a rate interval of four scrapes (Grafana's minimum).
var grafanaVariables = strings.NewReplacer(`$job`, `herald`, `$__rate_interval`, `4s`)

// grafanaLegend turns a Grafana legend's {{label}} into the console
// graphs' [[label]].
var grafanaLegend = strings.NewReplacer("{{", "[[", "}}", "]]")

type prometheus struct {
	base     string
	consoles string // its console templates' directory
}

// startPrometheus runs Prometheus on a free port with its own storage,
// scraping Herald's /metrics every second as job "herald".
func startPrometheus(t *testing.T, bin, heraldAddr string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: herald
    static_configs:
      - targets: [%q]
`, heraldAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	out := &syncBuffer{}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn", "--web.console.templates="+filepath.Join(dir, "consoles"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	p := &prometheus{base: "http://" + addr, consoles: filepath.Join(dir, "consoles")}
	eventually(t, time.Minute, "prometheus ready", func() bool {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited: %v\n%s", err, out.String())
		default:
		}
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// query runs an instant query as Grafana would send the panel's and
// returns its series; a query Prometheus refuses fails the test.
func (p *prometheus) query(t *testing.T, expr string) []json.RawMessage {
	t.Helper()
	resp, err := http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(grafanaVariables.Replace(expr)))
	if err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %s", expr, r.Error)
	}
	return r.Data.Result
}

// screenshot lays the dashboard's panels out as a Prometheus console page,
// each panel's queries drawn by Prometheus's console graphs (Grafana itself
// cannot be installed here), and saves it as a PNG.
func (p *prometheus) screenshot(t *testing.T, panels []dashboardPanel, path string) {
	t.Helper()
	var page strings.Builder
	page.WriteString(consoleHead)
	drawn := 0
	for i, pn := range panels {
		var exprs, names []string
		for _, tg := range pn.Targets {
			exprs = append(exprs, grafanaVariables.Replace(tg.Expr))
			names = append(names, grafanaLegend.Replace(tg.Legend))
			if !quiet(tg.Expr) {
				drawn++
			}
		}
		js, err := json.Marshal(map[string]any{"expr": exprs, "name": names, "duration": 180,
			"width": 560, "height": 180, "renderer": "line"})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&page, `<div class="panel"><h2>%s</h2><div id="p%d"></div></div>
<script>new PromConsole.Graph(Object.assign({node: document.querySelector("#p%d")}, %s));</script>
`, html.EscapeString(pn.Title), i, i, js)
	}
	page.WriteString("</div></body></html>\n")
	if err := os.MkdirAll(p.consoles, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.consoles, "herald.html"), []byte(page.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, problems := browser(t)
	var png []byte
	err := chromedp.Run(ctx,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(p.base+"/consoles/herald.html"),
		chromedp.ActionFunc(func(ctx context.Context) error {
			// A graph draws once its queries answer.
			deadline := time.Now().Add(time.Minute)
			for {
				var n int
				if err := chromedp.Evaluate(`document.querySelectorAll(".panel svg").length`, &n).Do(ctx); err != nil {
					return err
				}
				if n >= drawn || time.Now().After(deadline) {
					return nil
				}
				time.Sleep(200 * time.Millisecond)
			}
		}),
		chromedp.FullScreenshot(&png, 100),
	)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if pr := problems(); len(pr) > 0 {
		t.Logf("browser reported: %v", pr)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// consoleHead loads Prometheus's console graph library (shipped with its
// classic UI) and lays panels out in two columns, as the dashboard does.
const consoleHead = `<!doctype html>
<html lang="en"><head>
<link rel="stylesheet" href="/classic/static/rickshaw/rickshaw.min.css">
<link rel="stylesheet" href="/classic/static/bootstrap4/css/bootstrap.min.css">
<link rel="stylesheet" href="/classic/static/css/prom_console.css">
<script src="/classic/static/d3/d3.min.js"></script>
<script src="/classic/static/rickshaw/rickshaw.min.js"></script>
<script src="/classic/static/jquery/jquery.min.js"></script>
<script>var PATH_PREFIX = "";</script>
<script src="/classic/static/js/prom_console.js"></script>
<style>
body { margin: 16px; font-family: sans-serif; }
.grid { display: grid; grid-template-columns: 620px 620px; gap: 12px; }
.panel { border: 1px solid #ddd; padding: 8px; }
.panel h2 { font-size: 15px; margin: 0 0 6px; }
</style></head><body>
<h1 style="font-size:20px">Herald (deploy/grafana/herald.json), a live herald dev under load</h1>
<div class="grid">
`
