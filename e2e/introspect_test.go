package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/gateway/gatewaytest"
	"github.com/authgate/authgate/internal/legacytest"
)

// lateClock lets a legacy service started before the gateway read the
// gateway's clock once it exists.
type lateClock struct{ c *gatewaytest.Clock }

func (l *lateClock) Now() time.Time { return l.c.Now() }

// introspectBlock is a legacy block asking the fake legacy service, at the
// given indent.
func introspectBlock(indent, url string) string {
	return indent + "legacy:\n" + indent + "  introspect:\n" + indent + "    url: " + url + "/introspect\n"
}

// TestLegacyAppkeyExchange: an app holding the legacy service's refresh
// token refreshes through the gateway: the legacy service is asked, the
// token becomes a gateway session answered as any refresh, a second
// presentation is a reuse (appkey has no grace window by default) that
// ends it, and it is never exchanged again; tokens the legacy service
// does not know, or of a disabled app, are refused; a legacy service that
// does not answer fails closed.
func TestLegacyAppkeyExchange(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		lc := &lateClock{}
		legacy := legacytest.Start(t, lc.Now)
		e := gatewaytest.StartAppkey(t, store, introspectBlock("    ", legacy.URL))
		lc.c = e.Clock
		held := legacy.IssueOpaque("app-1", 24*time.Hour)

		// Its legacy access token is answered as expired, so it refreshes.
		if r, _ := e.Echo(t, "/api/orders", gatewaytest.Bearer(legacy.IssueOpaque("app-1", time.Hour))); r.Status != 401 || r.Body["message"] != "Access token expired" {
			t.Fatalf("a legacy access token: %d %s", r.Status, r.Raw)
		}
		r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+held, nil, "")
		if r.Status != 200 || r.Body["loginUser"] == nil {
			t.Fatalf("legacy refresh token: %d %s", r.Status, r.Raw)
		}
		access, next := r.Body["accessToken"].(string), r.Body["refreshToken"].(string)
		if !strings.HasPrefix(next, "lg-") {
			t.Fatalf("the new refresh token %q is not of the exchanged session", next)
		}
		if r, seen := e.Echo(t, "/api/orders", gatewaytest.Bearer(access)); r.Status != 200 || seen["X-Auth-App-Id"][0] != "app-1" {
			t.Fatalf("the exchanged access token: %d %s", r.Status, r.Raw)
		}
		if legacy.Introspections() != 1 {
			t.Fatalf("%d introspections for one exchange", legacy.Introspections())
		}

		if r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+held, nil, ""); r.Status != 401 {
			t.Fatalf("the legacy token presented again: %d %s", r.Status, r.Raw)
		}
		if r, _ := e.Echo(t, "/api/orders", gatewaytest.Bearer(access)); r.Status != 401 {
			t.Fatalf("the session of a reused legacy token still works: %d", r.Status)
		}
		if r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+held, nil, ""); r.Status != 401 {
			t.Fatalf("an ended legacy token was exchanged again: %d %s", r.Status, r.Raw)
		}

		if r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken=never-issued-by-legacy", nil, ""); r.Status != 401 {
			t.Errorf("a token the legacy service does not know: %d %s", r.Status, r.Raw)
		}
		if r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+legacy.IssueOpaque("app-off", time.Hour), nil, ""); r.Status != 403 {
			t.Errorf("a legacy token of a disabled app: %d %s", r.Status, r.Raw)
		}

		m := e.MetricsText(t)
		for _, want := range []string{
			`authgate_legacy_tokens_total{dialect="appkey",kind="refresh",result="exchanged"} 1`,
			`authgate_legacy_tokens_total{dialect="appkey",kind="refresh",result="refused"} 4`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s:\n%s", want, gatewaytest.GrepLines(m, "authgate_legacy"))
			}
		}

		legacy.Close()
		if r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken=unknown-while-legacy-is-down", nil, ""); r.Status != 503 {
			t.Errorf("legacy service down: %d %s, want 503", r.Status, r.Raw)
		}
	})
}

// TestLegacyAppkeyUntil: after legacy.until the legacy service is not even
// asked.
func TestLegacyAppkeyUntil(t *testing.T) {
	lc := &lateClock{}
	legacy := legacytest.Start(t, lc.Now)
	e := gatewaytest.StartAppkey(t, "memory", introspectBlock("    ", legacy.URL)+"      until: 2020-01-01\n")
	lc.c = e.Clock
	if w := e.GW.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], "dialects.appkey.legacy.until: 2020-01-01T00:00:00Z has passed") {
		t.Fatalf("warnings = %v", w)
	}
	if r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+legacy.IssueOpaque("app-1", time.Hour), nil, ""); r.Status != 401 {
		t.Fatalf("a legacy token after legacy.until: %d %s", r.Status, r.Raw)
	}
	if legacy.Introspections() != 0 {
		t.Fatal("the legacy service was asked after legacy.until")
	}
}

