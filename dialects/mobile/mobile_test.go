package mobile_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/dialects/mobile"
	"github.com/authgate/authgate/internal/legacytest"
	"github.com/authgate/authgate/sms/smstest"
)

type env struct {
	*dialecttest.Env
	sms *smstest.Receiver
}

// start serves a mobile instance named mobile on a store of kind, sending
// its codes to a receiver of the test's own; extra adds lines to its
// block (indented by four spaces, six inside sms).
func start(t testing.TB, kind, extra string) *env {
	t.Helper()
	rcv := smstest.NewReceiver(t)
	block := "    secret: mobile-test-signing-key-0123456789abcdef\n" + rcv.SenderYAML("    ") + extra
	return &env{Env: dialecttest.Start(t, mobile.Factory, "mobile", block, dialecttest.Options{Kind: kind}), sms: rcv}
}

func (e *env) requestCode(t testing.TB, mobile string) dialecttest.Reply {
	t.Helper()
	return e.Do(t, "POST", "/auth/mobile/sms-code", nil, `{"mobile":"`+mobile+`"}`)
}

func loginBody(mobile, code string, product int) string {
	return fmt.Sprintf(`{"companyType":1,"mobile":%q,"productType":%d,"source":"app-store","validateNo":%q}`, mobile, product, code)
}

type mobileLogin struct {
	access, refresh             string
	accessExpire, refreshExpire string
	id                          int64
}

func (e *env) login(t testing.TB, mobile, device string) mobileLogin {
	t.Helper()
	if r := e.requestCode(t, mobile); r.Int(t, "code") != 0 {
		t.Fatalf("sms-code: %s", r.Raw)
	}
	r := e.Do(t, "POST", "/auth/mobile/login", map[string]string{"X-Device-Number": device}, loginBody(mobile, e.sms.Code(t, mobile), 2))
	if r.Status != 200 || r.Int(t, "code") != 0 {
		t.Fatalf("login: %d %s", r.Status, r.Raw)
	}
	d := r.Obj(t, "data")
	at, rt := d["accessToken"].(map[string]any), d["refreshToken"].(map[string]any)
	ui := d["userInfo"].(map[string]any)
	id, _ := ui["id"].(json.Number).Int64()
	return mobileLogin{access: at["value"].(string), refresh: rt["value"].(string),
		accessExpire: at["expire"].(string), refreshExpire: rt["expire"].(string), id: id}
}

func TestMobileLoginWireAndFlow(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
		now := e.Clock.Now()
		r := e.requestCode(t, "13912345678")
		if r.Status != 200 || r.Int(t, "code") != 0 {
			t.Fatalf("sms-code = %d %s", r.Status, r.Raw)
		}
		r = e.Do(t, "POST", "/auth/mobile/login", map[string]string{"X-Device-Number": "phone-1"}, loginBody("13912345678", e.sms.Code(t, "13912345678"), 2))
		if r.Status != 200 || r.Int(t, "code") != 0 {
			t.Fatalf("login = %d %s", r.Status, r.Raw)
		}
		if _, ok := r.Body["msg"].(string); !ok {
			t.Fatalf("msg is not a string: %s", r.Raw)
		}
		d := r.Obj(t, "data")
		if len(d) != 3 {
			t.Fatalf("data keys: %s", r.Raw)
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

		r, seen := e.Protected(t, "/app/profile", dialecttest.Bearer(access))
		if seen == nil {
			t.Fatalf("protected call: %d %s", r.Status, r.Raw)
		}
		want := map[string]string{"mobile": "13912345678", "device": "phone-1", "company_type": "1", "product_type": "2"}
		if seen.Subject != "1000000" || seen.Dialect != "mobile" || !reflect.DeepEqual(seen.Attrs, want) {
			t.Errorf("identity = %+v, want user 1000000 of mobile with %v", seen, want)
		}
		// The same number again is the same user.
		e.Clock.Advance(time.Minute)
		again := e.login(t, "13912345678", "phone-1")
		if again.id != 1000000 {
			t.Fatalf("second login id %d", again.id)
		}
		// That login replaced the first session on the same device: its
		// pair can no longer refresh (ended, not kicked: same device).
		r = e.Do(t, "POST", "/app/auth/token/refresh", nil, `{"accessToken":"`+access+`","refreshToken":"`+refresh+`"}`)
		if r.Status != 401 || r.Int(t, "code") != 1206 {
			t.Fatalf("refresh of the replaced session = %d %s, want 401 1206", r.Status, r.Raw)
		}
		// Refresh after the access token expired.
		e.Clock.Advance(3 * time.Hour)
		if r, _ := e.Protected(t, "/app/profile", dialecttest.Bearer(again.access)); r.Status != 401 || r.Int(t, "code") != 1203 {
			t.Fatalf("expired token = %d %s, want 401 1203", r.Status, r.Raw)
		}
		r = e.Do(t, "POST", "/app/auth/token/refresh", nil, `{"accessToken":"`+again.access+`","refreshToken":"`+again.refresh+`"}`)
		if r.Int(t, "code") != 0 {
			t.Fatalf("refresh = %s", r.Raw)
		}
		nd := r.Obj(t, "data")
		if len(nd) != 2 || nd["expire"] != e.Clock.Now().Add(2*time.Hour).UTC().Format(time.RFC3339) {
			t.Fatalf("refresh data = %v", nd)
		}
		if _, seen := e.Protected(t, "/wx/x", dialecttest.Bearer(nd["value"].(string))); seen == nil {
			t.Fatal("refreshed token refused")
		}
	})
}

