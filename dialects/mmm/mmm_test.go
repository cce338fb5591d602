package mmm_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/dialects/mmm"
	"github.com/authgate/authgate/internal/legacytest"
)

const testSecret = "test-mmm-signing-key-0123456789abcdef0123"

type env struct{ *dialecttest.Env }

// start serves an mmm instance named mmm on a store of kind; extra adds
// lines to its block.
func start(t testing.TB, kind, extra string) env {
	t.Helper()
	return env{dialecttest.Start(t, mmm.Factory, "mmm", "secret: "+testSecret+"\n"+extra, dialecttest.Options{Kind: kind})}
}

type pair struct {
	Access, Refresh           string
	ExpiresIn, RefreshExpires int64
}

// readPair checks the seed's token pair shape: two strings, two integers.
func readPair(t testing.TB, r dialecttest.Reply) pair {
	t.Helper()
	d := r.Obj(t, "data")
	if len(d) != 4 {
		t.Fatalf("data has %d keys, want exactly access_token, expires_in, refresh_token, refresh_expires: %s", len(d), r.Raw)
	}
	var p pair
	var ok1, ok2 bool
	p.Access, ok1 = d["access_token"].(string)
	p.Refresh, ok2 = d["refresh_token"].(string)
	if !ok1 || !ok2 {
		t.Fatalf("tokens are not strings: %s", r.Raw)
	}
	p.ExpiresIn = dialecttest.AsInt(t, d["expires_in"], "expires_in", r.Raw)
	p.RefreshExpires = dialecttest.AsInt(t, d["refresh_expires"], "refresh_expires", r.Raw)
	return p
}

func (e env) login(t testing.TB) pair {
	t.Helper()
	r := e.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`)
	if r.Status != 200 || r.Str(t, "code") != "00000" {
		t.Fatalf("login: %d %s", r.Status, r.Raw)
	}
	return readPair(t, r)
}

func TestContract(t *testing.T) {
	dialecttest.Contract(t, dialecttest.Case{
		Factory: mmm.Factory, Name: "mmm", Block: "secret: " + testSecret + "\n",
		Login: func(t *testing.T, e *dialecttest.Env) func() map[string]string {
			p := env{e}.login(t)
			return func() map[string]string { return map[string]string{"x-mmm-accesstoken": p.Access} }
		},
		Garbage: []map[string]string{
			{"x-mmm-accesstoken": "garbage"},
			{"x-mmm-accesstoken": "a.b.c"},
			{"x-mmm-accesstoken": "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"},
		},
		Legacy: &dialecttest.LegacyCase{
			Block: func(string) string {
				return "legacy:\n  secrets:\n    - secret: " + legacytest.Secret + "\n  kind:\n    refresh_lifetime: 24h\n"
			},
			Token: func(t *testing.T, svc *legacytest.Service) string {
				return svc.MMMPair(t, 10, 1, 30*time.Minute, 24*time.Hour).RefreshToken
			},
			Refresh: func(t *testing.T, e *dialecttest.Env, tok string) bool {
				r := e.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": tok}, "")
				return r.Status == 200 && r.Body["code"] == "00000"
			},
			Subject: "10",
		},
	})
}

func intClaim(t *testing.T, c map[string]any, k string) int64 {
	t.Helper()
	n, ok := c[k].(json.Number)
	if !ok || strings.ContainsAny(n.String(), ".eE") {
		t.Fatalf("claim %s = %v (%T), want an integer", k, c[k], c[k])
	}
	v, _ := n.Int64()
	return v
}

func TestMMMLoginWire(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		tg := start(t, store, "")
		now := tg.Clock.Now()
		r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`)
		if r.Status != 200 || r.Str(t, "code") != "00000" || r.Body["msg"] != "成功" {
			t.Fatalf("login = %d %s", r.Status, r.Raw)
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		p := readPair(t, r)
		if p.ExpiresIn != now.Add(30*time.Minute).Unix() || p.RefreshExpires != now.Add(24*time.Hour).Unix() {
			t.Fatalf("expiries %d %d, want absolute unix seconds now+30m, now+24h (%d)", p.ExpiresIn, p.RefreshExpires, now.Unix())
		}
		c := dialecttest.Claims(t, p.Access)
		for _, k := range []string{"exp", "iat", "iss", "nbf", "uid", "company_id", "sid"} {
			if _, ok := c[k]; !ok {
				t.Errorf("access token lacks claim %s: %v", k, c)
			}
		}
		if c["iss"] != "mmm_oppmg" || intClaim(t, c, "uid") != 10 || intClaim(t, c, "company_id") != 1 ||
			intClaim(t, c, "exp") != p.ExpiresIn || intClaim(t, c, "iat") != now.Unix() || intClaim(t, c, "nbf") != now.Unix() {
			t.Fatalf("access claims %v", c)
		}
		rc := dialecttest.Claims(t, p.Refresh)
		if intClaim(t, rc, "exp") != p.RefreshExpires || rc["sid"] != c["sid"] || intClaim(t, rc, "uid") != 10 {
			t.Fatalf("refresh claims %v", rc)
		}
		// The access token verifies with the configured secret, as the
		// legacy service's did.
		if _, err := jwt.ParseString(p.Access, jwt.WithKey(jwa.HS256, []byte(testSecret)), jwt.WithClock(jwt.ClockFunc(tg.Clock.Now))); err != nil {
			t.Fatalf("access token does not verify with the secret: %v", err)
		}
	})
}