// TestLegacyBov3Exchange: bov3 refresh tokens do not rotate, so a genuine
// legacy one becomes the gateway session's own refresh token: answered
// with itself and a gateway access token, again and again, until the
// session ends; then it is not adopted again.
func TestLegacyBov3Exchange(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		lc := &lateClock{}
		legacy := legacytest.Start(t, lc.Now)
		tg := gatewaytest.Start(t, gatewaytest.Options{Store: store, More: `  bov3:
    type: bov3
    secret: bov3-test-signing-key-0123456789abcdef
    verify_api:
      enforcement: "off"
` + introspectBlock("    ", legacy.URL), Routes: gatewaytest.DefaultRoutes + `  - name: bo
    path_prefix: /bo/api/v3/
    dialects: [bov3]
    upstream: echo
`})
		lc.c = tg.Clock
		owner := map[string]string{"XownerId": "proj-1"}
		held := legacy.IssueOpaque("demo", 24*time.Hour)
		if r, _ := tg.Echo(t, "/bo/api/v3/orders", map[string]string{"XownerId": "proj-1", "Authorization": "Bearer legacy-access"}); r.Status != 401 || r.Body["code"] != json.Number("40102") {
			t.Fatalf("a legacy access token: %d %s, want 40102 (expired: the client refreshes)", r.Status, r.Raw)
		}
		refresh := func() gatewaytest.Reply {
			return tg.Do(t, "GET", "/bo/api/v3/auth/token/refresh?_nodejs=common-data&refreshToken="+held, owner, "")
		}
		r := refresh()
		if r.Status != 200 || r.Body["success"] != true || r.Data(t)["refreshToken"] != held {
			t.Fatalf("legacy refresh token: %d %s", r.Status, r.Raw)
		}
		access := r.Data(t)["accessToken"].(string)
		h := map[string]string{"XownerId": "proj-1", "Authorization": "Bearer " + access}
		if r, seen := tg.Echo(t, "/bo/api/v3/orders", h); r.Status != 200 || seen["X-Auth-User-Id"][0] != "ptdev" {
			t.Fatalf("the exchanged access token: %d %s", r.Status, r.Raw)
		}
		if r := refresh(); r.Status != 200 || r.Data(t)["refreshToken"] != held {
			t.Fatalf("the adopted token refreshed again: %d %s", r.Status, r.Raw)
		}
		if r := tg.Do(t, "POST", "/bo/api/v3/auth/logout", h, ""); r.Status != 200 {
			t.Fatalf("logout: %d %s", r.Status, r.Raw)
		}
		if r := refresh(); r.Status != 401 || r.Body["success"] != false {
			t.Fatalf("a logged-out legacy token was adopted again: %d %s", r.Status, r.Raw)
		}
		unknown := strings.Repeat("a", 32)
		if r := tg.Do(t, "GET", "/bo/api/v3/auth/token/refresh?_nodejs=common-data&refreshToken="+unknown, owner, ""); r.Status != 401 {
			t.Errorf("a token the legacy service does not know: %d %s", r.Status, r.Raw)
		}
		if !strings.Contains(tg.MetricsText(t), `authgate_legacy_tokens_total{dialect="bov3",kind="refresh",result="exchanged"} 1`) {
			t.Error("the exchange is not counted")
		}
	})
}

