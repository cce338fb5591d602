package gateway_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/authgate/authgate/sms/smstest"
)

type mobileEnv struct {
	*testGateway
	sms *smstest.Receiver
}

func startMobile(t *testing.T, store, extra string) *mobileEnv {
	svc := smstest.NewReceiver(t)
	tg := startGateway(t, gwOptions{store: store,
		more: "  mobile:\n    type: mobile\n    secret: mobile-test-signing-key-0123456789abcdef\n" + svc.SenderYAML("    ") + extra,
		routes: defaultRoutes + `  - name: app
    path_prefix: /app/
    dialects: [mobile]
    upstream: echo
  - name: wx
    path_prefix: /wx/
    dialects: [mobile]
    upstream: echo
`})
	return &mobileEnv{testGateway: tg, sms: svc}
}

// intCode reads the mobile envelope's code, failing unless it is a JSON
// integer.
func (r reply) intCode(t testing.TB) int64 {
	t.Helper()
	n, ok := r.body["code"].(json.Number)
	if !ok || strings.ContainsAny(n.String(), ".eE") {
		t.Fatalf("code is %T (%v), want a JSON integer; body %s", r.body["code"], r.body["code"], r.raw)
	}
	v, _ := n.Int64()
	return v
}

func (e *mobileEnv) requestCode(t *testing.T, mobile string) reply {
	t.Helper()
	return e.do(t, "POST", "/auth/mobile/sms-code", nil, `{"mobile":"`+mobile+`"}`)
}

func loginBody(mobile, code string, product int) string {
	return fmt.Sprintf(`{"companyType":1,"mobile":%q,"productType":%d,"source":"app-store","validateNo":%q}`, mobile, product, code)
}

type mobileLogin struct {
	access, refresh             string
	accessExpire, refreshExpire string
	id                          int64
}

func (e *mobileEnv) login(t *testing.T, mobile, device string) mobileLogin {
	t.Helper()
	if r := e.requestCode(t, mobile); r.intCode(t) != 0 {
		t.Fatalf("sms-code: %s", r.raw)
	}
	r := e.do(t, "POST", "/auth/mobile/login", map[string]string{"X-Device-Number": device}, loginBody(mobile, e.sms.Code(t, mobile), 2))
	if r.status != 200 || r.intCode(t) != 0 {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	d := r.data(t)
	at, rt := d["accessToken"].(map[string]any), d["refreshToken"].(map[string]any)
	ui := d["userInfo"].(map[string]any)
	id, _ := ui["id"].(json.Number).Int64()
	return mobileLogin{access: at["value"].(string), refresh: rt["value"].(string),
		accessExpire: at["expire"].(string), refreshExpire: rt["expire"].(string), id: id}
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestMobileAndMMMTokensDoNotCross(t *testing.T) {
	e := startMobile(t, "memory", "")
	mob := e.login(t, "13912340010", "d")
	mmm := e.testGateway.login(t)
	if r, _ := e.echo(t, "/app/x", bearer(mmm.Access)); r.status != 401 || r.intCode(t) != 1202 {
		t.Errorf("mmm token on a mobile route = %d %s, want 401 1202", r.status, r.raw)
	}
	if r, _ := e.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": mob.access}); r.code(t) != "10013" {
		t.Errorf("mobile token on an mmm route = %s, want 10013", r.raw)
	}
	if r, _ := e.echo(t, "/v1/x", bearer(mob.access)); r.code(t) != "10011" {
		t.Errorf("mobile bearer on an mmm route = %s, want 10011", r.raw)
	}
}

// TestMobileEndToEnd: an SMS login through the gateway, and the identity
// headers a protected route's upstream receives (never the token).
func TestMobileEndToEnd(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startMobile(t, store, "")
		l := e.login(t, "13912345678", "phone-1")
		_, seen := e.echo(t, "/app/profile", bearer(l.access))
		want := map[string]string{"X-Auth-User-Id": "1000000", "X-Auth-Mobile": "13912345678", "X-Auth-Device": "phone-1",
			"X-Auth-Company-Type": "1", "X-Auth-Product-Type": "2", "X-Auth-Dialect": "mobile"}
		for k, v := range want {
			if got := seen[k]; len(got) != 1 || got[0] != v {
				t.Errorf("upstream %s = %v, want %s", k, got, v)
			}
		}
		if _, ok := seen["Authorization"]; ok {
			t.Error("the token reached the upstream")
		}
	})
}