func TestMMMRefreshRotationAndGrace(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		tg := start(t, store, "")
		p := tg.login(t)
		tg.Clock.Advance(time.Minute)
		r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if r.Str(t, "code") != "00000" {
			t.Fatalf("refresh: %s", r.Raw)
		}
		p2 := readPair(t, r)
		if p2.Refresh == p.Refresh || p2.RefreshExpires != tg.Clock.Now().Add(24*time.Hour).Unix() {
			t.Fatalf("refresh did not rotate: %+v", p2)
		}
		// A lost response: the old token within the grace window gets the
		// very same pair.
		tg.Clock.Advance(5 * time.Second)
		r = tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if again := readPair(t, r); again != p2 {
			t.Fatalf("grace replay gave %+v, want the same pair %+v", again, p2)
		}
		if _, seen := tg.Protected(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p2.Access}); seen == nil {
			t.Fatal("new access token refused")
		}
		// After the grace window the old token is a stolen one: the
		// session dies, the thief's and the owner's tokens alike.
		tg.Clock.Advance(10 * time.Second)
		r = tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if r.Str(t, "code") != "10017" || r.Status != 200 {
			t.Fatalf("reuse after grace = %d %s, want 10017", r.Status, r.Raw)
		}
		r, _ = tg.Protected(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p2.Access})
		if r.Str(t, "code") != "10014" {
			t.Fatalf("access token of a revoked session = %s, want 10014", r.Raw)
		}
		r = tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p2.Refresh}, "")
		if r.Str(t, "code") != "10014" {
			t.Fatalf("successor of a reused token = %s, want 10014", r.Raw)
		}
	})
}

