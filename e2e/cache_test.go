package e2e_test

import (
	"testing"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway/gatewaytest"
)

// TestSessionCacheAcrossReplicas: on Redis each replica answers a session
// it has seen from its cache (no store round trip), and a logout on
// another replica reaches it through the invalidation channel: the
// session is refused there too.
func TestSessionCacheAcrossReplicas(t *testing.T) {
	a := gatewaytest.Start(t, gatewaytest.Options{Store: "redis"})
	b := gatewaytest.StartReplica(t, a)
	for _, tg := range []*gatewaytest.Gateway{a, b} {
		dialecttest.WaitFor(t, "the invalidation subscription", func() bool {
			return gatewaytest.MetricValue(tg.MetricsText(t), "authgate_session_cache_subscription_up") == 1
		})
	}
	p := a.Login(t)
	h := map[string]string{"x-mmm-accesstoken": p.Access}
	for range 3 {
		if r, seen := a.Echo(t, "/v1/x", h); seen == nil {
			t.Fatalf("a: %s", r.Raw)
		}
	}
	m := a.MetricsText(t)
	if hits := gatewaytest.MetricValue(m, "authgate_session_cache_hits_total"); hits < 2 {
		t.Fatalf("cache hits = %v after three requests with one token", hits)
	}
	if r := b.Do(t, "POST", "/v1/auth/logout", h, ""); r.Code(t) != "00000" {
		t.Fatal(r.Raw)
	}
	dialecttest.WaitFor(t, "replica a to refuse the session ended on b", func() bool {
		r, _ := a.Echo(t, "/v1/x", h)
		return r.Body["code"] == "10014"
	})
	if n := gatewaytest.MetricValue(a.MetricsText(t), "authgate_session_cache_invalidations_total"); n < 1 {
		t.Fatalf("invalidations received = %v", n)
	}
	// The dashboard reads what a Redis replica exports.
	gatewaytest.CheckDashboard(t, a.MetricsText(t), "authgate_session_cache_", "authgate_config_")
}
