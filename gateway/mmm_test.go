package gateway_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var c map[string]any
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	head, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if !strings.Contains(string(head), `"alg":"HS256"`) {
		t.Fatalf("header %s, want HS256", head)
	}
	return c
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
	forEachStore(t, func(t *testing.T, store string) {
		tg := startGateway(t, gwOptions{store: store})
		now := tg.clock.Now()
		r := tg.do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`)
		if r.status != 200 || r.code(t) != "00000" || r.body["msg"] != "成功" {
			t.Fatalf("login = %d %s", r.status, r.raw)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		p := readPair(t, r)
		if p.ExpiresIn != now.Add(30*time.Minute).Unix() || p.RefreshExpires != now.Add(24*time.Hour).Unix() {
			t.Fatalf("expiries %d %d, want absolute unix seconds now+30m, now+24h (%d)", p.ExpiresIn, p.RefreshExpires, now.Unix())
		}
		c := claimsOf(t, p.Access)
		for _, k := range []string{"exp", "iat", "iss", "nbf", "uid", "company_id", "sid"} {
			if _, ok := c[k]; !ok {
				t.Errorf("access token lacks claim %s: %v", k, c)
			}
		}
		if c["iss"] != "mmm_oppmg" || intClaim(t, c, "uid") != 10 || intClaim(t, c, "company_id") != 1 ||
			intClaim(t, c, "exp") != p.ExpiresIn || intClaim(t, c, "iat") != now.Unix() || intClaim(t, c, "nbf") != now.Unix() {
			t.Fatalf("access claims %v", c)
		}
		rc := claimsOf(t, p.Refresh)
		if intClaim(t, rc, "exp") != p.RefreshExpires || rc["sid"] != c["sid"] || intClaim(t, rc, "uid") != 10 {
			t.Fatalf("refresh claims %v", rc)
		}
		// The access token verifies with the configured secret, as the
		// legacy service's did.
		if _, err := jwt.ParseString(p.Access, jwt.WithKey(jwa.HS256, []byte(testSecret)), jwt.WithClock(jwt.ClockFunc(tg.clock.Now))); err != nil {
			t.Fatalf("access token does not verify with the secret: %v", err)
		}
	})
}

func TestMMMProtectedRouteSetsIdentityAndStripsSpoofing(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		tg := startGateway(t, gwOptions{store: store})
		p := tg.login(t)
		r, seen := tg.echo(t, "/v1/orders?page=2", map[string]string{
			"x-mmm-accesstoken":  p.Access,
			"x-mmm-refreshtoken": p.Refresh,
			"X-Auth-User-Id":     "1",
			"x-auth-company-id":  "999",
			"X_Auth_User_Id":     "1",
			"X-Auth-Admin":       "true",
			"X-Auth-Dialect":     "none",
		})
		if seen == nil {
			t.Fatalf("protected call: %d %s", r.status, r.raw)
		}
		want := map[string]string{"X-Auth-User-Id": "10", "X-Auth-Company-Id": "1", "X-Auth-Dialect": "mmm"}
		for k, v := range want {
			if got := seen[k]; len(got) != 1 || got[0] != v {
				t.Errorf("upstream %s = %v, want exactly [%s]", k, got, v)
			}
		}
		if sid := seen["X-Auth-Session-Id"]; len(sid) != 1 || sid[0] != claimsOf(t, p.Access)["sid"] {
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

func TestMMMRefreshRotationAndGrace(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		tg := startGateway(t, gwOptions{store: store})
		p := tg.login(t)
		tg.clock.Advance(time.Minute)
		r := tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if r.code(t) != "00000" {
			t.Fatalf("refresh: %s", r.raw)
		}
		p2 := readPair(t, r)
		if p2.Refresh == p.Refresh || p2.RefreshExpires != tg.clock.Now().Add(24*time.Hour).Unix() {
			t.Fatalf("refresh did not rotate: %+v", p2)
		}
		// A lost response: the old token within the grace window gets the
		// very same pair.
		tg.clock.Advance(5 * time.Second)
		r = tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if again := readPair(t, r); again != p2 {
			t.Fatalf("grace replay gave %+v, want the same pair %+v", again, p2)
		}
		if _, seen := tg.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p2.Access}); seen == nil {
			t.Fatal("new access token refused")
		}
		// After the grace window the old token is a stolen one: the
		// session dies, the thief's and the owner's tokens alike.
		tg.clock.Advance(10 * time.Second)
		r = tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if r.code(t) != "10017" || r.status != 200 {
			t.Fatalf("reuse after grace = %d %s, want 10017", r.status, r.raw)
		}
		r, _ = tg.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p2.Access})
		if r.code(t) != "10014" {
			t.Fatalf("access token of a revoked session = %s, want 10014", r.raw)
		}
		r = tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p2.Refresh}, "")
		if r.code(t) != "10014" {
			t.Fatalf("successor of a reused token = %s, want 10014", r.raw)
		}
	})
}

func TestMMMExpiredAccessAnswers10026WithFreshPair(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		tg := startGateway(t, gwOptions{store: store})
		p := tg.login(t)
		h := map[string]string{"x-mmm-accesstoken": p.Access, "x-mmm-refreshtoken": p.Refresh}
		// Used once while fresh, so a verified-token cache has seen it.
		if r, seen := tg.echo(t, "/v1/orders", h); seen == nil {
			t.Fatalf("fresh token: %s", r.raw)
		}
		tg.clock.Advance(31 * time.Minute)
		r := tg.do(t, "GET", "/v1/orders", h, "")
		if r.status != 200 || r.code(t) != "10026" {
			t.Fatalf("expired access = %d %s, want 10026", r.status, r.raw)
		}
		fresh := readPair(t, r)
		if fresh.ExpiresIn != tg.clock.Now().Add(30*time.Minute).Unix() {
			t.Fatalf("fresh pair expires %d", fresh.ExpiresIn)
		}
		// The client swaps its headers and retries.
		if r, seen := tg.echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": fresh.Access, "x-mmm-refreshtoken": fresh.Refresh}); seen == nil {
			t.Fatalf("retry with the fresh pair: %s", r.raw)
		}
		// Without a refresh token there is nothing to refresh with.
		r = tg.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access}, "")
		if r.code(t) != "10024" {
			t.Fatalf("expired access, no refresh = %s, want 10024", r.raw)
		}
		// Another session's refresh token is not accepted with it.
		other := tg.login(t)
		r = tg.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access, "x-mmm-refreshtoken": other.Refresh}, "")
		if r.code(t) != "10016" {
			t.Fatalf("mismatched refresh = %s, want 10016", r.raw)
		}
	})
}

func TestMMMExpiredRefreshAnswers10024(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		tg := startGateway(t, gwOptions{store: store})
		p := tg.login(t)
		tg.clock.Advance(24*time.Hour + time.Second)
		r := tg.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access, "x-mmm-refreshtoken": p.Refresh}, "")
		if r.code(t) != "10024" {
			t.Fatalf("both expired on a route = %s, want 10024", r.raw)
		}
		r = tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if r.code(t) != "10024" {
			t.Fatalf("expired refresh = %s, want 10024", r.raw)
		}
	})
}

func TestMMMChangeCompany(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		tg := startGateway(t, gwOptions{store: store})
		p := tg.login(t)
		h := map[string]string{"x-mmm-accesstoken": p.Access}
		r := tg.do(t, "POST", "/v1/auth/change_company", h, `{"company_id": 2}`)
		if r.code(t) != "00000" {
			t.Fatalf("change to 2: %s", r.raw)
		}
		p2 := readPair(t, r)
		if intClaim(t, claimsOf(t, p2.Access), "company_id") != 2 || intClaim(t, claimsOf(t, p2.Refresh), "company_id") != 2 {
			t.Fatal("new pair does not carry company 2")
		}
		if _, seen := tg.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p2.Access}); seen == nil || seen["X-Auth-Company-Id"][0] != "2" {
			t.Fatalf("upstream company = %v", seen["X-Auth-Company-Id"])
		}
		// The refresh token issued before the switch no longer works.
		r = tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if r.code(t) != "10014" {
			t.Fatalf("pre-switch refresh = %s, want 10014", r.raw)
		}
		r = tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p2.Refresh}, "")
		if p3 := readPair(t, r); intClaim(t, claimsOf(t, p3.Access), "company_id") != 2 {
			t.Fatal("refresh lost the company")
		}
		for _, body := range []string{`{"company_id": 3}`, `{"company_id": 5}`, `{"company_id": 0}`} {
			r = tg.do(t, "POST", "/v1/auth/change_company", map[string]string{"x-mmm-accesstoken": p2.Access}, body)
			if r.code(t) != "10004" {
				t.Errorf("change to foreign company %s = %s, want 10004", body, r.raw)
			}
		}
		r = tg.do(t, "POST", "/v1/auth/change_company", nil, `{"company_id": 2}`)
		if r.code(t) != "10011" {
			t.Fatalf("change without token = %s, want 10011", r.raw)
		}
	})
}

func TestMMMTokenRefusals(t *testing.T) {
	tg := startGateway(t, gwOptions{})
	p := tg.login(t)
	forged, err := jwt.NewBuilder().Issuer("mmm_oppmg").Expiration(tg.clock.Now().Add(time.Hour)).
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
		r := tg.do(t, "GET", "/v1/orders", h, "")
		if r.status != 200 || r.code(t) != c.code {
			t.Errorf("%s: %d %s, want 200 %s", c.name, r.status, r.raw, c.code)
		}
		if _, ok := r.body["data"]; !ok {
			t.Errorf("%s: envelope lacks data: %s", c.name, r.raw)
		}
	}
	r := tg.do(t, "GET", "/v1/auth/refresh_token", nil, "")
	if r.code(t) != "10015" {
		t.Errorf("refresh without header = %s, want 10015", r.raw)
	}
	r = tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Access}, "")
	if r.code(t) != "10016" {
		t.Errorf("access token as refresh = %s, want 10016", r.raw)
	}
	// Logout revokes: the still-unexpired access token stops working.
	r = tg.do(t, "POST", "/v1/auth/logout", map[string]string{"x-mmm-accesstoken": p.Access}, "")
	if r.code(t) != "00000" {
		t.Fatalf("logout = %s", r.raw)
	}
	r = tg.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access}, "")
	if r.code(t) != "10014" {
		t.Fatalf("after logout = %s, want 10014", r.raw)
	}
}

func TestMMMBadInput(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		tg := startGateway(t, gwOptions{store: store})
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
			r := tg.do(t, c.method, "/auth/login", nil, c.body)
			if r.status != c.status || r.code(t) != c.code {
				t.Errorf("%s: %d %s, want %d %s", c.name, r.status, r.raw, c.status, c.code)
				continue
			}
			if msg, _ := r.body["msg"].(string); !strings.Contains(msg, c.msgHas) {
				t.Errorf("%s: msg %q lacks %q", c.name, msg, c.msgHas)
			}
		}
		p := tg.login(t)
		for _, body := range []string{`{"company_id":"2"}`, `{}`, `{"company_id":2.5}`, `nope`} {
			r := tg.do(t, "POST", "/v1/auth/change_company", map[string]string{"x-mmm-accesstoken": p.Access}, body)
			if r.status != 400 || r.code(t) != "10001" {
				t.Errorf("change_company %s = %d %s, want 400 10001", body, r.status, r.raw)
			}
		}
		// Nothing half-written: the failures above created no session, so
		// the first login's refresh token is still the only one and works.
		r := tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		if r.code(t) != "00000" {
			t.Fatalf("refresh after bad input = %s", r.raw)
		}
	})
}

func TestMMMLoginRateLimit(t *testing.T) {
	tg := startGateway(t, gwOptions{mmm: "    login_limit: 3\n    login_window: 1m\n"})
	for i := range 3 {
		if r := tg.do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"bad"}`); r.code(t) != "10003" {
			t.Fatalf("attempt %d: %s", i, r.raw)
		}
	}
	r := tg.do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`)
	if r.status != 429 || r.code(t) != "10029" || r.header.Get("Retry-After") != "60" {
		t.Fatalf("over the limit = %d %s Retry-After %q, want 429 10029 60", r.status, r.raw, r.header.Get("Retry-After"))
	}
	tg.clock.Advance(time.Minute)
	if r := tg.do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`); r.code(t) != "00000" {
		t.Fatalf("after the window: %s", r.raw)
	}
}