func TestMMMExpiredAccessAnswers10026WithFreshPair(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		tg := start(t, store, "")
		p := tg.login(t)
		h := map[string]string{"x-mmm-accesstoken": p.Access, "x-mmm-refreshtoken": p.Refresh}
		// Used once while fresh, so a verified-token cache has seen it.
		if r, seen := tg.Protected(t, "/v1/orders", h); seen == nil {
			t.Fatalf("fresh token: %s", r.Raw)
		}
		tg.Clock.Advance(31 * time.Minute)
		r := tg.Do(t, "GET", "/v1/orders", h, "")
		if r.Status != 200 || r.Str(t, "code") != "10026" {
			t.Fatalf("expired access = %d %s, want 10026", r.Status, r.Raw)
		}
		fresh := readPair(t, r)
		if fresh.ExpiresIn != tg.Clock.Now().Add(30*time.Minute).Unix() {
			t.Fatalf("fresh pair expires %d", fresh.ExpiresIn)
		}
		// The client swaps its headers and retries.
		if r, seen := tg.Protected(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": fresh.Access, "x-mmm-refreshtoken": fresh.Refresh}); seen == nil {
			t.Fatalf("retry with the fresh pair: %s", r.Raw)
		}
		// Without a refresh token there is nothing to refresh with.
		r = tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access}, "")
		if r.Str(t, "code") != "10024" {
			t.Fatalf("expired access, no refresh = %s, want 10024", r.Raw)
		}
		// Another session's refresh token is not accepted with it.
		other := tg.login(t)
		r = tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access, "x-mmm-refreshtoken": other.Refresh}, "")
		if r.Str(t, "code") != "10016" {
			t.Fatalf("mismatched refresh = %s, want 10016", r.Raw)
		}
	})
}

func TestMMMExpiredRefreshAnswers10024(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		tg := start(t, store, "")
		p := tg.login(t)
		tg.Clock.Advance(24*time.Hour + time.Second)
		r := tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access, "x-mmm-refreshtoken": p.Refresh}, "")
		if r.Str(t, "code") != "10024" {
			t.Fatalf("both expired on a route = %s, want 10024", r.Raw)
		}
		r = tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if r.Str(t, "code") != "10024" {
			t.Fatalf("expired refresh = %s, want 10024", r.Raw)
		}
	})
}

func TestMMMChangeCompany(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		tg := start(t, store, "")
		p := tg.login(t)
		h := map[string]string{"x-mmm-accesstoken": p.Access}
		r := tg.Do(t, "POST", "/v1/auth/change_company", h, `{"company_id": 2}`)
		if r.Str(t, "code") != "00000" {
			t.Fatalf("change to 2: %s", r.Raw)
		}
		p2 := readPair(t, r)
		if intClaim(t, dialecttest.Claims(t, p2.Access), "company_id") != 2 || intClaim(t, dialecttest.Claims(t, p2.Refresh), "company_id") != 2 {
			t.Fatal("new pair does not carry company 2")
		}
		if r, seen := tg.Protected(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p2.Access}); seen == nil || seen.Company != "2" {
			t.Fatalf("identity after the switch = %+v (%s)", seen, r.Raw)
		}
		// The refresh token issued before the switch no longer works.
		r = tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if r.Str(t, "code") != "10014" {
			t.Fatalf("pre-switch refresh = %s, want 10014", r.Raw)
		}
		r = tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p2.Refresh}, "")
		if p3 := readPair(t, r); intClaim(t, dialecttest.Claims(t, p3.Access), "company_id") != 2 {
			t.Fatal("refresh lost the company")
		}
		for _, body := range []string{`{"company_id": 3}`, `{"company_id": 5}`, `{"company_id": 0}`} {
			r = tg.Do(t, "POST", "/v1/auth/change_company", map[string]string{"x-mmm-accesstoken": p2.Access}, body)
			if r.Str(t, "code") != "10004" {
				t.Errorf("change to foreign company %s = %s, want 10004", body, r.Raw)
			}
		}
		r = tg.Do(t, "POST", "/v1/auth/change_company", nil, `{"company_id": 2}`)
		if r.Str(t, "code") != "10011" {
			t.Fatalf("change without token = %s, want 10011", r.Raw)
		}
	})
}

