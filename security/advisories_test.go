package security_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/legacytest"
)

// headerKey is a header name as CGI and WSGI backends read it.
func headerKey(h string) string { return strings.ToLower(strings.ReplaceAll(h, "_", "-")) }

// TestOAuth2Proxy_GHSA_vjrc_mh2v_45x6 (CVE-2025-64484): underscore
// variants of X-Forwarded-* and identity headers, which WSGI and CGI
// backends read as the dashed ones, passed oauth2-proxy's filtering. Here
// none of them reaches the upstream, on a protected route or a public
// one, and the identity is the gateway's.
func TestOAuth2Proxy_GHSA_vjrc_mh2v_45x6(t *testing.T) {
	tg := start(t, "", "")
	access, _ := tg.login(t)
	spoofed := map[string]string{
		"X_Forwarded_For": "6.6.6.6", "X_Forwarded_Host": "evil.example", "X_Forwarded_Proto": "https",
		"X_Auth_User_Id": "1", "X_Real_Ip": "6.6.6.6", "X-Forwarded-Prefix": "/evil", "X_Forwarded_Prefix": "/evil",
	}
	for _, path := range []string{"/v1/orders", "/pub/page"} {
		h := map[string]string{"X-Mmm-Accesstoken": access}
		for k, v := range spoofed {
			h[k] = v
		}
		if status, body := tg.get(t, path, h); status != 200 || refused(body) {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		seen, ok := tg.up.reached(path)
		if !ok {
			t.Fatalf("%s did not reach the upstream", path)
		}
		for k, v := range seen.Header {
			if strings.Contains(k, "_") || strings.Contains(strings.Join(v, ","), "6.6.6.6") || strings.Contains(strings.Join(v, ","), "evil") {
				t.Errorf("%s: a spoofed header reached the upstream: %s: %v", path, k, v)
			}
		}
		if path == "/v1/orders" && seen.Header.Get("X-Auth-User-Id") != "10" {
			t.Errorf("identity upstream = %q, want the gateway's 10", seen.Header.Get("X-Auth-User-Id"))
		}
	}
}

// TestOAuth2Proxy_GHSA_7x63_xv5r_3p2x (CVE-2026-40575): a client's
// X-Forwarded-Uri made oauth2-proxy match its skip-auth rules against
// another path than the one forwarded. Here routes match the request's
// own (canonical) path only; the rewrite headers are not believed, and
// not forwarded either.
func TestOAuth2Proxy_GHSA_7x63_xv5r_3p2x(t *testing.T) {
	tg := start(t, "", "")
	rewrite := map[string]string{"X-Forwarded-Uri": "/pub/x", "X-Original-Url": "/pub/x", "X-Rewrite-Url": "/pub/x", "X-Forwarded-Path": "/pub/x"}
	if status, body := tg.get(t, "/v1/orders", rewrite); !refused(body) {
		t.Fatalf("a protected path with a public X-Forwarded-Uri, no token: %d %s", status, body)
	}
	if _, ok := tg.up.reached("/v1/orders"); ok {
		t.Fatal("it reached the upstream")
	}
	tg.get(t, "/pub/x", map[string]string{"X-Forwarded-Uri": "/v1/admin"})
	if seen, _ := tg.up.reached("/pub/x"); seen == nil || seen.Header.Get("X-Forwarded-Uri") != "" {
		t.Fatalf("an untrusted X-Forwarded-Uri was forwarded: %v", seen)
	}
}

// TestOAuth2Proxy_GHSA_5hvv_m4w4_gf6v: requests with a health checker's
// User-Agent skipped oauth2-proxy's authentication. Here no header makes
// a protected route public; health endpoints live on the admin listener.
func TestOAuth2Proxy_GHSA_5hvv_m4w4_gf6v(t *testing.T) {
	tg := start(t, "", "")
	for _, ua := range []string{"kube-probe/1.30", "ELB-HealthChecker/2.0", "GoogleHC/1.0", "Consul Health Check"} {
		if status, body := tg.get(t, "/v1/orders", map[string]string{"User-Agent": ua}); !refused(body) {
			t.Errorf("User-Agent %q without a token: %d %s", ua, status, body)
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/ping", "/metrics"} {
		if status, _ := tg.get(t, p, nil); status == 200 {
			t.Errorf("%s answers 200 on the public listener", p)
		}
	}
	if _, ok := tg.up.reached("/v1/orders"); ok {
		t.Fatal("a health checker reached the protected upstream")
	}
}

// TestOAuth2Proxy_GHSA_pxq7_h93f_9jrg: a URL fragment made oauth2-proxy
// evaluate its rules against another path than the one forwarded. Here a
// fragment in the request target, raw or encoded, never turns a
// protected path into a public one.
func TestOAuth2Proxy_GHSA_pxq7_h93f_9jrg(t *testing.T) {
	tg := start(t, "", "")
	for _, target := range []string{"/v1/orders#/pub/x", "/pub/x%23/../../v1/orders", "/v1/orders%23/pub/x", "/pub/x#/../../v1/orders"} {
		status, body := tg.raw(t, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if _, ok := tg.up.reached("/v1/orders"); ok {
			t.Fatalf("%s reached the protected upstream (%d %s)", target, status, body)
		}
	}
}

// TestTraefik_GHSA_62c8_mh53_4cqv (CVE-2024-45410): a client listing
// X-Forwarded-* in its Connection header had Traefik remove them after it
// set them. Here hop-by-hop headers are dropped before the gateway sets
// its own: the upstream gets the forwarding, request id and identity
// headers whatever Connection lists.
func TestTraefik_GHSA_62c8_mh53_4cqv(t *testing.T) {
	tg := start(t, "", "")
	access, _ := tg.login(t)
	tg.get(t, "/v1/orders", map[string]string{"X-Mmm-Accesstoken": access,
		"Connection": "X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto, X-Auth-User-Id, X-Auth-Session-Id, X-Request-Id"})
	seen, ok := tg.up.reached("/v1/orders")
	if !ok {
		t.Fatal("the request did not reach the upstream")
	}
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Auth-User-Id", "X-Auth-Session-Id", "X-Request-Id"} {
		if seen.Header.Get(h) == "" {
			t.Errorf("%s was removed by the client's Connection header", h)
		}
	}
}

// TestTraefik_XForwardedPrefixUntrusted: Traefik v2.11.14 / v3.2.1 began
// dropping an untrusted X-Forwarded-Prefix (traefik/traefik#11253), which
// backends use to build URLs (redirects, links). Here every X-Forwarded-*
// the gateway does not set is dropped from a client that is no trusted
// proxy.
func TestTraefik_XForwardedPrefixUntrusted(t *testing.T) {
	tg := start(t, "", "")
	tg.get(t, "/pub/y", map[string]string{"X-Forwarded-Prefix": "/evil", "X-Forwarded-Port": "1", "X-Forwarded-Server": "evil", "Forwarded": "for=6.6.6.6;host=evil"})
	seen, ok := tg.up.reached("/pub/y")
	if !ok {
		t.Fatal("the request did not reach the upstream")
	}
	for _, h := range []string{"X-Forwarded-Prefix", "X-Forwarded-Port", "X-Forwarded-Server", "Forwarded"} {
		if v := seen.Header.Get(h); v != "" {
			t.Errorf("untrusted %s reached the upstream: %q", h, v)
		}
	}
}

// TestOathkeeper_GHSA_p224_6x5r_fjpm: Oathkeeper matched its rules against
// the raw path, so /public/../admin took the public rule and reached
// /admin. Here the path is made canonical before routing: every spelling
// of a traversal into a protected prefix is refused without a token.
func TestOathkeeper_GHSA_p224_6x5r_fjpm(t *testing.T) {
	tg := start(t, "", "")
	for _, target := range []string{"/pub/../v1/orders", "/pub/%2e%2e/v1/orders", "/pub/..%2fv1/orders", "/pub/./../v1/orders", "/pub/..;/v1/orders", "//pub/../v1/orders", "/PUB/../v1/orders"} {
		status, body := tg.raw(t, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if _, ok := tg.up.reached("/v1/orders"); ok {
			t.Fatalf("%s reached the protected upstream without a token (%d %s)", target, status, body)
		}
	}
}

// TestOathkeeper_GHSA_vhr5_ggp3_qq85: Oathkeeper believed a client's
// X-Forwarded-Proto although it was not told to trust forwarded headers.
// Here only server.trusted_proxies are believed: the upstream sees the
// real protocol.
func TestOathkeeper_GHSA_vhr5_ggp3_qq85(t *testing.T) {
	tg := start(t, "", "")
	tg.get(t, "/pub/z", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "6.6.6.6", "X-Forwarded-Host": "evil.example"})
	seen, ok := tg.up.reached("/pub/z")
	if !ok {
		t.Fatal("the request did not reach the upstream")
	}
	if p, f, h := seen.Header.Get("X-Forwarded-Proto"), seen.Header.Get("X-Forwarded-For"), seen.Header.Get("X-Forwarded-Host"); p != "http" || strings.Contains(f, "6.6.6.6") || h == "evil.example" {
		t.Fatalf("untrusted forwarding believed: proto %q, for %q, host %q", p, f, h)
	}
}

// TestOathkeeper_GHSA_4mq7_pvjg_xp2r: Oathkeeper's introspection cache did
// not tell introspection servers apart, so a token primed at one passed
// at another. Here introspection answers are never cached: each dialect
// instance asks its own legacy service, every time.
func TestOathkeeper_GHSA_4mq7_pvjg_xp2r(t *testing.T) {
	clock := time.Now
	one, two := legacytest.Start(t, clock), legacytest.Start(t, clock)
	apps, err := filepath.Abs("../deploy/demo/apps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	block := func(name, url, prefix string) string {
		return "  " + name + ":\n    type: appkey\n    secret: security-suite-appkey-key-0123456789\n    apps_file: " + apps +
			"\n    login_path: " + prefix + "/login\n    refresh_path: " + prefix + "/refresh\n    legacy:\n      introspect:\n        url: " + url + "/introspect\n"
	}
	tg := start(t, block("one", one.URL, "/one")+block("two", two.URL, "/two"), "")
	tok := one.IssueOpaque("demo-app", time.Hour)
	post := func(path string) int {
		resp, err := http.Post("http://"+tg.addr+path+"?refreshToken="+tok, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post("/one/refresh"); s != 200 {
		t.Fatalf("the token at the service that issued it: %d", s)
	}
	if s := post("/two/refresh"); s != 401 {
		t.Fatalf("the token primed at one service, at another's instance: %d, want 401", s)
	}
	if two.Introspections() != 1 {
		t.Fatalf("the second instance did not ask its own service (%d calls)", two.Introspections())
	}
}

// TestPomerium_CVE_2024_47616: Pomerium accepted a JWT issued for one
// purpose (a service account's) where another was required. Here every
// token is valid for its one purpose: a refresh token is no access token,
// and a genuine token whose session this gateway's store does not hold is
// refused.
func TestPomerium_CVE_2024_47616(t *testing.T) {
	tg := start(t, "", "")
	_, refresh := tg.login(t)
	if status, body := tg.get(t, "/v1/orders", map[string]string{"X-Mmm-Accesstoken": refresh}); !refused(body) {
		t.Fatalf("a refresh token as an access token: %d %s", status, body)
	}
	// Another gateway with the same key but its own store: its token's
	// session is not this one's.
	other := start(t, "", "")
	access, _ := other.login(t)
	if status, body := tg.get(t, "/v1/orders", map[string]string{"X-Mmm-Accesstoken": access}); !refused(body) {
		t.Fatalf("a token whose session this gateway's store does not hold: %d %s", status, body)
	}
}

// TestEnvoy_CVE_2023_27487 (GHSA-5375-pq35-hf2g): Envoy kept a client's
// copy of a header that should have been its own (x-envoy-original-path)
// and believed it. Here the gateway's own headers — every X-Auth-* — are
// removed from what a client sends, on protected and public routes, and
// set only by the gateway.
func TestEnvoy_CVE_2023_27487(t *testing.T) {
	tg := start(t, "", "")
	access, _ := tg.login(t)
	own := map[string]string{"X-Auth-Session-Id": "forged-session", "X-Auth-Dialect": "admin", "X-Auth-Company-Id": "999", "X-Auth-Roles": "admin"}
	for _, path := range []string{"/v1/a", "/pub/a"} {
		h := map[string]string{"X-Mmm-Accesstoken": access}
		for k, v := range own {
			h[k] = v
		}
		tg.get(t, path, h)
		seen, ok := tg.up.reached(path)
		if !ok {
			t.Fatalf("%s did not reach the upstream", path)
		}
		for k, v := range own {
			if seen.Header.Get(k) == v {
				t.Errorf("%s: the client's %s reached the upstream", path, k)
			}
		}
	}
}

// TestEnvoy_CVE_2024_45806 (GHSA-ffhv-fvxq-r6mf): Envoy took every
// private (RFC 1918) address for an internal, trusted peer by default.
// Here no peer is trusted by default, loopback and private ones
// included: their X-Forwarded-For is not believed.
func TestEnvoy_CVE_2024_45806(t *testing.T) {
	tg := start(t, "", "")
	tg.get(t, "/pub/xff", map[string]string{"X-Forwarded-For": "10.0.0.1"})
	seen, ok := tg.up.reached("/pub/xff")
	if !ok {
		t.Fatal("the request did not reach the upstream")
	}
	if got := seen.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Fatalf("X-Forwarded-For upstream = %q, want only the peer (127.0.0.1)", got)
	}
}

// TestEnvoy_CVE_2024_45808 (GHSA-p222-xhp9-39rc): request values written
// to Envoy's access log could forge log lines. Here a client's request id
// is kept only when short and plain; anything else is replaced, in the
// answer, upstream and the log alike (which is JSON, one line a request).
func TestEnvoy_CVE_2024_45808(t *testing.T) {
	tg := start(t, "", "")
	forged := "x\"}\n{\"level\":\"ERROR\",\"msg\":\"forged"
	req, _ := http.NewRequest("GET", "http://"+tg.addr+"/pub/log", nil)
	req.Header["X-Request-Id"] = []string{strings.ReplaceAll(forged, "\n", " ")}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen, _ := tg.up.reached("/pub/log")
	for _, got := range []string{resp.Header.Get("X-Request-Id"), seen.Header.Get("X-Request-Id")} {
		if got == "" || strings.ContainsAny(got, "\"{} \n") {
			t.Fatalf("request id %q: the client's forged id was kept", got)
		}
	}
}

// TestEnvoy_CVE_2023_27493 (GHSA-w5w5-487h-qv8q): Envoy put request
// properties into upstream headers unescaped, so a CR LF in one made the
// upstream read two requests. Here identity headers come from the
// directory; a value holding CR LF (a user's bo role) never becomes a
// header of its own upstream: the request is refused as an internal
// error (the directory's value is at fault), not forwarded.
func TestEnvoy_CVE_2023_27493(t *testing.T) {
	raw, err := os.ReadFile("../deploy/demo/users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(t.TempDir(), "users.yaml")
	evil := strings.Replace(string(raw), "role_id: [development]", `role_id: ["development\r\nX-Evil: 1"]`, 1)
	if err := os.WriteFile(users, []byte(evil), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := startWith(t, users, "  bo:\n    type: bov3\n    secret: security-suite-bov3-key-0123456789ab\n    verify_api:\n      enforcement: \"off\"\n",
		"  - name: bo\n    path_prefix: /bo/api/v3/\n    dialects: [bo]\n    upstream: UPSTREAM\n")
	req, _ := http.NewRequest("POST", "http://"+tg.addr+"/bo/api/v3/auth/login", strings.NewReader(`{"userName":"demo","password":"demo123"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("XownerId", "p1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		Data struct {
			AccessToken string `json:"accessToken"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if login.Data.AccessToken == "" {
		t.Fatalf("bov3 login: %d", resp.StatusCode)
	}
	status, body := tg.get(t, "/bo/api/v3/orders", map[string]string{"Authorization": "Bearer " + login.Data.AccessToken, "XownerId": "p1"})
	if seen, reached := tg.up.reached("/bo/api/v3/orders"); reached {
		t.Fatalf("a request whose identity holds CR LF was forwarded (X-Evil %q)", seen.Header.Get("X-Evil"))
	}
	if status != 500 || !strings.Contains(body, `"code":50000`) {
		t.Fatalf("answered %d %s, want bov3's internal error (the directory's value, not the upstream, is at fault)", status, body)
	}
}

// stripRoute is a public route whose prefix is stripped before
// forwarding, for the advisories about prefix stripping.
const stripRoute = "  - name: strip\n    path_prefix: /strip/\n    public: true\n    strip_prefix: /strip\n    upstream: UPSTREAM\n"

// unauthenticatedReach fails the test when any of targets, sent raw
// without a token, reaches the protected upstream path /v1/orders.
func unauthenticatedReach(t *testing.T, tg *target, targets ...string) {
	t.Helper()
	for _, target := range targets {
		status, body := tg.raw(t, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if _, ok := tg.up.reached("/v1/orders"); ok {
			t.Fatalf("%s reached the protected upstream without a token (%d %s)", target, status, body)
		}
	}
}

// TestTraefik_CVE_2025_32431 (GHSA-6p68-w45g-48j7): a /../ in the path
// matched one router and reached another's backend, past its middlewares;
// its first fix missed the percent-encoded dots (traefik/traefik#11746).
func TestTraefik_CVE_2025_32431(t *testing.T) {
	tg := start(t, "", stripRoute)
	unauthenticatedReach(t, tg, "/pub/../v1/orders", "/pub/%2e%2e/v1/orders", "/pub/%2E%2E/v1/orders", "/pub/.%2e/v1/orders", "/strip/../v1/orders")
}

// TestTraefik_GHSA_vrch_868g_9jx5 and GHSA-gm3x-23wp-hc2c: an encoded
// string in the path, then an encoded restricted character ('/', '\',
// NUL, ';', '?', '#'), matched one router and reached another's backend.
// Here such paths are refused (400) or read as the backend reads them,
// one canonical path matched and forwarded.
func TestTraefik_GHSA_vrch_868g_9jx5_gm3x_23wp_hc2c(t *testing.T) {
	tg := start(t, "", stripRoute)
	unauthenticatedReach(t, tg,
		"/pub%2f..%2fv1/orders", "/pub/..%2fv1/orders", "/pub/%2f%2e%2e/v1/orders", "/pub/..%5cv1/orders", "/pub\\..\\v1/orders",
		"/pub/%00/../../v1/orders", "/pub/x%3b/../../v1/orders", "/pub/x%3f/../../v1/orders", "/pub/x%23/../../v1/orders",
		"/strip%2f..%2fv1/orders", "/v1%2forders")
}

// TestTraefik_CVE_2026_48020 (GHSA-xf64-8mw2-4gr2): a public route with
// StripPrefix matched a path with .. (or %2e%2e), which after the prefix
// was stripped and the path normalised reached a protected backend path.
// Here the path is canonical before routing and stripping alike, and the
// upstream receives exactly the stripped canonical path.
func TestTraefik_CVE_2026_48020(t *testing.T) {
	tg := start(t, "", stripRoute)
	unauthenticatedReach(t, tg, "/strip/%2e%2e/v1/orders", "/strip/../v1/orders", "/strip/./../v1/orders", "/strip/x/../../v1/orders")
	tg.raw(t, "GET /strip/a/./b/../c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if _, ok := tg.up.reached("/a/c"); !ok {
		t.Fatal("the stripped canonical path /a/c did not reach the upstream")
	}
}

// TestTraefik_CVE_2026_40912 (GHSA-6jwx-7vp4-9847) and CVE-2026-65600
// (GHSA-cxjq-mrr5-89rv): prefix stripping and path rewriting sent the
// backend a dot-segment path (/./admin, /../admin) that it resolved to a
// protected route. Here the upstream never receives a dot segment.
func TestTraefik_CVE_2026_40912_65600(t *testing.T) {
	tg := start(t, "", stripRoute)
	for _, target := range []string{"/strip/./admin/secret", "/strip/.%2e/admin", "/strip//./admin", "/pub/./x/../admin"} {
		tg.raw(t, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	}
	tg.up.mu.Lock()
	defer tg.up.mu.Unlock()
	for _, r := range tg.up.seen {
		for _, seg := range strings.Split(r.URL.Path, "/") {
			if seg == "." || seg == ".." {
				t.Errorf("the upstream received a dot segment: %q", r.URL.Path)
			}
		}
		if strings.Contains(r.URL.RawPath, "%2e") || strings.Contains(r.URL.RawPath, "%2E") {
			t.Errorf("the upstream received an encoded dot: %q", r.URL.RawPath)
		}
	}
}

// TestTraefik_CVE_2026_35051 (GHSA-6384-m2mw-rf54): behind a trusted
// proxy, Traefik rebuilt X-Forwarded-For, -Host and -Proto but passed the
// client's X-Forwarded-Prefix on. Here forwarding headers the gateway
// does not build are dropped whoever sent them, a trusted proxy too.
func TestTraefik_CVE_2026_35051(t *testing.T) {
	users, err := filepath.Abs("../deploy/demo/users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tg := startServer(t, "  trusted_proxies: [\"127.0.0.1\"]\n", users, "", "")
	tg.get(t, "/pub/behind", map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
		"X-Forwarded-Prefix": "/admin", "X-Forwarded-Uri": "/admin", "Forwarded": "for=203.0.113.7", "X-Real-Ip": "203.0.113.7"})
	seen, ok := tg.up.reached("/pub/behind")
	if !ok {
		t.Fatal("the request did not reach the upstream")
	}
	if got := seen.Header.Get("X-Forwarded-For"); got != "203.0.113.7, 127.0.0.1" || seen.Header.Get("X-Forwarded-Proto") != "https" {
		t.Fatalf("the trusted chain: for %q proto %q", got, seen.Header.Get("X-Forwarded-Proto"))
	}
	for _, h := range []string{"X-Forwarded-Prefix", "X-Forwarded-Uri", "Forwarded", "X-Real-Ip"} {
		if v := seen.Header.Get(h); v != "" {
			t.Errorf("%s from behind a trusted proxy reached the upstream: %q", h, v)
		}
	}
}

// TestOAuth2Proxy_GHSA_7rh7_c77v_6434: oauth2-proxy matched its
// skip-auth patterns against the path and the query, so a query that
// looked like a public path opened a protected one. Here routes match the
// path alone.
func TestOAuth2Proxy_GHSA_7rh7_c77v_6434(t *testing.T) {
	tg := start(t, "", "")
	for _, target := range []string{"/v1/orders?/pub/", "/v1/orders?next=/pub/x", "/v1/orders?%2fpub%2f"} {
		if status, body := tg.raw(t, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !refused(body) {
			t.Errorf("%s without a token: %d %s", target, status, body)
		}
	}
	if _, ok := tg.up.reached("/v1/orders"); ok {
		t.Fatal("a query made a protected path public")
	}
}
