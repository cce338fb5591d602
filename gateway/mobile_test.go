package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/sms"
)

const webhookSecret = "webhook-secret-0123456789"

// smsService is a real HTTP receiver standing in for the SMS provider: it
// checks the gateway's signature and keeps the codes it was sent.
type smsService struct {
	*httptest.Server
	mu     sync.Mutex
	codes  map[string]string
	calls  int
	status int // answer with this status instead of 200 when set
}

func newSMSService(t *testing.T) *smsService {
	s := &smsService{codes: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls++
		if !sms.VerifySignature([]byte(webhookSecret), r.Header.Get("X-Authgate-Signature"), body, time.Now(), 24*time.Hour*365*10) {
			t.Errorf("webhook signature %q does not verify", r.Header.Get("X-Authgate-Signature"))
			w.WriteHeader(401)
			return
		}
		if s.status != 0 {
			w.WriteHeader(s.status)
			return
		}
		var m sms.Message
		if err := json.Unmarshal(body, &m); err != nil || m.Template != "login" || len(m.Code) != 6 {
			t.Errorf("webhook body %s", body)
		}
		s.codes[m.Mobile] = m.Code
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *smsService) code(t *testing.T, mobile string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[mobile]
	if !ok {
		t.Fatalf("no code was sent to %s", mobile)
	}
	return c
}

func (s *smsService) set(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

func (s *smsService) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

type mobileEnv struct {
	*testGateway
	sms *smsService
}

func startMobile(t *testing.T, store, extra string) *mobileEnv {
	svc := newSMSService(t)
	tg := startGateway(t, gwOptions{store: store,
		more: `  mobile:
    type: mobile
    secret: mobile-test-signing-key-0123456789abcdef
    sms:
      sender:
        type: webhook
        url: ` + svc.URL + `
        secret: ` + webhookSecret + `
        backoff: 1ms
` + extra,
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
	r := e.do(t, "POST", "/auth/mobile/login", map[string]string{"X-Device-Number": device}, loginBody(mobile, e.sms.code(t, mobile), 2))
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

func TestMobileLoginWireAndFlow(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startMobile(t, store, "")
		now := e.clock.Now()
		r := e.requestCode(t, "13912345678")
		if r.status != 200 || r.intCode(t) != 0 {
			t.Fatalf("sms-code = %d %s", r.status, r.raw)
		}
		r = e.do(t, "POST", "/auth/mobile/login", map[string]string{"X-Device-Number": "phone-1"}, loginBody("13912345678", e.sms.code(t, "13912345678"), 2))
		if r.status != 200 || r.intCode(t) != 0 {
			t.Fatalf("login = %d %s", r.status, r.raw)
		}
		if _, ok := r.body["msg"].(string); !ok {
			t.Fatalf("msg is not a string: %s", r.raw)
		}
		d := r.data(t)
		if len(d) != 3 {
			t.Fatalf("data keys: %s", r.raw)
		}
		for _, k := range []string{"accessToken", "refreshToken"} {
			tok, ok := d[k].(map[string]any)
			if !ok || len(tok) != 2 {
				t.Fatalf("%s = %v, want {expire, value}", k, d[k])
			}
			if _, ok := tok["value"].(string); !ok {
				t.Fatalf("%s.value is not a string", k)
			}
			exp, ok := tok["expire"].(string)
			if !ok {
				t.Fatalf("%s.expire is not a string", k)
			}
			if _, err := time.Parse(time.RFC3339, exp); err != nil {
				t.Fatalf("%s.expire %q is not RFC 3339", k, exp)
			}
		}
		if got := d["accessToken"].(map[string]any)["expire"]; got != now.Add(2*time.Hour).UTC().Format(time.RFC3339) {
			t.Fatalf("access expire %v, want now+2h", got)
		}
		ui, _ := d["userInfo"].(map[string]any)
		wantTypes := map[string]string{"avatarUrl": "string", "companyType": "int", "id": "int", "mobile": "string", "nickName": "string", "realName": "string", "userName": "string"}
		if len(ui) != len(wantTypes) {
			t.Fatalf("userInfo = %v", ui)
		}
		for k, typ := range wantTypes {
			switch v := ui[k].(type) {
			case string:
				if typ != "string" {
					t.Errorf("userInfo.%s is a string, want %s", k, typ)
				}
			case json.Number:
				if typ != "int" || strings.ContainsAny(v.String(), ".eE") {
					t.Errorf("userInfo.%s = %v, want %s", k, v, typ)
				}
			default:
				t.Errorf("userInfo.%s = %T", k, v)
			}
		}
		if ui["mobile"] != "13912345678" || ui["companyType"].(json.Number).String() != "1" || ui["id"].(json.Number).String() != "1000000" {
			t.Fatalf("userInfo = %v", ui)
		}
		access := d["accessToken"].(map[string]any)["value"].(string)
		refresh := d["refreshToken"].(map[string]any)["value"].(string)

		_, seen := e.echo(t, "/app/profile", bearer(access))
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
		// The same number again is the same user.
		e.clock.Advance(time.Minute)
		again := e.login(t, "13912345678", "phone-1")
		if again.id != 1000000 {
			t.Fatalf("second login id %d", again.id)
		}
		// That login replaced the first session on the same device: its
		// pair can no longer refresh (ended, not kicked: same device).
		r = e.do(t, "POST", "/app/auth/token/refresh", nil, `{"accessToken":"`+access+`","refreshToken":"`+refresh+`"}`)
		if r.status != 401 || r.intCode(t) != 1206 {
			t.Fatalf("refresh of the replaced session = %d %s, want 401 1206", r.status, r.raw)
		}
		// Refresh after the access token expired.
		e.clock.Advance(3 * time.Hour)
		if r, _ := e.echo(t, "/app/profile", bearer(again.access)); r.status != 401 || r.intCode(t) != 1203 {
			t.Fatalf("expired token = %d %s, want 401 1203", r.status, r.raw)
		}
		r = e.do(t, "POST", "/app/auth/token/refresh", nil, `{"accessToken":"`+again.access+`","refreshToken":"`+again.refresh+`"}`)
		if r.intCode(t) != 0 {
			t.Fatalf("refresh = %s", r.raw)
		}
		nd := r.data(t)
		if len(nd) != 2 || nd["expire"] != e.clock.Now().Add(2*time.Hour).UTC().Format(time.RFC3339) {
			t.Fatalf("refresh data = %v", nd)
		}
		if _, seen := e.echo(t, "/wx/x", bearer(nd["value"].(string))); seen == nil {
			t.Fatal("refreshed token refused")
		}
	})
}

func TestMobileKnownUserAndRegistrationOff(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startMobile(t, store, "    auto_register: false\n")
		if got := e.login(t, "13800138000", "d"); got.id != 10 {
			t.Fatalf("identity-file user by mobile: id %d, want 10", got.id)
		}
		e.requestCode(t, "13700000000")
		r := e.do(t, "POST", "/auth/mobile/login", nil, loginBody("13700000000", e.sms.code(t, "13700000000"), 1))
		if r.intCode(t) != 1106 {
			t.Fatalf("unknown number without registration = %s, want 1106", r.raw)
		}
	})
}

func TestMobileCodeChecks(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startMobile(t, store, "")
		const m = "13912340000"
		e.requestCode(t, m)
		code := e.sms.code(t, m)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		for i := range 5 {
			if r := e.do(t, "POST", "/auth/mobile/login", nil, loginBody(m, wrong, 1)); r.status != 200 || r.intCode(t) != 1101 {
				t.Fatalf("wrong code %d = %d %s, want 1101", i, r.status, r.raw)
			}
		}
		if r := e.do(t, "POST", "/auth/mobile/login", nil, loginBody(m, code, 1)); r.intCode(t) != 1103 {
			t.Fatalf("right code after 5 wrong = %s, want 1103", r.raw)
		}
		if r := e.do(t, "POST", "/auth/mobile/login", nil, loginBody(m, code, 1)); r.intCode(t) != 1102 {
			t.Fatalf("dead code = %s, want 1102", r.raw)
		}
		// A code expires.
		e.clock.Advance(time.Minute)
		e.requestCode(t, m)
		code = e.sms.code(t, m)
		e.clock.Advance(5 * time.Minute)
		if r := e.do(t, "POST", "/auth/mobile/login", nil, loginBody(m, code, 1)); r.intCode(t) != 1102 {
			t.Fatalf("expired code = %s, want 1102", r.raw)
		}
		// A code works once.
		e.requestCode(t, m)
		code = e.sms.code(t, m)
		if r := e.do(t, "POST", "/auth/mobile/login", nil, loginBody(m, code, 1)); r.intCode(t) != 0 {
			t.Fatalf("good code = %s", r.raw)
		}
		if r := e.do(t, "POST", "/auth/mobile/login", nil, loginBody(m, code, 1)); r.intCode(t) != 1102 {
			t.Fatalf("reused code = %s, want 1102", r.raw)
		}
		if strings.Contains(e.logs.String(), code) {
			t.Fatal("a code reached the log")
		}
	})
}

