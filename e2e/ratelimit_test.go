package e2e_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/gateway/gatewaytest"
)

// TestRateLimitAcrossReplicas: a route limited to a burst of 10 per
// subject (rate 5/s) admits exactly 10 of 60 concurrent requests of one
// subject spread over three replicas sharing one Redis (memory: one
// gateway, exact too); the rest are answered 429 with Retry-After in the
// dialect's envelope and counted; over five more windows exactly 50 pass;
// a public route limited by a header gives each value its own budget.
func TestRateLimitAcrossReplicas(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		clk := gatewaytest.NewClock()
		tg := gatewaytest.Start(t, gatewaytest.Options{Store: store, Clock: clk, Routes: `routes:
  - path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
    rate_limit: {rate: 5, burst: 10}
  - path_prefix: /open/
    public: true
    upstream: echo
    rate_limit: {rate: 1, burst: 2, key: "header:X-Api-Key"}
`})
		replicas := []*gatewaytest.Gateway{tg}
		if store == "redis" {
			replicas = append(replicas, gatewaytest.StartReplica(t, tg), gatewaytest.StartReplica(t, tg))
		}
		p := tg.Login(t)
		var admitted, limited atomic.Int64
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := replicas[i%len(replicas)].Do(t, "GET", "/v1/x", map[string]string{"x-mmm-accesstoken": p.Access}, "")
				switch {
				case r.Status == 200:
					admitted.Add(1)
				case r.Status == 429 && r.Code(t) == "10029" && r.Header.Get("Retry-After") != "":
					limited.Add(1)
				default:
					t.Errorf("%d %s", r.Status, r.Raw)
				}
			}()
		}
		wg.Wait()
		if admitted.Load() != 10 || limited.Load() != 50 {
			t.Fatalf("%d admitted, %d limited over %d replicas; want exactly 10 and 50", admitted.Load(), limited.Load(), len(replicas))
		}
		if r := tg.Do(t, "GET", "/v1/x", map[string]string{"x-mmm-accesstoken": p.Access}, ""); r.Status != 429 {
			t.Fatalf("within the window: %d", r.Status)
		}
		if v := gatewaytest.MetricValue(tg.MetricsText(t), `authgate_http_limit_refusals_total{limit="route_rate_limit"}`); v < 1 {
			t.Errorf("limit refusals not counted: %v", v)
		}
		// Sustained: five more windows of 30 concurrent requests each over
		// the replicas admit exactly 5 × 10.
		admitted.Store(0)
		for range 5 {
			clk.Advance(2*time.Second + time.Millisecond)
			for i := range 30 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if r := replicas[i%len(replicas)].Do(t, "GET", "/v1/x", map[string]string{"x-mmm-accesstoken": p.Access}, ""); r.Status == 200 {
						admitted.Add(1)
					}
				}()
			}
			wg.Wait()
		}
		if admitted.Load() != 50 {
			t.Fatalf("%d admitted over five windows, want exactly 50", admitted.Load())
		}

		// A public route limited by a header's value: each key its own
		// budget, plain JSON 429 without a dialect.
		for key, want := range map[string][]int{"a": {200, 200, 429}, "b": {200, 200, 429}} {
			for n, status := range want {
				if r := tg.Do(t, "GET", "/open/x", map[string]string{"X-Api-Key": key}, ""); r.Status != status {
					t.Errorf("key %s request %d: %d, want %d", key, n, r.Status, status)
				}
			}
		}
	})
}

// TestRateLimitByApp: an appkey route limited per app answers Spring's
// 429 with a message of its own (not the failed-login one) and
// Retry-After.
func TestRateLimitByApp(t *testing.T) {
	e := gatewaytest.StartAppkeyRoutes(t, "memory", "", gatewaytest.DefaultRoutes+`  - path_prefix: /api/
    dialects: [appkey]
    upstream: echo
    rate_limit: {rate: 1, burst: 1, key: app_id}
`)
	access, _ := e.Login(t, "app-1")
	if r, _ := e.Echo(t, "/api/x", gatewaytest.Bearer(access)); r.Status != 200 {
		t.Fatalf("first call: %d %s", r.Status, r.Raw)
	}
	r, _ := e.Echo(t, "/api/x", gatewaytest.Bearer(access))
	if r.Status != 429 || r.Body["error"] != "Too Many Requests" || r.Body["message"] != "Too many requests; try again later" || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("second call: %d %v %s", r.Status, r.Header, r.Raw)
	}
}