// TestLegacyMobileExchange: a mobile client holding a legacy pair
// refreshes: the legacy service vouches for the refresh token, the
// gateway answers a new access token of a session that the client goes on
// refreshing with the same refresh token.
func TestLegacyMobileExchange(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		lc := &lateClock{}
		legacy := legacytest.Start(t, lc.Now)
		e := gatewaytest.StartMobile(t, store, introspectBlock("    ", legacy.URL))
		lc.c = e.Clock
		held := legacy.IssueOpaque("13800138000", 24*time.Hour)
		device := map[string]string{"X-Device-Number": "dev-1"}
		if r, _ := e.Echo(t, "/app/orders", gatewaytest.Bearer("legacy-access-token")); r.IntCode(t) != 1203 {
			t.Fatalf("a legacy access token: %s, want 1203 (expired: the client refreshes)", r.Raw)
		}
		r := e.Do(t, "POST", "/app/auth/token/refresh", device, `{"accessToken":"legacy-access-token","refreshToken":"`+held+`"}`)
		if r.Status != 200 || r.IntCode(t) != 0 {
			t.Fatalf("legacy pair: %d %s", r.Status, r.Raw)
		}
		access := r.Data(t)["value"].(string)
		if _, ok := r.Data(t)["expire"].(string); !ok {
			t.Fatalf("expire is not a string: %s", r.Raw)
		}
		r, seen := e.Echo(t, "/app/orders", gatewaytest.Bearer(access))
		if r.Status != 200 || seen["X-Auth-User-Id"][0] != "10" || seen["X-Auth-Mobile"][0] != "13800138000" || seen["X-Auth-Device"][0] != "dev-1" {
			t.Fatalf("the exchanged access token: %d %s %v", r.Status, r.Raw, seen)
		}
		r = e.Do(t, "POST", "/app/auth/token/refresh", nil, `{"accessToken":"`+access+`","refreshToken":"`+held+`"}`)
		if r.IntCode(t) != 0 {
			t.Fatalf("refreshing the exchanged session: %s", r.Raw)
		}
		// A login on another device takes the seat: the exchanged session
		// is kicked, and a legacy token on the old device is told so.
		e.Login(t, "13800138000", "dev-2")
		if r, _ := e.Echo(t, "/app/orders", gatewaytest.Bearer(access)); r.IntCode(t) != 1204 {
			t.Fatalf("the exchanged session after a login elsewhere: %s", r.Raw)
		}
		r = e.Do(t, "POST", "/app/auth/token/refresh", device, `{"accessToken":"x","refreshToken":"`+legacy.IssueOpaque("13800138000", time.Hour)+`"}`)
		if r.IntCode(t) != 1204 {
			t.Fatalf("a legacy token of a displaced device: %s", r.Raw)
		}

		unknown := legacy.IssueOpaque("13900000000", time.Hour) // a number nobody here knows
		r = e.Do(t, "POST", "/app/auth/token/refresh", device, `{"accessToken":"x","refreshToken":"`+unknown+`"}`)
		if r.IntCode(t) != 1205 {
			t.Errorf("a legacy token of an unknown number: %s", r.Raw)
		}
		r = e.Do(t, "POST", "/app/auth/token/refresh", device, `{"accessToken":"x","refreshToken":"not-genuine"}`)
		if r.IntCode(t) != 1205 {
			t.Errorf("a token the legacy service does not know: %s", r.Raw)
		}
	})
}