func TestMobileSendLimits(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startMobile(t, store, "      daily_limit: 2\n      ip_limit: 4\n")
		const m = "13912340001"
		if r := e.requestCode(t, m); r.intCode(t) != 0 {
			t.Fatal(r.raw)
		}
		r := e.requestCode(t, m)
		if r.status != 429 || r.intCode(t) != 1104 || r.header.Get("Retry-After") != "60" || r.data(t)["retryAfter"].(json.Number).String() != "60" {
			t.Fatalf("resend within 60s = %d %s Retry-After %q", r.status, r.raw, r.header.Get("Retry-After"))
		}
		e.clock.Advance(61 * time.Second)
		if r := e.requestCode(t, m); r.intCode(t) != 0 {
			t.Fatalf("after the interval: %s", r.raw)
		}
		e.clock.Advance(61 * time.Second)
		if r := e.requestCode(t, m); r.status != 429 || r.intCode(t) != 1104 || !strings.Contains(r.body["msg"].(string), "今日") {
			t.Fatalf("over the daily cap = %d %s", r.status, r.raw)
		}
		// Per client IP: two more numbers fit (4 in all), the next does not.
		e.requestCode(t, "13912340002")
		if r := e.requestCode(t, "13912340003"); r.intCode(t) != 0 {
			t.Fatalf("4th send from the IP: %s", r.raw)
		}
		if r := e.requestCode(t, "13912340004"); r.status != 429 || r.intCode(t) != 1104 {
			t.Fatalf("5th send from the IP = %d %s", r.status, r.raw)
		}
	})
}