func TestMMMTokenRefusals(t *testing.T) {
	tg := start(t, "memory", "")
	p := tg.login(t)
	forged, err := jwt.NewBuilder().Issuer("mmm_oppmg").Expiration(tg.Clock.Now().Add(time.Hour)).
		Claim("uid", 1).Claim("company_id", 1).Claim("sid", "x").Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := jwt.Sign(forged, jwt.WithKey(jwa.HS256, []byte("another-key-another-key-another-key!!")))
	cases := []struct {
		name, token, code string
	}{
		{"missing", "", "10011"},
		{"malformed", "not-a-jwt", "10012"},
		{"garbage segments", "a.b.c", "10012"},
		{"bad signature", string(signed), "10013"},
		{"refresh token as access", p.Refresh, "10013"},
	}
	for _, c := range cases {
		h := map[string]string{}
		if c.token != "" {
			h["x-mmm-accesstoken"] = c.token
		}
		r := tg.Do(t, "GET", "/v1/orders", h, "")
		if r.Status != 200 || r.Str(t, "code") != c.code {
			t.Errorf("%s: %d %s, want 200 %s", c.name, r.Status, r.Raw, c.code)
		}
		if _, ok := r.Body["data"]; !ok {
			t.Errorf("%s: envelope lacks data: %s", c.name, r.Raw)
		}
	}
	r := tg.Do(t, "GET", "/v1/auth/refresh_token", nil, "")
	if r.Str(t, "code") != "10015" {
		t.Errorf("refresh without header = %s, want 10015", r.Raw)
	}
	r = tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Access}, "")
	if r.Str(t, "code") != "10016" {
		t.Errorf("access token as refresh = %s, want 10016", r.Raw)
	}
	// Logout revokes: the still-unexpired access token stops working.
	r = tg.Do(t, "POST", "/v1/auth/logout", map[string]string{"x-mmm-accesstoken": p.Access}, "")
	if r.Str(t, "code") != "00000" {
		t.Fatalf("logout = %s", r.Raw)
	}
	r = tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access}, "")
	if r.Str(t, "code") != "10014" {
		t.Fatalf("after logout = %s, want 10014", r.Raw)
	}
}

func TestMMMBadInput(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		tg := start(t, store, "")
		cases := []struct {
			name, method, body string
			status             int
			code, msgHas       string
		}{
			{"malformed json", "POST", `{"account":"demo",`, 400, "10001", "not valid JSON"},
			{"empty body", "POST", ``, 400, "10001", "empty"},
			{"array", "POST", `["demo"]`, 400, "10001", "JSON object"},
			{"wrong type", "POST", `{"account":"demo","password":123}`, 400, "10001", `"password" must be a string, not number`},
			{"missing password", "POST", `{"account":"demo"}`, 400, "10001", "required"},
			{"trailing data", "POST", `{"account":"demo","password":"demo123"} {}`, 400, "10001", "after the JSON"},
			{"oversized", "POST", `{"account":"` + strings.Repeat("a", 70<<10) + `","password":"x"}`, 413, "10002", ""},
			{"wrong password", "POST", `{"account":"demo","password":"nope"}`, 200, "10003", ""},
			{"unknown account", "POST", `{"account":"ghost","password":"demo123"}`, 200, "10003", ""},
			{"wrong method", "GET", ``, 405, "10005", ""},
		}
		for _, c := range cases {
			r := tg.Do(t, c.method, "/auth/login", nil, c.body)
			if r.Status != c.status || r.Str(t, "code") != c.code {
				t.Errorf("%s: %d %s, want %d %s", c.name, r.Status, r.Raw, c.status, c.code)
				continue
			}
			if msg, _ := r.Body["msg"].(string); !strings.Contains(msg, c.msgHas) {
				t.Errorf("%s: msg %q lacks %q", c.name, msg, c.msgHas)
			}
		}
		p := tg.login(t)
		for _, body := range []string{`{"company_id":"2"}`, `{}`, `{"company_id":2.5}`, `nope`} {
			r := tg.Do(t, "POST", "/v1/auth/change_company", map[string]string{"x-mmm-accesstoken": p.Access}, body)
			if r.Status != 400 || r.Str(t, "code") != "10001" {
				t.Errorf("change_company %s = %d %s, want 400 10001", body, r.Status, r.Raw)
			}
		}
		// Nothing half-written: the failures above created no session, so
		// the first login's refresh token is still the only one and works.
		r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if r.Str(t, "code") != "00000" {
			t.Fatalf("refresh after bad input = %s", r.Raw)
		}
	})
}

