package deploy_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestDashboardLinksTraces: the request latency panel asks Prometheus
// for the histogram's exemplars, so a slow bucket's point opens its trace
// (docs/tracing.md: the data source's exemplar link to Jaeger or Tempo).
func TestDashboardLinksTraces(t *testing.T) {
	raw, err := os.ReadFile("grafana/authgate-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct {
				Expr     string
				Exemplar bool
			}
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	found := false
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if strings.Contains(tg.Expr, "histogram_quantile(0.99") && strings.Contains(tg.Expr, "authgate_http_request_duration_seconds_bucket") {
				found = tg.Exemplar
			}
		}
	}
	if !found {
		t.Fatal("the p99 request latency target does not show exemplars")
	}
}