func TestMobileFailedSendIsNotCounted(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startMobile(t, store, "")
		e.sms.set(500)
		before := e.sms.callCount()
		r := e.requestCode(t, "13912340005")
		if r.status != 502 || r.intCode(t) != 1105 {
			t.Fatalf("send failure = %d %s, want 502 1105", r.status, r.raw)
		}
		if calls := e.sms.callCount() - before; calls != 3 {
			t.Fatalf("webhook tried %d times, want 3 (max_attempts)", calls)
		}
		e.sms.set(0)
		if r := e.requestCode(t, "13912340005"); r.intCode(t) != 0 {
			t.Fatalf("retry right after a failed send = %s: the failure was counted", r.raw)
		}
		e.sms.set(400)
		before = e.sms.callCount()
		e.clock.Advance(time.Minute)
		if r := e.requestCode(t, "13912340005"); r.intCode(t) != 1105 || e.sms.callCount()-before != 1 {
			t.Fatalf("a 4xx is not retried: %s, %d calls", r.raw, e.sms.callCount()-before)
		}
	})
}

func TestMobileDeviceKick(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startMobile(t, store, "")
		const m = "13912340006"
		pc := e.login(t, m, "pc-1")
		e.clock.Advance(2 * time.Minute)
		kickAt := e.clock.Now()
		phone := e.login(t, m, "phone-1")

		if r, _ := e.echo(t, "/app/x", bearer(pc.access)); r.status != 401 || r.intCode(t) != 1204 {
			t.Fatalf("kicked pc token = %d %s, want 401 1204", r.status, r.raw)
		}
		if _, seen := e.echo(t, "/app/x", bearer(phone.access)); seen == nil {
			t.Fatal("phone token refused")
		}
		r := e.do(t, "GET", "/wx/pc/check-login-status/pc-1", bearer(pc.access), "")
		d := r.data(t)
		if r.intCode(t) != 0 || d["isLogin"] != false || d["lastLoginTime"] != kickAt.UTC().Format(time.RFC3339) {
			t.Fatalf("pc status = %s, want isLogin false at %s", r.raw, kickAt.UTC().Format(time.RFC3339))
		}
		r = e.do(t, "GET", "/wx/pc/check-login-status?deviceNumber=phone-1", bearer(phone.access), "")
		if d := r.data(t); d["isLogin"] != true {
			t.Fatalf("phone status = %s", r.raw)
		}
		r = e.do(t, "POST", "/app/auth/token/refresh", nil, `{"accessToken":"`+pc.access+`","refreshToken":"`+pc.refresh+`"}`)
		if r.status != 401 || r.intCode(t) != 1204 {
			t.Fatalf("kicked refresh = %d %s", r.status, r.raw)
		}
		// The pc logs in again and takes the seat back.
		e.clock.Advance(time.Minute)
		pc2 := e.login(t, m, "pc-1")
		if r := e.do(t, "GET", "/wx/pc/check-login-status/pc-1", bearer(pc2.access), ""); r.data(t)["isLogin"] != true {
			t.Fatalf("pc after relogin = %s", r.raw)
		}
		if r, _ := e.echo(t, "/app/x", bearer(phone.access)); r.intCode(t) != 1204 {
			t.Fatalf("phone after the pc's relogin = %s", r.raw)
		}
	})
}

