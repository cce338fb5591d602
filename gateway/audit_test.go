package gateway_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/gateway/gatewaytest"

	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/gateway"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/sms/smstest"
)

// TestLoginsCountedAndAudited: every dialect's logins are counted by
// result, the failures too (an mmm wrong password answers 200), and each
// login, refresh and logout writes one audit line with who, from where,
// the result and the request id, never a secret.
func TestLoginsCountedAndAudited(t *testing.T) {
	svc := smstest.NewReceiver(t)
	e := gatewaytest.StartAppkeyRoutes(t, "memory", "  mobile:\n    type: mobile\n    secret: mobile-test-signing-key-0123456789abcdef\n"+svc.SenderYAML("    "), gatewaytest.DefaultRoutes)
	m := &gatewaytest.MobileEnv{Gateway: e.Gateway, SMS: svc}

	e.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"wrong-password"}`)
	p := e.Gateway.Login(t)
	e.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
	e.Do(t, "POST", "/api/base/token/login", nil, gatewaytest.AppLogin("app-1", "key-app-1", "wrong-secret", "APP_KEY"))
	e.Do(t, "POST", "/api/base/token/login", nil, gatewaytest.AppLogin("app-off", "key-app-off", "s3cret-app", "APP_KEY"))
	e.Login(t, "app-1")
	m.RequestCode(t, "13912340001")
	m.Do(t, "POST", "/auth/mobile/login", nil, gatewaytest.LoginBody("13912340001", "000000", 1))
	m.Login(t, "13912340002", "d1")

	resp, err := http.Get(e.Admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`authgate_logins_total{dialect="mmm",result="bad_credentials"} 1`,
		`authgate_logins_total{dialect="mmm",result="ok"} 1`,
		`authgate_logins_total{dialect="mmm",result="rate_limited"} 0`,
		`authgate_logins_total{dialect="appkey",result="bad_credentials"} 1`,
		`authgate_logins_total{dialect="appkey",result="disabled"} 1`,
		`authgate_logins_total{dialect="appkey",result="ok"} 1`,
		`authgate_logins_total{dialect="mobile",result="bad_credentials"} 1`,
		`authgate_logins_total{dialect="mobile",result="ok"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	var audits []map[string]any
	logs := e.Logs.String()
	for line := range strings.SplitSeq(strings.TrimSpace(logs), "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && entry["msg"] == "audit" {
			audits = append(audits, entry)
		}
	}
	find := func(event, dialect, result, subject string) {
		t.Helper()
		for _, a := range audits {
			if a["event"] == event && a["dialect"] == dialect && a["result"] == result && a["subject"] == subject {
				if a["client_ip"] != "127.0.0.1" || a["request_id"] == nil || a["request_id"] == "" {
					t.Errorf("audit line without client ip or request id: %v", a)
				}
				return
			}
		}
		t.Errorf("no audit line %s/%s/%s/%s in\n%s", event, dialect, result, subject, logs)
	}
	find("login", "mmm", "bad_credentials", "demo")
	find("login", "mmm", "ok", "10")
	find("refresh", "mmm", "ok", "10")
	find("login", "appkey", "bad_credentials", "app-1")
	find("login", "appkey", "disabled", "app-off")
	find("login", "appkey", "ok", "app-1")
	find("send_code", "mobile", "ok", "")
	find("login", "mobile", "bad_credentials", "13912340001")
	for _, secret := range []string{"wrong-password", "demo123", "wrong-secret", "s3cret-app", p.Access, p.Refresh} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret reached the log: %.12s", secret)
		}
	}
}

// TestPasswordChecksAreBounded: with every check slot taken, a login
// waits check_wait, then is answered as rate limited (429, Retry-After 1,
// counted as rate_limited) without running another check.
func TestPasswordChecksAreBounded(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var checks atomic.Int64
	// The harness writes the identity block; the limits come from the
	// environment, as an operator might set them.
	cfgPath := gatewaytest.WriteConfig(t, gatewaytest.Options{})
	cfg, err := config.Load(cfgPath, []string{"AUTHGATE_CFG__IDENTITY__MAX_CONCURRENT_CHECKS=1", "AUTHGATE_CFG__IDENTITY__CHECK_WAIT=20ms"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gatewaytest.Open(cfg, gateway.Options{Registry: builtin.Registry(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		VerifySecret: func(hash, secret string) (bool, error) {
			checks.Add(1)
			if secret == "slow" {
				entered <- struct{}{}
				<-release
			}
			return identity.VerifySecret(hash, secret)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tg := &gatewaytest.Gateway{Server: gatewaytest.NewServer(t, g), Clock: gatewaytest.NewClock(), Admin: gatewaytest.HTTPTestServer(t, g.AdminHandler())}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"slow"}`)
	}()
	<-entered
	r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`)
	if r.Status != 429 || r.Code(t) != "10029" || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("login while the check slot is taken = %d %s Retry-After %q, want 429 10029 1", r.Status, r.Raw, r.Header.Get("Retry-After"))
	}
	if n := checks.Load(); n != 1 {
		t.Fatalf("%d checks ran, want only the one holding the slot", n)
	}
	close(release)
	<-done
	if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`); r.Code(t) != "00000" {
		t.Fatalf("login with a free slot: %s", r.Raw)
	}
	resp, err := http.Get(tg.Admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `authgate_logins_total{dialect="mmm",result="rate_limited"} 1`) {
		t.Error("the busy login is not counted as rate_limited")
	}
}
