package e2e_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway/gatewaytest"
)

func TestMMMProtectedRouteSetsIdentityAndStripsSpoofing(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		tg := gatewaytest.Start(t, gatewaytest.Options{Store: store})
		p := tg.Login(t)
		r, seen := tg.Echo(t, "/v1/orders?page=2", map[string]string{
			"x-mmm-accesstoken":  p.Access,
			"x-mmm-refreshtoken": p.Refresh,
			"X-Auth-User-Id":     "1",
			"x-auth-company-id":  "999",
			"X_Auth_User_Id":     "1",
			"X-Auth-Admin":       "true",
			"X-Auth-Dialect":     "none",
		})
		if seen == nil {
			t.Fatalf("protected call: %d %s", r.Status, r.Raw)
		}
		want := map[string]string{"X-Auth-User-Id": "10", "X-Auth-Company-Id": "1", "X-Auth-Dialect": "mmm"}
		for k, v := range want {
			if got := seen[k]; len(got) != 1 || got[0] != v {
				t.Errorf("upstream %s = %v, want exactly [%s]", k, got, v)
			}
		}
		if sid := seen["X-Auth-Session-Id"]; len(sid) != 1 || sid[0] != dialecttest.Claims(t, p.Access)["sid"] {
			t.Errorf("X-Auth-Session-Id = %v", sid)
		}
		for k := range seen {
			lk := strings.ToLower(k)
			if strings.HasPrefix(lk, "x_auth") || lk == "x-auth-admin" || strings.HasPrefix(lk, "x-mmm") {
				t.Errorf("upstream received client header %s: %v", k, seen[k])
			}
		}
		if seen[":path"][0] != "/v1/orders" {
			t.Errorf("upstream path %v", seen[":path"])
		}
	})
}

func TestMMMConcurrentRefreshAcrossReplicas(t *testing.T) {
	clk := gatewaytest.NewClock()
	a := gatewaytest.Start(t, gatewaytest.Options{Store: "redis", Clock: clk})
	b := gatewaytest.StartReplica(t, a)
	p := a.Login(t)
	// A session made on one replica is honoured on the other.
	if r, seen := b.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p.Access}); seen == nil {
		t.Fatalf("replica b refused replica a's token: %s", r.Raw)
	}
	const n = 12
	pairs := make([]gatewaytest.Pair, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tg := a
			if i%2 == 1 {
				tg = b
			}
			r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
			if c, _ := r.Body["code"].(string); c != "00000" {
				t.Errorf("client %d: %s", i, r.Raw)
				return
			}
			pairs[i] = gatewaytest.ReadPair(t, r)
		}()
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if pairs[i] != pairs[0] {
			t.Fatalf("client %d got another pair than client 0", i)
		}
	}
	if _, seen := a.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": pairs[0].Access}); seen == nil {
		t.Fatal("the winning pair does not work")
	}
	// Revoking on one replica reaches the other (its session cache hears
	// the invalidation).
	if r := b.Do(t, "POST", "/v1/auth/logout", map[string]string{"x-mmm-accesstoken": pairs[0].Access}, ""); r.Code(t) != "00000" {
		t.Fatal(r.Raw)
	}
	dialecttest.WaitFor(t, "replica a to refuse the session ended on b", func() bool {
		r, _ := a.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": pairs[0].Access})
		return r.Body["code"] == "10014"
	})
}

func TestAccessLogHoldsNoSecrets(t *testing.T) {
	tg := gatewaytest.Start(t, gatewaytest.Options{})
	p := tg.Login(t)
	tg.Echo(t, "/v1/orders?token=secret-query", map[string]string{"x-mmm-accesstoken": p.Access})
	tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
	logs := tg.Logs.String()
	for _, secret := range []string{p.Access, p.Refresh, "demo123", "secret-query", gatewaytest.TestSecret} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log contains a secret %q", secret[:min(len(secret), 12)])
		}
	}
	var lines int
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		if entry["msg"] == "request" {
			lines++
			for _, k := range []string{"request_id", "route", "dialect", "subject", "status", "duration_ms"} {
				if _, ok := entry[k]; !ok {
					t.Errorf("access log lacks %s: %s", k, line)
				}
			}
		}
	}
	if lines != 3 {
		t.Fatalf("%d access log lines, want 3", lines)
	}
	if !strings.Contains(logs, `"route":"mmm-api","dialect":"mmm","subject":"10"`) {
		t.Fatalf("protected request not logged with route, dialect and subject:\n%s", logs)
	}
}

func TestMetricsExposed(t *testing.T) {
	tg := gatewaytest.Start(t, gatewaytest.Options{})
	p := tg.Login(t)
	tg.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access})
	tg.Echo(t, "/v1/orders", nil)
	if r, err := tg.Admin.Client().Get(tg.Admin.URL + "/readyz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("readyz: %v", err)
	}
	r, err := tg.Admin.Client().Get(tg.Admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	body := sb.String()
	for _, want := range []string{
		`authgate_http_requests_total{code="200",dialect="mmm",route="mmm-api"} 2`,
		`authgate_auth_decisions_total{dialect="mmm",result="ok"} 1`,
		`authgate_auth_decisions_total{dialect="mmm",result="missing"} 1`,
		`authgate_tokens_issued_total{dialect="mmm",reason="login"} 1`,
		`authgate_upstream_request_duration_seconds_count{route="mmm-api"} 1`,
		`authgate_store_operation_duration_seconds_count{op="create_session",store="memory"} 1`,
		`authgate_http_request_duration_seconds_bucket{route="auth:mmm"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, p.Access) {
		t.Fatal("a token reached the metrics")
	}
	if strings.Contains(body, `authgate_store_operation_duration_seconds_count{op="ping"`) {
		t.Error("readiness pings are in the store latency histogram")
	}
	// The slowest answer (a 504 after the 30s default timeout) has a bucket.
	if !strings.Contains(body, `authgate_http_request_duration_seconds_bucket{route="mmm-api",le="30"}`) {
		t.Error("the latency histogram stops short of the route timeout")
	}
}
