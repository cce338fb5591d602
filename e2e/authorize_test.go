package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/authgate/authgate/dialects/bov3"
	"github.com/authgate/authgate/gateway/gatewaytest"
	"github.com/authgate/authgate/sms/smstest"
)

// TestAuthorizationRules: a route with rules refuses what they refuse in
// its dialect's own forbidden answer (mmm's envelope 40300, mobile's
// 4030, bov3's 403 body FORBIDDEN, appkey's Spring 403), logged with the
// rule's name and counted as forbidden in the decision metrics; what they
// allow passes; a shadow route compares a refusal as a verdict.
func TestAuthorizationRules(t *testing.T) {
	svc := smstest.NewReceiver(t)
	e := gatewaytest.StartAppkeyRoutes(t, "memory",
		"  mobile:\n    type: mobile\n    secret: mobile-test-signing-key-0123456789abcdef\n"+svc.SenderYAML("    ")+
			"  bov3:\n    type: bov3\n    secret: bov3-test-signing-key-0123456789abcdef\n    verify_api:\n      key: "+gatewaytest.DESKey+"\n",
		gatewaytest.DefaultRoutes+`  - path_prefix: /v1/other-company/
    dialects: [mmm]
    upstream: echo
    authorize:
      - {name: company-2-only, allow: 'company == "2"'}
  - path_prefix: /v1/reads/
    dialects: [mmm]
    upstream: echo
    authorize:
      - {name: member, allow: 'company in ["1", "2"]'}
      - {name: reads-only, allow: 'method == "GET" && path.startsWith("/v1/reads/")'}
  - path_prefix: /app/
    dialects: [mobile]
    upstream: echo
    authorize:
      - {name: known-device, allow: 'attrs["device"] == "kiosk"'}
  - path_prefix: /bo/api/v3/
    dialects: [bov3]
    upstream: echo
    authorize:
      - {name: admins, allow: '"admin" in roles'}
  - path_prefix: /api/
    dialects: [appkey]
    upstream: echo
    authorize:
      - {name: admin-apps, allow: 'user_type == "ADMIN" && app_id != ""'}
`)
	mmm := e.Gateway.Login(t)
	mmmH := map[string]string{"x-mmm-accesstoken": mmm.Access}
	if r, _ := e.Echo(t, "/v1/other-company/x", mmmH); r.Status != 403 || r.Code(t) != "40300" || r.Body["msg"] != "无权访问" {
		t.Errorf("mmm refused by a rule: %d %s", r.Status, r.Raw)
	}
	if r, seen := e.Echo(t, "/v1/reads/x", mmmH); seen == nil {
		t.Errorf("mmm allowed by both rules: %d %s", r.Status, r.Raw)
	}
	if r := e.Do(t, "POST", "/v1/reads/x", mmmH, "{}"); r.Status != 403 || r.Code(t) != "40300" {
		t.Errorf("mmm POST against reads-only: %d %s", r.Status, r.Raw)
	}

	mob := (&gatewaytest.MobileEnv{Gateway: e.Gateway, SMS: svc}).Login(t, "13800138000", "dev-1")
	if r, _ := e.Echo(t, "/app/x", gatewaytest.Bearer(mob.Access)); r.Status != 403 || r.IntCode(t) != 4030 {
		t.Errorf("mobile refused by a rule: %d %s", r.Status, r.Raw)
	}

	bo := &gatewaytest.BoEnv{Gateway: e.Gateway}
	bo.Cipher, _ = bov3.NewVerifyCipher([]byte(gatewaytest.DESKey), "ecb", nil, "base64")
	r := e.Do(t, "POST", "/bo/api/v3/auth/login", bo.Headers("proj-1"), `{"userName":"demo","password":"demo123"}`)
	if r.Status != 200 {
		t.Fatalf("bov3 login: %d %s", r.Status, r.Raw)
	}
	boAccess := r.Data(t)["accessToken"].(string)
	h := bo.Headers("proj-1")
	h["Authorization"] = "Bearer " + boAccess
	if r, _ := e.Echo(t, "/bo/api/v3/orders", h); r.Status != 403 || r.Body["code"] != json.Number("40301") || r.Body["success"] != false {
		t.Errorf("bov3 refused by a rule: %d %s", r.Status, r.Raw)
	}

	app, _ := e.Login(t, "app-1")
	if r, _ := e.Echo(t, "/api/x", gatewaytest.Bearer(app)); r.Status != 403 || r.Body["error"] != "Forbidden" || r.Body["path"] != "/api/x" {
		t.Errorf("appkey refused by a rule: %d %s", r.Status, r.Raw)
	}

	m := e.MetricsText(t)
	for _, d := range []string{"mmm", "mobile", "bov3", "appkey"} {
		if gatewaytest.MetricValue(m, `authgate_auth_decisions_total{dialect="`+d+`",result="forbidden"}`) < 1 {
			t.Errorf("%s's refusal is not counted as forbidden:\n%s", d, gatewaytest.GrepLines(m, "auth_decisions"))
		}
	}
	for _, rule := range []string{"company-2-only", "reads-only", "known-device", "admins", "admin-apps"} {
		if !strings.Contains(e.Logs.String(), `"rule":"`+rule+`"`) {
			t.Errorf("no log line names the rule %s", rule)
		}
	}
}

// TestAuthorizationRulesInShadow: on a shadow route the rules' refusal
// is a verdict like any (forbidden), compared with the legacy service's
// answer: one that lets the request pass disagrees.
func TestAuthorizationRulesInShadow(t *testing.T) {
	tg := gatewaytest.Start(t, gatewaytest.Options{More: "  old:\n    type: mmm\n    secret: " + gatewaytest.TestSecret + "\n", Routes: gatewaytest.DefaultRoutes + `  - path_prefix: /old/
    dialects: [old]
    mode: shadow
    upstream: echo
    legacy_answers: {allowed: {statuses: [200]}}
    authorize:
      - {name: company-2-only, allow: 'company == "2"'}
`})
	old := tg.Login(t) // signed with the same key: the shadow dialect takes it
	tg.Echo(t, "/old/x", map[string]string{"x-mmm-accesstoken": old.Access})
	tg.WaitMetric(t, `gateway="forbidden",route="/old/"`)
	tg.WaitMetric(t, `authgate_shadow_agreement_total{dialect="old",result="disagree",route="/old/"} 1`)
}