func TestMMMLoginRateLimit(t *testing.T) {
	tg := start(t, "memory", "login_limit: 3\nlogin_window: 1m\n")
	for i := range 3 {
		if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"bad"}`); r.Str(t, "code") != "10003" {
			t.Fatalf("attempt %d: %s", i, r.Raw)
		}
	}
	r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`)
	if r.Status != 429 || r.Str(t, "code") != "10029" || r.Header.Get("Retry-After") != "60" {
		t.Fatalf("over the limit = %d %s Retry-After %q, want 429 10029 60", r.Status, r.Raw, r.Header.Get("Retry-After"))
	}
	tg.Clock.Advance(time.Minute)
	if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`); r.Str(t, "code") != "00000" {
		t.Fatalf("after the window: %s", r.Raw)
	}
}

// TestMMMConcurrentRefreshAcrossReplicas fires one refresh token from many
// clients at two replicas sharing Redis: every client gets the same new
// pair and the session survives.

// FuzzAuthenticate: whatever a client puts in the two token headers, the
// request passes only with the access token this instance issued, and
// every refusal carries a reason for the metrics.
func FuzzAuthenticate(f *testing.F) {
	e := start(f, "memory", "")
	p := e.login(f)
	f.Add(p.Access, "")
	f.Add(p.Access, p.Refresh)
	f.Add("a.b.c", p.Refresh)
	f.Add(p.Refresh, p.Access)
	f.Add(" "+p.Access+"\t", "")
	f.Fuzz(func(t *testing.T, access, refresh string) {
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header["X-Mmm-Accesstoken"] = []string{access}
		req.Header["X-Mmm-Refreshtoken"] = []string{refresh}
		id, err := e.Dialect.Authenticate(req)
		if err == nil && (strings.TrimSpace(access) != p.Access || id.Subject != "10") {
			t.Fatalf("passed with access %q: %+v", access, id)
		}
		if reason := dialects.Reason(err); err != nil && (reason == "error" || reason == "store_unavailable") {
			t.Fatalf("refusal without a reason: %v", err)
		}
	})
}

// TestGraceReplayNeverHandsBackAnExpiredAccessToken: with an access token
// shorter-lived than the grace window, a replay within grace gets the
// successor's refresh token and an access token that is alive.
func TestGraceReplayNeverHandsBackAnExpiredAccessToken(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		tg := start(t, store, "access_ttl: 3s\nrefresh_grace: 10s\n")
		p := tg.login(t)
		r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		p2 := readPair(t, r)
		tg.Clock.Advance(5 * time.Second) // p2's access token has expired; the grace has not
		h := map[string]string{"x-mmm-accesstoken": p.Access, "x-mmm-refreshtoken": p.Refresh}
		r = tg.Do(t, "GET", "/v1/orders", h, "")
		if r.Str(t, "code") != "10026" {
			t.Fatalf("expired access with the rotated refresh token = %s, want 10026", r.Raw)
		}
		again := readPair(t, r)
		if again.Refresh != p2.Refresh || again.RefreshExpires != p2.RefreshExpires {
			t.Fatalf("replay gave another refresh token than the successor")
		}
		if again.ExpiresIn <= tg.Clock.Now().Unix() || again.Access == p2.Access {
			t.Fatalf("replay handed back an access token expiring at %d (now %d)", again.ExpiresIn, tg.Clock.Now().Unix())
		}
		if r, id := tg.Protected(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": again.Access}); id == nil {
			t.Fatalf("the renewed access token is refused: %s", r.Raw)
		}
		// Within the successor's own lifetime the replay is the pair itself.
		tg2 := start(t, store, "refresh_grace: 10s\n")
		q := tg2.login(t)
		q2 := readPair(t, tg2.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": q.Refresh}, ""))
		tg2.Clock.Advance(5 * time.Second)
		if q3 := readPair(t, tg2.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": q.Refresh}, "")); q3 != q2 {
			t.Fatalf("replay of a live pair = %+v, want %+v", q3, q2)
		}
	})
}
