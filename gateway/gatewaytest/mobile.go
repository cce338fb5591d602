package gatewaytest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/authgate/authgate/sms/smstest"
)

// MobileEnv is a gateway with a mobile instance and the SMS webhook
// receiver its codes go to.
type MobileEnv struct {
	*Gateway
	SMS *smstest.Receiver
}

// StartMobile starts a gateway on store with a mobile instance (extra
// lines in its block) sending codes to a receiver of the test's own.
func StartMobile(t *testing.T, store, extra string) *MobileEnv {
	svc := smstest.NewReceiver(t)
	tg := Start(t, Options{Store: store,
		More: "  mobile:\n    type: mobile\n    secret: mobile-test-signing-key-0123456789abcdef\n" + svc.SenderYAML("    ") + extra,
		Routes: DefaultRoutes + `  - name: app
    path_prefix: /app/
    dialects: [mobile]
    upstream: echo
  - name: wx
    path_prefix: /wx/
    dialects: [mobile]
    upstream: echo
`})
	return &MobileEnv{Gateway: tg, SMS: svc}
}

// IntCode reads the mobile envelope's code, failing unless it is a JSON
// integer.
func (r Reply) IntCode(t testing.TB) int64 {
	t.Helper()
	n, ok := r.Body["code"].(json.Number)
	if !ok || strings.ContainsAny(n.String(), ".eE") {
		t.Fatalf("code is %T (%v), want a JSON integer; body %s", r.Body["code"], r.Body["code"], r.Raw)
	}
	v, _ := n.Int64()
	return v
}

// RequestCode asks for an SMS code for mobile.
func (e *MobileEnv) RequestCode(t *testing.T, mobile string) Reply {
	t.Helper()
	return e.Do(t, "POST", "/auth/mobile/sms-code", nil, `{"mobile":"`+mobile+`"}`)
}

// LoginBody is a mobile login body.
func LoginBody(mobile, code string, product int) string {
	return fmt.Sprintf(`{"companyType":1,"mobile":%q,"productType":%d,"source":"app-store","validateNo":%q}`, mobile, product, code)
}

// MobileLogin is what a mobile login answers.
type MobileLogin struct {
	Access, Refresh             string
	AccessExpire, RefreshExpire string
	ID                          int64
}

// Login logs mobile in on device with a code it requested.
func (e *MobileEnv) Login(t *testing.T, mobile, device string) MobileLogin {
	t.Helper()
	if r := e.RequestCode(t, mobile); r.IntCode(t) != 0 {
		t.Fatalf("sms-code: %s", r.Raw)
	}
	r := e.Do(t, "POST", "/auth/mobile/login", map[string]string{"X-Device-Number": device}, LoginBody(mobile, e.SMS.Code(t, mobile), 2))
	if r.Status != 200 || r.IntCode(t) != 0 {
		t.Fatalf("login: %d %s", r.Status, r.Raw)
	}
	d := r.Data(t)
	at, rt := d["accessToken"].(map[string]any), d["refreshToken"].(map[string]any)
	ui := d["userInfo"].(map[string]any)
	id, _ := ui["id"].(json.Number).Int64()
	return MobileLogin{Access: at["value"].(string), Refresh: rt["value"].(string),
		AccessExpire: at["expire"].(string), RefreshExpire: rt["expire"].(string), ID: id}
}

// Bearer is an Authorization header carrying tok.
func Bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