func TestMobileKnownUserAndRegistrationOff(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "    auto_register: false\n")
		if got := e.login(t, "13800138000", "d"); got.id != 10 {
			t.Fatalf("identity-file user by mobile: id %d, want 10", got.id)
		}
		e.requestCode(t, "13700000000")
		r := e.Do(t, "POST", "/auth/mobile/login", nil, loginBody("13700000000", e.sms.Code(t, "13700000000"), 1))
		if r.Int(t, "code") != 1106 {
			t.Fatalf("unknown number without registration = %s, want 1106", r.Raw)
		}
	})
}

func TestMobileCodeChecks(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
		const m = "13912340000"
		e.requestCode(t, m)
		code := e.sms.Code(t, m)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		for i := range 5 {
			if r := e.Do(t, "POST", "/auth/mobile/login", nil, loginBody(m, wrong, 1)); r.Status != 200 || r.Int(t, "code") != 1101 {
				t.Fatalf("wrong code %d = %d %s, want 1101", i, r.Status, r.Raw)
			}
		}
		if r := e.Do(t, "POST", "/auth/mobile/login", nil, loginBody(m, code, 1)); r.Int(t, "code") != 1103 {
			t.Fatalf("right code after 5 wrong = %s, want 1103", r.Raw)
		}
		if r := e.Do(t, "POST", "/auth/mobile/login", nil, loginBody(m, code, 1)); r.Int(t, "code") != 1102 {
			t.Fatalf("dead code = %s, want 1102", r.Raw)
		}
		// A code expires.
		e.Clock.Advance(time.Minute)
		e.requestCode(t, m)
		code = e.sms.Code(t, m)
		e.Clock.Advance(5 * time.Minute)
		if r := e.Do(t, "POST", "/auth/mobile/login", nil, loginBody(m, code, 1)); r.Int(t, "code") != 1102 {
			t.Fatalf("expired code = %s, want 1102", r.Raw)
		}
		// A code works once.
		e.requestCode(t, m)
		code = e.sms.Code(t, m)
		if r := e.Do(t, "POST", "/auth/mobile/login", nil, loginBody(m, code, 1)); r.Int(t, "code") != 0 {
			t.Fatalf("good code = %s", r.Raw)
		}
		if r := e.Do(t, "POST", "/auth/mobile/login", nil, loginBody(m, code, 1)); r.Int(t, "code") != 1102 {
			t.Fatalf("reused code = %s, want 1102", r.Raw)
		}
		if strings.Contains(e.Logs.String(), code) {
			t.Fatal("a code reached the log")
		}
	})
}

