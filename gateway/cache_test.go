package gateway_test

import (
	"regexp"
	"strconv"
	"testing"

	"github.com/authgate/authgate/dialects/dialecttest"
)

// metricValue reads one series' value from a scrape (-1 when absent).
func metricValue(scrape, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestSessionCacheAcrossReplicas: on Redis each replica answers a session
// it has seen from its cache (no store round trip), and a logout on
// another replica reaches it through the invalidation channel: the
// session is refused there too.
func TestSessionCacheAcrossReplicas(t *testing.T) {
	a := startGateway(t, gwOptions{store: "redis"})
	b := startReplica(t, a)
	for _, tg := range []*testGateway{a, b} {
		dialecttest.WaitFor(t, "the invalidation subscription", func() bool {
			return metricValue(tg.metricsText(t), "authgate_session_cache_subscription_up") == 1
		})
	}
	p := a.login(t)
	h := map[string]string{"x-mmm-accesstoken": p.Access}
	for range 3 {
		if r, seen := a.echo(t, "/v1/x", h); seen == nil {
			t.Fatalf("a: %s", r.raw)
		}
	}
	m := a.metricsText(t)
	if hits := metricValue(m, "authgate_session_cache_hits_total"); hits < 2 {
		t.Fatalf("cache hits = %v after three requests with one token", hits)
	}
	if r := b.do(t, "POST", "/v1/auth/logout", h, ""); r.code(t) != "00000" {
		t.Fatal(r.raw)
	}
	dialecttest.WaitFor(t, "replica a to refuse the session ended on b", func() bool {
		r, _ := a.echo(t, "/v1/x", h)
		return r.body["code"] == "10014"
	})
	if n := metricValue(a.metricsText(t), "authgate_session_cache_invalidations_total"); n < 1 {
		t.Fatalf("invalidations received = %v", n)
	}
	// The dashboard reads what a Redis replica exports.
	checkDashboard(t, a.metricsText(t), "authgate_session_cache_", "authgate_config_")
}