// TestLegacyIntrospectionAnswers: the introspection call says it asks
// about a refresh token (token_type_hint), and its answer is read in
// full, in every dialect that introspects: a token the legacy service
// calls an access token is never exchanged; a refresh token whose answer
// says it lives until 2100 becomes a session that ends within the
// dialect's refresh_ttl, and is not exchanged again after that.
func TestLegacyIntrospectionAnswers(t *testing.T) {
	far := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	type env struct {
		clock      *gatewaytest.Clock
		metrics    func(t testing.TB) string
		exchange   func(t *testing.T, tok string) (accepted bool, next string, raw []byte)
		refreshTTL time.Duration
	}
	for _, tc := range []struct {
		dialect string
		subject string
		start   func(t *testing.T, legacyURL string) env
	}{
		{"appkey", "app-1", func(t *testing.T, url string) env {
			e := gatewaytest.StartAppkey(t, "redis", introspectBlock("    ", url))
			return env{e.Clock, e.MetricsText, func(t *testing.T, tok string) (bool, string, []byte) {
				r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+tok, nil, "")
				next, _ := r.Body["refreshToken"].(string)
				return r.Status == 200, next, r.Raw
			}, 168 * time.Hour}
		}},
		{"bov3", "demo", func(t *testing.T, url string) env {
			tg := gatewaytest.Start(t, gatewaytest.Options{Store: "redis", More: "  bov3:\n    type: bov3\n    secret: bov3-test-signing-key-0123456789abcdef\n    verify_api:\n      enforcement: \"off\"\n" +
				introspectBlock("    ", url), Routes: gatewaytest.DefaultRoutes + "  - name: bo\n    path_prefix: /bo/api/v3/\n    dialects: [bov3]\n    upstream: echo\n"})
			return env{tg.Clock, tg.MetricsText, func(t *testing.T, tok string) (bool, string, []byte) {
				r := tg.Do(t, "GET", "/bo/api/v3/auth/token/refresh?_nodejs=common-data&refreshToken="+tok, map[string]string{"XownerId": "proj-1"}, "")
				return r.Status == 200 && r.Body["success"] == true, tok, r.Raw
			}, 336 * time.Hour}
		}},
		{"mobile", "13800138000", func(t *testing.T, url string) env {
			e := gatewaytest.StartMobile(t, "redis", introspectBlock("    ", url))
			return env{e.Clock, e.MetricsText, func(t *testing.T, tok string) (bool, string, []byte) {
				r := e.Do(t, "POST", "/app/auth/token/refresh", map[string]string{"X-Device-Number": "dev-1"}, `{"accessToken":"x","refreshToken":"`+tok+`"}`)
				return r.Status == 200 && r.IntCode(t) == 0, tok, r.Raw
			}, 720 * time.Hour}
		}},
	} {
		t.Run(tc.dialect, func(t *testing.T) {
			lc := &lateClock{}
			legacy := legacytest.Start(t, lc.Now)
			e := tc.start(t, legacy.URL)
			lc.c = e.clock

			for _, typ := range []string{"access_token", "urn:ietf:params:oauth:token-type:id_token"} {
				tok := legacy.IssueOpaqueAs(legacytest.Opaque{Subject: tc.subject, Expires: far, TokenType: typ})
				if ok, _, raw := e.exchange(t, tok); ok {
					t.Errorf("a token the legacy service calls %s was exchanged: %s", typ, raw)
				}
			}
			held := legacy.IssueOpaqueAs(legacytest.Opaque{Subject: tc.subject, Expires: far, AnsweredExp: far, TokenType: "refresh_token"})
			ok, next, raw := e.exchange(t, held)
			if !ok {
				t.Fatalf("a legacy refresh token of 2100: %s", raw)
			}
			for i, h := range legacy.Hints() {
				if h != "refresh_token" {
					t.Errorf("introspection %d sent token_type_hint %q, want refresh_token", i, h)
				}
			}
			// Just past refresh_ttl from the exchange: the session has
			// ended, and the legacy token is not exchanged again.
			e.clock.Advance(e.refreshTTL + time.Minute)
			if ok, _, raw := e.exchange(t, next); ok {
				t.Errorf("the session of a legacy token outlived refresh_ttl: %s", raw)
			}
			if ok, _, raw := e.exchange(t, held); ok {
				t.Errorf("the legacy token was exchanged again after its session ended: %s", raw)
			}
			if m := e.metrics(t); !strings.Contains(m, `authgate_legacy_tokens_total{dialect="`+tc.dialect+`",kind="refresh",result="wrong_kind"} 2`) {
				t.Errorf("wrong kinds not counted:\n%s", gatewaytest.GrepLines(m, "authgate_legacy"))
			}
		})
	}
}

// TestLegacyIntrospectionRequire: with require.issuer, require.client_id
// and require.aud, a token the legacy service issued as another issuer,
// to another client, or for another audience, is not exchanged.
func TestLegacyIntrospectionRequire(t *testing.T) {
	lc := &lateClock{}
	legacy := legacytest.Start(t, lc.Now)
	e := gatewaytest.StartAppkey(t, "memory", introspectBlock("    ", legacy.URL)+"        require: {issuer: https://sso.example, client_id: partner-portal, aud: partner-api}\n")
	lc.c = e.Clock
	exchange := func(o legacytest.Opaque) int {
		o.Subject, o.Expires = "app-1", e.Clock.Now().Add(time.Hour)
		return e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+legacy.IssueOpaqueAs(o), nil, "").Status
	}
	for name, o := range map[string]legacytest.Opaque{
		"another issuer":   {Issuer: "https://sso.example/tenant-b", ClientID: "partner-portal", Aud: "partner-api"},
		"no issuer":        {ClientID: "partner-portal", Aud: "partner-api"},
		"another client":   {Issuer: "https://sso.example", ClientID: "mobile-app", Aud: "partner-api"},
		"no client":        {Issuer: "https://sso.example", Aud: "partner-api"},
		"another audience": {Issuer: "https://sso.example", ClientID: "partner-portal", Aud: []string{"billing"}},
		"no audience":      {Issuer: "https://sso.example", ClientID: "partner-portal"},
	} {
		if s := exchange(o); s != 401 {
			t.Errorf("%s: %d, want 401", name, s)
		}
	}
	if s := exchange(legacytest.Opaque{Issuer: "https://sso.example", ClientID: "partner-portal", Aud: []string{"billing", "partner-api"}}); s != 200 {
		t.Errorf("the required issuer, client and audience: %d, want 200", s)
	}
}