// TestMMMConcurrentRefreshAcrossReplicas fires one refresh token from many
// clients at two replicas sharing Redis: every client gets the same new
// pair and the session survives.
func TestMMMConcurrentRefreshAcrossReplicas(t *testing.T) {
	clk := newClock()
	a := startGateway(t, gwOptions{store: "redis", clock: clk})
	b := startReplica(t, a)
	p := a.login(t)
	// A session made on one replica is honoured on the other.
	if r, seen := b.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p.Access}); seen == nil {
		t.Fatalf("replica b refused replica a's token: %s", r.raw)
	}
	const n = 12
	pairs := make([]pair, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tg := a
			if i%2 == 1 {
				tg = b
			}
			r := tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
			if c, _ := r.body["code"].(string); c != "00000" {
				t.Errorf("client %d: %s", i, r.raw)
				return
			}
			pairs[i] = readPair(t, r)
		}()
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if pairs[i] != pairs[0] {
			t.Fatalf("client %d got another pair than client 0", i)
		}
	}
	if _, seen := a.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": pairs[0].Access}); seen == nil {
		t.Fatal("the winning pair does not work")
	}
	// Revoking on one replica is seen at once on the other.
	if r := b.do(t, "POST", "/v1/auth/logout", map[string]string{"x-mmm-accesstoken": pairs[0].Access}, ""); r.code(t) != "00000" {
		t.Fatal(r.raw)
	}
	if r, _ := a.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": pairs[0].Access}); r.code(t) != "10014" {
		t.Fatalf("replica a after logout on b = %s", r.raw)
	}
}

func TestAccessLogHoldsNoSecrets(t *testing.T) {
	tg := startGateway(t, gwOptions{})
	p := tg.login(t)
	tg.echo(t, "/v1/orders?token=secret-query", map[string]string{"x-mmm-accesstoken": p.Access})
	tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
	logs := tg.logs.String()
	for _, secret := range []string{p.Access, p.Refresh, "demo123", "secret-query", testSecret} {
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
	tg := startGateway(t, gwOptions{})
	p := tg.login(t)
	tg.echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access})
	tg.echo(t, "/v1/orders", nil)
	r, err := tg.admin.Client().Get(tg.admin.URL + "/metrics")
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
		`authgate_http_requests_total{code="2xx",dialect="mmm",route="mmm-api"} 2`,
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
}
