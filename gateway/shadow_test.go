package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/internal/legacytest"
)

// metricsText scrapes the gateway's /metrics.
func (tg *testGateway) metricsText(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(tg.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// waitMetric waits until the gateway's metrics hold line (shadow verdicts
// are counted off the request path).
func (tg *testGateway) waitMetric(t testing.TB, line string) {
	t.Helper()
	dialecttest.WaitFor(t, line, func() bool { return strings.Contains(tg.metricsText(t), line) })
}

// storeWrites lists the store operations the gateway ran that write (every
// operation but the reads), from its own store metrics.
func storeWrites(metrics string) []string {
	reads := map[string]bool{"check_session": true, "session": true, "account": true, "seat_state": true, "ping": true}
	var writes []string
	for _, m := range regexp.MustCompile(`authgate_store_operation_duration_seconds_count\{op="([a-z_]+)"`).FindAllStringSubmatch(metrics, -1) {
		if !reads[m[1]] {
			writes = append(writes, m[1])
		}
	}
	return writes
}

// redisKeys counts the keys under a test's prefix.
func redisKeys(t testing.TB, prefix string) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: redisAddr()})
	defer c.Close()
	keys, err := c.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

const legacyBlock = `    legacy:
      secrets:
        - secret: ` + legacytest.Secret + `
      kind:
        refresh_lifetime: 24h
`

// TestShadowMode: in front of the legacy mmm service in shadow mode, every
// request reaches it exactly as sent (auth endpoints included), the
// gateway's verdicts are counted against the legacy answers (agreements
// and a disagreement, which is logged without a token), and the store is
// never written.
func TestShadowMode(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		clk := newClock()
		legacy := legacytest.Start(t, clk.Now)
		tg := startGateway(t, gwOptions{store: store, clock: clk, mmm: legacyBlock, routes: `routes:
  - name: all
    path_prefix: /
    dialects: [mmm]
    mode: shadow
    upstream: ` + legacy.URL + `
`})
		// Login is the legacy service's: the gateway's endpoint is not
		// mounted on a shadowed dialect.
		r := tg.do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"x"}`)
		if r.status != 200 || r.code(t) != "00000" {
			t.Fatalf("login through the shadow route: %d %s", r.status, r.raw)
		}
		p := readPair(t, r)
		if last := legacy.Seen()[len(legacy.Seen())-1]; last.URL.Path != "/auth/login" {
			t.Fatalf("the login did not reach the legacy service (it saw %s)", last.URL.Path)
		}

		// A protected request goes through unchanged: the token, the
		// client's own X-Auth-* and no identity header of the gateway's.
		r = tg.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access, "X-Auth-User-Id": "client-said"}, "")
		if r.code(t) != "00000" {
			t.Fatalf("legacy answer through shadow: %s", r.raw)
		}
		seen := legacy.Seen()[len(legacy.Seen())-1]
		if seen.Header.Get("X-Mmm-Accesstoken") != p.Access || seen.Header.Get("X-Auth-User-Id") != "client-said" ||
			seen.Header.Get("X-Auth-Dialect") != "" || seen.Header.Get("X-Auth-Session-Id") != "" {
			t.Fatalf("the shadow route changed the request: %v", seen.Header)
		}
		tg.waitMetric(t, `authgate_shadow_verdicts_total{dialect="mmm",gateway="allow",route="all",upstream="00000"} 1`)

		// A forged token: both refuse.
		tg.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": forge(t, "not-the-legacy-secret")}, "")
		tg.waitMetric(t, `authgate_shadow_verdicts_total{dialect="mmm",gateway="bad_signature",route="all",upstream="10013"} 1`)

		// The access token expires: the legacy service answers 10026, the
		// gateway would have too, and rotates nothing.
		clk.Advance(31 * time.Minute)
		r = tg.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access, "x-mmm-refreshtoken": p.Refresh}, "")
		if r.code(t) != "10026" {
			t.Fatalf("expired access token through shadow: %s", r.raw)
		}
		tg.waitMetric(t, `authgate_shadow_verdicts_total{dialect="mmm",gateway="refreshed",route="all",upstream="10026"} 1`)

		// A route the legacy service left open: the gateway would refuse
		// it, a disagreement, logged without the token.
		tg.do(t, "GET", "/v1/open/x", map[string]string{"x-mmm-accesstoken": "garbage-token-value"}, "")
		tg.waitMetric(t, `authgate_shadow_agreement_total{dialect="mmm",result="disagree",route="all"} 1`)
		m := tg.metricsText(t)
		if !strings.Contains(m, `authgate_shadow_agreement_total{dialect="mmm",result="agree",route="all"} 3`) {
			t.Errorf("agreements not counted:\n%s", grepLines(m, "authgate_shadow"))
		}
		logs := tg.logs.String()
		if !strings.Contains(logs, `"msg":"shadow disagreement"`) || !strings.Contains(logs, `"reason":"malformed"`) {
			t.Errorf("no disagreement line with its reason in\n%s", logs)
		}
		for _, secret := range []string{p.Access, p.Refresh, "garbage-token-value"} {
			if strings.Contains(logs, secret) {
				t.Fatal("a token reached the log")
			}
		}

		// Nothing was written: no write operation ran, and on Redis no
		// key exists under the gateway's prefix.
		if w := storeWrites(m); len(w) > 0 {
			t.Errorf("shadow mode wrote to the store: %v", w)
		}
		if store == "redis" {
			if n := redisKeys(t, tg.opts.prefix); n != 0 {
				t.Errorf("%d keys in Redis after shadow traffic; want none", n)
			}
		}
		// The dashboard's migration row reads what this gateway exports.
		checkDashboard(t, tg.metricsText(t), "authgate_shadow_", "authgate_legacy_")
	})
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// forge is a legacy-shaped mmm token signed with another secret.
func forge(t testing.TB, secret string) string {
	return legacytest.Forge(t, secret, time.Now().Add(time.Hour))
}

// checkDashboard checks every query of the shipped Grafana dashboard that
// reads a metric starting with one of prefixes against a scrape of the
// gateway: the metric exists, and so does every label the query groups
// by or matches on (but instance and job, Prometheus' own).
func checkDashboard(t *testing.T, scrape string, prefixes ...string) {
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
