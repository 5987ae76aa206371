package metrics_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/herald-hq/herald/metrics"
)

// TestDashboardQueriesExportedMetrics fails when the Grafana dashboard
// queries a herald_ metric that Herald does not export (a rename would
// leave a panel silently empty).
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana/herald.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	m := metrics.New(func(context.Context) (map[string]int, error) { return map[string]int{"ep_1": 1}, nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.EventAccepted("t")
	m.DeliveryFinished("succeeded")
	m.Attempt(200, 0)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	exported := rec.Body.String()

	name := regexp.MustCompile(`herald_[a-z_]+`)
	queried := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				queried++
				base := strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count")
				if !strings.Contains(exported, "\n"+base) && !strings.HasPrefix(exported, base) {
					t.Errorf("panel %q queries %s, which /metrics does not export", p.Title, n)
				}
			}
		}
	}
	if queried < 5 {
		t.Fatalf("only %d herald_ metrics queried", queried)
	}
}
