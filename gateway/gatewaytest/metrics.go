package gatewaytest

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/internal/legacytest"
)

// MetricValue reads one series' value from a scrape (-1 when absent).
func MetricValue(scrape, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// MetricsText scrapes the gateway's /metrics.
func (tg *Gateway) MetricsText(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(tg.Admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// WaitMetric waits until the gateway's metrics hold line (shadow verdicts
// are counted off the request path).
func (tg *Gateway) WaitMetric(t testing.TB, line string) {
	t.Helper()
	dialecttest.WaitFor(t, line, func() bool { return strings.Contains(tg.MetricsText(t), line) })
}

// LegacyBlock is an mmm legacy block: the fake legacy service's
// (internal/legacytest) signing key, refresh tokens told by a 24h
// lifetime; indented for a dialect block.
const LegacyBlock = `    legacy:
      secrets:
        - secret: ` + legacytest.Secret + `
      kind:
        refresh_lifetime: 24h
`

// GrepLines keeps the lines of s that hold substr.
func GrepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// CheckDashboard checks every query of the shipped Grafana dashboard that
// reads a metric starting with one of prefixes against a scrape of the
// gateway: the metric exists, and so does every label the query groups
// by or matches on (but instance and job, Prometheus' own).
func CheckDashboard(t *testing.T, scrape string, prefixes ...string) {
	t.Helper()
	raw, err := os.ReadFile("../deploy/grafana/authgate-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	metricRe := regexp.MustCompile(`(authgate_[a-z_]+)(\{([^}]*)\})?`)
	byRe := regexp.MustCompile(`by \(([^)]*)\)`)
	matcherRe := regexp.MustCompile(`([a-z_]+)=~?"`)
	checked := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, m := range metricRe.FindAllStringSubmatch(target.Expr, -1) {
				name := m[1]
				if !slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(name, pre) }) {
					continue
				}
				checked++
				var series []string
				for _, line := range strings.Split(scrape, "\n") {
					if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
						series = append(series, line)
					}
				}
				if len(series) == 0 {
					t.Errorf("panel %q: the gateway exports no %s", p.Title, name)
					continue
				}
				var labels []string
				for _, by := range byRe.FindAllStringSubmatch(target.Expr, -1) {
					for l := range strings.SplitSeq(by[1], ",") {
						labels = append(labels, strings.TrimSpace(l))
					}
				}
				for _, mm := range matcherRe.FindAllStringSubmatch(m[3], -1) {
					labels = append(labels, mm[1])
				}
				for _, l := range labels {
					if l == "instance" || l == "job" {
						continue // added by Prometheus to every series it scrapes
					}
					if !strings.Contains(series[0], l+`="`) {
						t.Errorf("panel %q: %s has no label %s (%s)", p.Title, name, l, series[0])
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Errorf("no dashboard query reads a metric starting with %v", prefixes)
	}
}

// Between is the part of s between start and end ("" without start).
func Between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}