func TestMobileKickScopePerProduct(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startMobile(t, store, "    kick_scope: user_product\n")
		const m = "13912340007"
		e.requestCode(t, m)
		r := e.do(t, "POST", "/auth/mobile/login", map[string]string{"X-Device-Number": "a"}, loginBody(m, e.sms.code(t, m), 1))
		a := r.data(t)["accessToken"].(map[string]any)["value"].(string)
		e.clock.Advance(time.Minute)
		e.requestCode(t, m)
		e.do(t, "POST", "/auth/mobile/login", map[string]string{"X-Device-Number": "b"}, loginBody(m, e.sms.code(t, m), 2))
		if _, seen := e.echo(t, "/app/x", bearer(a)); seen == nil {
			t.Fatal("a login for another product kicked the first")
		}
	})
}

func TestMobileRefreshBinding(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startMobile(t, store, "    single_device: false\n")
		one := e.login(t, "13912340008", "d1")
		e.clock.Advance(time.Minute)
		two := e.login(t, "13912340009", "d2")
		cases := []struct {
			name, body string
			status     int
			code       int64
		}{
			{"other session's refresh", `{"accessToken":"` + one.access + `","refreshToken":"` + two.refresh + `"}`, 401, 1205},
			{"made-up refresh", `{"accessToken":"` + one.access + `","refreshToken":"nope"}`, 401, 1205},
			{"forged access", `{"accessToken":"a.b.c","refreshToken":"` + one.refresh + `"}`, 401, 1202},
			{"missing refresh", `{"accessToken":"` + one.access + `"}`, 400, 1001},
			{"wrong type", `{"accessToken":1,"refreshToken":"x"}`, 400, 1001},
			{"own pair", `{"accessToken":"` + one.access + `","refreshToken":"` + one.refresh + `"}`, 200, 0},
		}
		for _, c := range cases {
			r := e.do(t, "POST", "/app/auth/token/refresh", nil, c.body)
			if r.status != c.status || r.intCode(t) != c.code {
				t.Errorf("%s: %d %s, want %d %d", c.name, r.status, r.raw, c.status, c.code)
			}
		}
	})
}

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