func TestMobileSendLimits(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "      daily_limit: 2\n      ip_limit: 4\n")
		const m = "13912340001"
		if r := e.requestCode(t, m); r.Int(t, "code") != 0 {
			t.Fatal(r.Raw)
		}
		r := e.requestCode(t, m)
		if r.Status != 429 || r.Int(t, "code") != 1104 || r.Header.Get("Retry-After") != "60" || r.Obj(t, "data")["retryAfter"].(json.Number).String() != "60" {
			t.Fatalf("resend within 60s = %d %s Retry-After %q", r.Status, r.Raw, r.Header.Get("Retry-After"))
		}
		e.Clock.Advance(61 * time.Second)
		if r := e.requestCode(t, m); r.Int(t, "code") != 0 {
			t.Fatalf("after the interval: %s", r.Raw)
		}
		e.Clock.Advance(61 * time.Second)
		if r := e.requestCode(t, m); r.Status != 429 || r.Int(t, "code") != 1104 || !strings.Contains(r.Body["msg"].(string), "今日") {
			t.Fatalf("over the daily cap = %d %s", r.Status, r.Raw)
		}
		// Per client IP: two more numbers fit (4 in all), the next does not.
		e.requestCode(t, "13912340002")
		if r := e.requestCode(t, "13912340003"); r.Int(t, "code") != 0 {
			t.Fatalf("4th send from the IP: %s", r.Raw)
		}
		if r := e.requestCode(t, "13912340004"); r.Status != 429 || r.Int(t, "code") != 1104 {
			t.Fatalf("5th send from the IP = %d %s", r.Status, r.Raw)
		}
	})
}

func TestMobileFailedSendIsNotCounted(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
		e.sms.Answer(500)
		before := e.sms.Calls()
		r := e.requestCode(t, "13912340005")
		if r.Status != 502 || r.Int(t, "code") != 1105 {
			t.Fatalf("send failure = %d %s, want 502 1105", r.Status, r.Raw)
		}
		if calls := e.sms.Calls() - before; calls != 3 {
			t.Fatalf("webhook tried %d times, want 3 (max_attempts)", calls)
		}
		e.sms.Answer(0)
		if r := e.requestCode(t, "13912340005"); r.Int(t, "code") != 0 {
			t.Fatalf("retry right after a failed send = %s: the failure was counted", r.Raw)
		}
		e.sms.Answer(400)
		before = e.sms.Calls()
		e.Clock.Advance(time.Minute)
		if r := e.requestCode(t, "13912340005"); r.Int(t, "code") != 1105 || e.sms.Calls()-before != 1 {
			t.Fatalf("a 4xx is not retried: %s, %d calls", r.Raw, e.sms.Calls()-before)
		}
	})
}

func TestMobileDeviceKick(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
		const m = "13912340006"
		pc := e.login(t, m, "pc-1")
		e.Clock.Advance(2 * time.Minute)
		kickAt := e.Clock.Now()
		phone := e.login(t, m, "phone-1")

		if r, _ := e.Protected(t, "/app/x", dialecttest.Bearer(pc.access)); r.Status != 401 || r.Int(t, "code") != 1204 {
			t.Fatalf("kicked pc token = %d %s, want 401 1204", r.Status, r.Raw)
		}
		if _, seen := e.Protected(t, "/app/x", dialecttest.Bearer(phone.access)); seen == nil {
			t.Fatal("phone token refused")
		}
		r := e.Do(t, "GET", "/wx/pc/check-login-status/pc-1", dialecttest.Bearer(pc.access), "")
		d := r.Obj(t, "data")
		if r.Int(t, "code") != 0 || d["isLogin"] != false || d["lastLoginTime"] != kickAt.UTC().Format(time.RFC3339) {
			t.Fatalf("pc status = %s, want isLogin false at %s", r.Raw, kickAt.UTC().Format(time.RFC3339))
		}
		r = e.Do(t, "GET", "/wx/pc/check-login-status?deviceNumber=phone-1", dialecttest.Bearer(phone.access), "")
		if d := r.Obj(t, "data"); d["isLogin"] != true {
			t.Fatalf("phone status = %s", r.Raw)
		}
		r = e.Do(t, "POST", "/app/auth/token/refresh", nil, `{"accessToken":"`+pc.access+`","refreshToken":"`+pc.refresh+`"}`)
		if r.Status != 401 || r.Int(t, "code") != 1204 {
			t.Fatalf("kicked refresh = %d %s", r.Status, r.Raw)
		}
		// The pc logs in again and takes the seat back.
		e.Clock.Advance(time.Minute)
		pc2 := e.login(t, m, "pc-1")
		if r := e.Do(t, "GET", "/wx/pc/check-login-status/pc-1", dialecttest.Bearer(pc2.access), ""); r.Obj(t, "data")["isLogin"] != true {
			t.Fatalf("pc after relogin = %s", r.Raw)
		}
		if r, _ := e.Protected(t, "/app/x", dialecttest.Bearer(phone.access)); r.Int(t, "code") != 1204 {
			t.Fatalf("phone after the pc's relogin = %s", r.Raw)
		}
	})
}

func TestMobileKickScopePerProduct(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "    kick_scope: user_product\n")
		const m = "13912340007"
		e.requestCode(t, m)
		r := e.Do(t, "POST", "/auth/mobile/login", map[string]string{"X-Device-Number": "a"}, loginBody(m, e.sms.Code(t, m), 1))
		a := r.Obj(t, "data")["accessToken"].(map[string]any)["value"].(string)
		e.Clock.Advance(time.Minute)
		e.requestCode(t, m)
		e.Do(t, "POST", "/auth/mobile/login", map[string]string{"X-Device-Number": "b"}, loginBody(m, e.sms.Code(t, m), 2))
		if _, seen := e.Protected(t, "/app/x", dialecttest.Bearer(a)); seen == nil {
			t.Fatal("a login for another product kicked the first")
		}
	})
}

func TestMobileRefreshBinding(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "    single_device: false\n")
		one := e.login(t, "13912340008", "d1")
		e.Clock.Advance(time.Minute)
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
			r := e.Do(t, "POST", "/app/auth/token/refresh", nil, c.body)
			if r.Status != c.status || r.Int(t, "code") != c.code {
				t.Errorf("%s: %d %s, want %d %d", c.name, r.Status, r.Raw, c.status, c.code)
			}
		}
	})
}

func TestMobileBadInput(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
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
			r := e.Do(t, c.method, c.path, nil, c.body)
			if r.Status != c.status || r.Int(t, "code") != c.code {
				t.Errorf("%s: %d %s, want %d %d", c.name, r.Status, r.Raw, c.status, c.code)
				continue
			}
			if msg, _ := r.Body["msg"].(string); !strings.Contains(msg, c.msgHas) {
				t.Errorf("%s: msg %q lacks %q", c.name, msg, c.msgHas)
			}
		}
		if e.sms.Calls() != 0 {
			t.Fatalf("bad requests sent %d codes", e.sms.Calls())
		}
	})
}