func TestMobileBadInput(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startMobile(t, store, "")
		cases := []struct {
			name, path, method, body string
			status                   int
			code                     int64
			msgHas                   string
		}{
			{"sms malformed", "/auth/mobile/sms-code", "POST", `{"mobile":`, 400, 1001, "not valid JSON"},
			{"sms missing", "/auth/mobile/sms-code", "POST", `{}`, 400, 1001, "mobile is required"},
			{"sms wrong type", "/auth/mobile/sms-code", "POST", `{"mobile":13912345678}`, 400, 1001, `"mobile" must be a string`},
			{"sms bad number", "/auth/mobile/sms-code", "POST", `{"mobile":"12345"}`, 400, 1004, ""},
			{"sms method", "/auth/mobile/sms-code", "GET", ``, 405, 1003, ""},
			{"login missing", "/auth/mobile/login", "POST", `{"mobile":"13912345678"}`, 400, 1001, "companyType, productType, source, validateNo"},
			{"login wrong type", "/auth/mobile/login", "POST", `{"companyType":"1","mobile":"13912345678","productType":1,"source":"","validateNo":"1"}`, 400, 1001, `"companyType" must be an integer`},
			{"login bad number", "/auth/mobile/login", "POST", loginBody("+8613912345678", "123456", 1), 400, 1004, ""},
			{"login oversized", "/auth/mobile/login", "POST", `{"source":"` + strings.Repeat("x", 70<<10) + `"}`, 413, 1002, ""},
			{"login no code sent", "/auth/mobile/login", "POST", loginBody("13912345678", "123456", 1), 200, 1102, ""},
			{"status no token", "/wx/pc/check-login-status/pc", "GET", ``, 401, 1201, ""},
			{"status no device", "/wx/pc/check-login-status", "GET", ``, 400, 1001, "deviceNumber"},
		}
		for _, c := range cases {
			r := e.do(t, c.method, c.path, nil, c.body)
			if r.status != c.status || r.intCode(t) != c.code {
				t.Errorf("%s: %d %s, want %d %d", c.name, r.status, r.raw, c.status, c.code)
				continue
			}
			if msg, _ := r.body["msg"].(string); !strings.Contains(msg, c.msgHas) {
				t.Errorf("%s: msg %q lacks %q", c.name, msg, c.msgHas)
			}
		}
		if e.sms.callCount() != 0 {
			t.Fatalf("bad requests sent %d codes", e.sms.callCount())
		}
	})
}

func TestMobileMetrics(t *testing.T) {
	e := startMobile(t, "memory", "")
	e.login(t, "13912340011", "a")
	e.clock.Advance(2 * time.Minute)
	e.login(t, "13912340011", "b")
	e.do(t, "POST", "/auth/mobile/login", nil, loginBody("13912340011", "999999", 1))
	resp, err := http.Get(e.admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`authgate_sms_codes_sent_total{dialect="mobile",sender="webhook"} 2`,
		`authgate_device_kicks_total{dialect="mobile"} 1`,
		`authgate_sms_verify_failures_total{dialect="mobile",reason="expired"} 1`,
		`authgate_mobile_registrations_total{dialect="mobile"} 1`,
		`authgate_tokens_issued_total{dialect="mobile",reason="login"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestMobileTimeLayoutAndZone(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startMobile(t, store, "    time_layout: \"2006-01-02 15:04:05\"\n    time_zone: Asia/Shanghai\n")
		got := e.login(t, "13912340012", "d")
		loc, _ := time.LoadLocation("Asia/Shanghai")
		if want := e.clock.Now().Add(2 * time.Hour).In(loc).Format("2006-01-02 15:04:05"); got.accessExpire != want {
			t.Fatalf("access expire %q, want %q", got.accessExpire, want)
		}
	})
}