func TestMobileMetrics(t *testing.T) {
	e := start(t, "memory", "")
	e.login(t, "13912340011", "a")
	e.Clock.Advance(2 * time.Minute)
	e.login(t, "13912340011", "b")
	e.Do(t, "POST", "/auth/mobile/login", nil, loginBody("13912340011", "999999", 1))
	body := e.Metrics(t)
	for _, want := range []string{
		`authgate_sms_codes_sent_total{dialect="mobile",sender="webhook"} 2`,
		`authgate_device_kicks_total{dialect="mobile"} 1`,
		`authgate_sms_verify_failures_total{dialect="mobile",reason="expired"} 1`,
		`authgate_mobile_registrations_total{dialect="mobile"} 1`,
		`authgate_tokens_issued_total{dialect="mobile",reason="login"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestMobileTimeLayoutAndZone(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "    time_layout: \"2006-01-02 15:04:05\"\n    time_zone: Asia/Shanghai\n")
		got := e.login(t, "13912340012", "d")
		loc, _ := time.LoadLocation("Asia/Shanghai")
		if want := e.Clock.Now().Add(2 * time.Hour).In(loc).Format("2006-01-02 15:04:05"); got.accessExpire != want {
			t.Fatalf("access expire %q, want %q", got.accessExpire, want)
		}
	})
}

func TestContract(t *testing.T) {
	rcv := smstest.NewReceiver(t)
	dialecttest.Contract(t, dialecttest.Case{
		Factory: mobile.Factory, Name: "mobile",
		Block: "secret: mobile-test-signing-key-0123456789abcdef\n" + rcv.SenderYAML(""),
		Login: func(t *testing.T, de *dialecttest.Env) func() map[string]string {
			l := (&env{Env: de, sms: rcv}).login(t, "13912340077", "dev")
			return func() map[string]string { return dialecttest.Bearer(l.access) }
		},
		Garbage: []map[string]string{
			dialecttest.Bearer("garbage"),
			{"Authorization": "a.b.c"},
			dialecttest.Bearer("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"),
		},
		Legacy: &dialecttest.LegacyCase{
			Block: func(url string) string { return "legacy:\n  introspect:\n    url: " + url + "/introspect\n" },
			Token: func(t *testing.T, svc *legacytest.Service) string {
				return svc.IssueOpaque("13800138000", 24*time.Hour)
			},
			Refresh: func(t *testing.T, e *dialecttest.Env, tok string) bool {
				r := e.Do(t, "POST", "/app/auth/token/refresh", map[string]string{"X-Device-Number": "dev-1"}, `{"accessToken":"x","refreshToken":"`+tok+`"}`)
				return r.Status == 200 && r.Body["code"] == json.Number("0")
			},
			Subject: "10",
		},
	})
}

// FuzzAuthenticate: whatever a client puts in Authorization, the request
// passes only with the access token this instance issued, and every
// refusal carries a reason for the metrics.
func FuzzAuthenticate(f *testing.F) {
	e := start(f, "memory", "")
	l := e.login(f, "13912340078", "dev")
	f.Add("Bearer " + l.access)
	f.Add(l.access)
	f.Add("bearer " + l.refresh)
	f.Add("Bearer a.b.c")
	f.Fuzz(func(t *testing.T, authorization string) {
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header["Authorization"] = []string{authorization}
		id, err := e.Dialect.Authenticate(req)
		if err == nil && (!strings.Contains(authorization, l.access) || id.Subject != strconv.FormatInt(l.id, 10)) {
			t.Fatalf("passed with %q: %+v", authorization, id)
		}
		if reason := dialects.Reason(err); err != nil && (reason == "error" || reason == "store_unavailable") {
			t.Fatalf("refusal without a reason: %v", err)
		}
	})
}

// TestKickAndLockoutAreAudited: a login that kicks another device and a
// code whose attempts run out each write an audit line.
func TestKickAndLockoutAreAudited(t *testing.T) {
	e := start(t, "memory", "")
	e.login(t, "13912340090", "pc-1")
	e.Clock.Advance(2 * time.Minute)
	e.login(t, "13912340090", "phone-1")
	e.Clock.Advance(2 * time.Minute)
	e.requestCode(t, "13912340091")
	for range 6 {
		e.Do(t, "POST", "/auth/mobile/login", nil, loginBody("13912340091", "000000", 1))
	}
	logs := e.Logs.String()
	for _, want := range []string{
		`"msg":"audit","dialect":"mobile","event":"kick","subject":"1000000","client_ip":"127.0.0.1:`,
		`"result":"ok","device":"phone-1","kicked_device":"pc-1"}`,
		`"msg":"audit","dialect":"mobile","event":"lockout","subject":"","client_ip":"127.0.0.1:`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}
