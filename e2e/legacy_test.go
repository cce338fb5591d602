package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/gateway/gatewaytest"
	"github.com/authgate/authgate/internal/legacytest"
)

// TestLegacyMMMSwitchover: a client holding a pair of the legacy mmm
// service keeps working when the gateway takes over: its access token is
// accepted until it expires, and the 10026 path exchanges its refresh
// token for a gateway pair, once; presented again it gets the same pair
// within the grace window and is refused after it, and the ended
// session's legacy token never becomes a session again.
func TestLegacyMMMSwitchover(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		clk := gatewaytest.NewClock()
		legacy := legacytest.Start(t, clk.Now)
		tg := gatewaytest.Start(t, gatewaytest.Options{Store: store, Clock: clk, MMM: gatewaytest.LegacyBlock})
		held := legacy.MMMPair(t, 10, 1, 30*time.Minute, 24*time.Hour)

		r, seen := tg.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": held.AccessToken})
		if r.Status != 200 || seen == nil {
			t.Fatalf("legacy access token refused: %d %s", r.Status, r.Raw)
		}
		if seen["X-Auth-User-Id"][0] != "10" || seen["X-Auth-Company-Id"][0] != "1" || seen["X-Auth-Session-Id"] != nil || seen["X-Mmm-Accesstoken"] != nil {
			t.Fatalf("identity of a legacy token upstream: %v", seen)
		}

		// A company switch with it starts a gateway session in the new
		// company; a logout with it answers as a logout does.
		r = tg.Do(t, "POST", "/v1/auth/change_company", map[string]string{"x-mmm-accesstoken": held.AccessToken}, `{"company_id":2}`)
		if r.Code(t) != "00000" {
			t.Fatalf("change_company with a legacy access token: %s", r.Raw)
		}
		switched := gatewaytest.ReadPair(t, r)
		if _, seen := tg.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": switched.Access}); seen == nil || seen["X-Auth-Company-Id"][0] != "2" || seen["X-Auth-Session-Id"] == nil {
			t.Fatalf("the switched pair: %v", seen)
		}
		if r := tg.Do(t, "POST", "/v1/auth/change_company", map[string]string{"x-mmm-accesstoken": held.AccessToken}, `{"company_id":5}`); r.Code(t) != "10004" {
			t.Fatalf("change_company to a company the user is not in: %s", r.Raw)
		}

		// The access token expires; the 10026 path exchanges the refresh
		// token for a gateway pair.
		clk.Advance(31 * time.Minute)
		expired := map[string]string{"x-mmm-accesstoken": held.AccessToken, "x-mmm-refreshtoken": held.RefreshToken}
		r = tg.Do(t, "GET", "/v1/orders", expired, "")
		if r.Code(t) != "10026" {
			t.Fatalf("expired legacy access token: %s", r.Raw)
		}
		first := gatewaytest.ReadPair(t, r)
		r, seen = tg.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": first.Access})
		if r.Status != 200 || !strings.HasPrefix(seen["X-Auth-Session-Id"][0], "lg-") || seen["X-Auth-User-Id"][0] != "10" {
			t.Fatalf("the exchanged pair: %d %s %v", r.Status, r.Raw, seen)
		}

		// Within the grace window, by either path: the very same pair.
		clk.Advance(2 * time.Second)
		if again := gatewaytest.ReadPair(t, tg.Do(t, "GET", "/v1/orders", expired, "")); again != first {
			t.Fatalf("replay on the 10026 path got %+v, want the first exchange's pair", again)
		}
		r = tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": held.RefreshToken}, "")
		if r.Code(t) != "00000" || gatewaytest.ReadPair(t, r) != first {
			t.Fatalf("replay on the refresh endpoint: %s", r.Raw)
		}

		// After it: a reuse, which ends the exchanged session.
		clk.Advance(10 * time.Second)
		if r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": held.RefreshToken}, ""); r.Code(t) != "10017" {
			t.Fatalf("legacy refresh token after the grace window: %s", r.Raw)
		}
		if r := tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": first.Access}, ""); r.Code(t) != "10014" {
			t.Fatalf("the session of a reused legacy token still works: %s", r.Raw)
		}
		if r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": held.RefreshToken}, ""); r.Code(t) != "10014" {
			t.Fatalf("an ended legacy token was exchanged again: %s", r.Raw)
		}

		// Another client refreshes through the endpoint, then rotates its
		// gateway pair as any other.
		other := legacy.MMMPair(t, 10, 2, 30*time.Minute, 24*time.Hour)
		r = tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": other.RefreshToken}, "")
		if r.Code(t) != "00000" {
			t.Fatalf("legacy refresh token on the endpoint: %s", r.Raw)
		}
		gp := gatewaytest.ReadPair(t, r)
		_, seen = tg.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": gp.Access})
		if seen == nil || seen["X-Auth-Company-Id"][0] != "2" {
			t.Fatalf("the exchanged pair lost the legacy token's company: %v", seen)
		}
		if r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": gp.Refresh}, ""); r.Code(t) != "00000" {
			t.Fatalf("rotating the exchanged pair: %s", r.Raw)
		}

		m := tg.MetricsText(t)
		for _, want := range []string{
			`authgate_legacy_tokens_total{dialect="mmm",kind="access",result="accepted"} 3`,
			`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="exchanged"} 4`,
			`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="refused"} 2`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s:\n%s", want, gatewaytest.GrepLines(m, "authgate_legacy"))
			}
		}
	})
}

// TestLegacyMMMForgeries: tokens that look legacy but are not genuine are
// refused as any bad token: another secret, alg none, no expiry, a user
// the directory does not know (on refresh).
func TestLegacyMMMForgeries(t *testing.T) {
	clk := gatewaytest.NewClock()
	legacy := legacytest.Start(t, clk.Now)
	tg := gatewaytest.Start(t, gatewaytest.Options{Clock: clk, MMM: gatewaytest.LegacyBlock})
	exp := clk.Now().Add(time.Hour)
	for name, tok := range map[string]string{
		"another secret": legacytest.Forge(t, "not-the-legacy-secret", exp),
		"alg none":       legacytest.Unsigned(t, exp),
		"no expiry":      legacytest.Forge(t, legacytest.Secret, time.Time{}),
	} {
		r := tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": tok}, "")
		if c := r.Code(t); c != "10013" && c != "10012" {
			t.Errorf("%s as access token: %s", name, r.Raw)
		}
		r = tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": tok}, "")
		if r.Code(t) != "10016" {
			t.Errorf("%s as refresh token: %s", name, r.Raw)
		}
	}
	stranger := legacy.MMMPair(t, 99, 1, 30*time.Minute, 24*time.Hour)
	if r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": stranger.RefreshToken}, ""); r.Code(t) != "10014" {
		t.Errorf("legacy refresh token of a user the directory does not know: %s", r.Raw)
	}
	if n := strings.Count(tg.MetricsText(t), `result="exchanged"} 0`); n != 1 {
		t.Errorf("a forgery was exchanged")
	}
}

// TestLegacyUntil: after legacy.until (on the injected clock) legacy
// tokens are refused with the ordinary invalid-token codes, while gateway
// tokens work on; a passed date is a warning at start.
func TestLegacyUntil(t *testing.T) {
	clk := gatewaytest.NewClock()
	legacy := legacytest.Start(t, clk.Now)
	until := clk.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tg := gatewaytest.Start(t, gatewaytest.Options{Clock: clk, MMM: gatewaytest.LegacyBlock + "        access_lifetime: 3h\n      until: " + until + "\n"})
	if len(tg.GW.Warnings()) != 0 {
		t.Fatalf("warnings before legacy.until: %v", tg.GW.Warnings())
	}
	held := legacy.MMMPair(t, 10, 1, 3*time.Hour, 24*time.Hour)
	own := tg.Login(t)
	if r, _ := tg.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": held.AccessToken}); r.Status != 200 {
		t.Fatalf("legacy token before legacy.until: %s", r.Raw)
	}
	clk.Advance(2 * time.Hour)
	if r := tg.Do(t, "GET", "/v1/x", map[string]string{"x-mmm-accesstoken": held.AccessToken}, ""); r.Code(t) != "10013" {
		t.Errorf("legacy access token after legacy.until: %s", r.Raw)
	}
	if r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": held.RefreshToken}, ""); r.Code(t) != "10016" {
		t.Errorf("legacy refresh token after legacy.until: %s", r.Raw)
	}
	if r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": own.Refresh}, ""); r.Code(t) != "00000" {
		t.Errorf("a gateway token after legacy.until: %s", r.Raw)
	}
	m := tg.MetricsText(t)
	for _, want := range []string{
		`authgate_legacy_tokens_total{dialect="mmm",kind="access",result="retired"} 1`,
		`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="retired"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Started after the date: a warning naming the key.
	late := gatewaytest.Start(t, gatewaytest.Options{Clock: clk, MMM: gatewaytest.LegacyBlock + "      until: " + until + "\n"})
	if w := late.GW.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], "dialects.mmm.legacy.until: ") {
		t.Fatalf("warnings after legacy.until: %v", w)
	}
}

// TestSwitchoverKeepsTheClient: one mmm client through the whole
// switch-over: it logs in through a shadow gateway (the legacy service
// answers), then the gateway enforces (a new process on the same store)
// and the client goes on with the pair it holds, through the 10026 path
// to a gateway pair, without logging in again.
func TestSwitchoverKeepsTheClient(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		clk := gatewaytest.NewClock()
		legacy := legacytest.Start(t, clk.Now)
		prefix := ""
		if store == "redis" {
			prefix = gatewaytest.NewPrefix(t)
		}
		shadow := gatewaytest.Start(t, gatewaytest.Options{Store: store, Prefix: prefix, Clock: clk, MMM: gatewaytest.LegacyBlock, Routes: `routes:
  - path_prefix: /
    dialects: [mmm]
    mode: shadow
    upstream: ` + legacy.URL + `
`})
		held := gatewaytest.ReadPair(t, shadow.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"x"}`))
		if r := shadow.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": held.Access}, ""); r.Code(t) != "00000" {
			t.Fatalf("phase 1: %s", r.Raw)
		}

		enforce := gatewaytest.Start(t, gatewaytest.Options{Store: store, Prefix: prefix, Clock: clk, MMM: gatewaytest.LegacyBlock})
		if r, _ := enforce.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": held.Access}); r.Status != 200 {
			t.Fatalf("phase 2, the legacy access token: %d %s", r.Status, r.Raw)
		}
		clk.Advance(31 * time.Minute)
		r := enforce.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": held.Access, "x-mmm-refreshtoken": held.Refresh}, "")
		if r.Code(t) != "10026" {
			t.Fatalf("phase 2, expired: %s", r.Raw)
		}
		p := gatewaytest.ReadPair(t, r)
		if r, seen := enforce.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access}); r.Status != 200 || seen["X-Auth-User-Id"][0] != "10" {
			t.Fatalf("phase 2, the gateway pair: %d %s", r.Status, r.Raw)
		}
	})
}

// TestLegacyMMMKinds: a legacy access token is never exchanged and a
// legacy refresh token never passes as an access token, at every
// endpoint (a protected route, the refresh endpoint, the 10026 path); a
// token whose kind the rule cannot decide is refused both ways. The
// default rule tells the seed's example apart by lifetime (exp − iat:
// 1802 s access, 3602 s refresh); the claim and key rules are tried too.
func TestLegacyMMMKinds(t *testing.T) {
	seedBlock := "    legacy:\n      secrets:\n        - secret: " + legacytest.Secret + "\n"
	type tokens struct{ access, refresh, undecided, access2 string }
	for _, tc := range []struct {
		name  string
		block string
		mint  func(t *testing.T, now time.Time) tokens
	}{
		{"lifetime (the seed's example)", seedBlock, func(t *testing.T, now time.Time) tokens {
			sign := func(iat time.Time, life time.Duration) string {
				return legacytest.SignMMM(t, legacytest.Secret, iat, iat.Add(life), nil)
			}
			return tokens{sign(now, 1802*time.Second), sign(now, 3602*time.Second), sign(now, 24*time.Hour), sign(now.Add(31*time.Minute), 1802*time.Second)}
		}},
		{"claim", seedBlock + "      kind: {by: claim, claim: typ, access_value: at, refresh_value: rt}\n", func(t *testing.T, now time.Time) tokens {
			sign := func(iat time.Time, life time.Duration, typ any) string {
				extra := map[string]any{}
				if typ != nil {
					extra["typ"] = typ
				}
				return legacytest.SignMMM(t, legacytest.Secret, iat, iat.Add(life), extra)
			}
			// The undecided token has the access lifetime: only the claim
			// tells kinds apart under this rule.
			return tokens{sign(now, 30*time.Minute, "at"), sign(now, time.Hour, "rt"), sign(now, 30*time.Minute, nil), sign(now.Add(31*time.Minute), 30*time.Minute, "at")}
		}},
		{"key", seedBlock + "      refresh_secrets:\n        - secret: legacy-refresh-key\n      kind: {by: key}\n", func(t *testing.T, now time.Time) tokens {
			sign := func(secret string, iat time.Time, life time.Duration) string {
				return legacytest.SignMMM(t, secret, iat, iat.Add(life), nil)
			}
			// Under the key rule every token is of the key's kind: none is
			// undecided, so a refresh token signed with the access key
			// stands in for it.
			return tokens{sign(legacytest.Secret, now, 30*time.Minute), sign("legacy-refresh-key", now, time.Hour),
				sign(legacytest.Secret, now, time.Hour), sign(legacytest.Secret, now.Add(31*time.Minute), 30*time.Minute)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := gatewaytest.NewClock()
			legacytest.Start(t, clk.Now)
			tg := gatewaytest.Start(t, gatewaytest.Options{Clock: clk, MMM: tc.block})
			tok := tc.mint(t, clk.Now())
			access := func(tok string) string {
				return tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": tok}, "").Code(t)
			}
			refresh := func(tok string) string {
				return tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": tok}, "").Code(t)
			}
			if r, seen := tg.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": tok.access}); r.Status != 200 || seen == nil {
				t.Fatalf("the legacy access token: %d %s", r.Status, r.Raw)
			}
			if c := access(tok.refresh); c != "10013" {
				t.Errorf("a legacy refresh token as an access token: %s, want 10013", c)
			}
			if c := refresh(tok.access); c != "10016" {
				t.Errorf("a legacy access token at the refresh endpoint: %s, want 10016", c)
			}
			wantUndecided := 0
			if tc.name != "key" {
				wantUndecided = 2
				if c := access(tok.undecided); c != "10013" {
					t.Errorf("a token of no telling kind as an access token: %s, want 10013", c)
				}
				if c := refresh(tok.undecided); c != "10016" {
					t.Errorf("a token of no telling kind at the refresh endpoint: %s, want 10016", c)
				}
			}
			// The 10026 path: an expired legacy access token with another
			// (live) legacy access token as its refresh token.
			clk.Advance(31 * time.Minute)
			expired := map[string]string{"x-mmm-accesstoken": tok.access, "x-mmm-refreshtoken": tok.access2}
			if c := tg.Do(t, "GET", "/v1/orders", expired, "").Code(t); c != "10016" {
				t.Errorf("a legacy access token as the refresh token of the 10026 path: %s, want 10016", c)
			}
			expired["x-mmm-refreshtoken"] = tok.refresh
			if c := tg.Do(t, "GET", "/v1/orders", expired, "").Code(t); c != "10026" {
				t.Errorf("the legacy refresh token on the 10026 path: %s, want 10026", c)
			}
			m := tg.MetricsText(t)
			for _, want := range []string{
				`authgate_legacy_tokens_total{dialect="mmm",kind="access",result="wrong_kind"} 1`,
				`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="wrong_kind"} 2`,
				fmt.Sprintf(`authgate_legacy_tokens_total{dialect="mmm",kind="access",result="undecided"} %d`, wantUndecided/2),
				fmt.Sprintf(`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="undecided"} %d`, wantUndecided/2),
				`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="exchanged"} 1`,
			} {
				if !strings.Contains(m, want) {
					t.Errorf("metrics lack %s:\n%s", want, gatewaytest.GrepLines(m, "authgate_legacy"))
				}
			}
		})
	}
}

// TestLegacyMMMKindConfig: a rule that cannot tell the kinds apart is
// refused at start, naming its key.
func TestLegacyMMMKindConfig(t *testing.T) {
	base := "    legacy:\n      secrets:\n        - secret: " + legacytest.Secret + "\n"
	for block, want := range map[string]string{
		base + "      kind: {access_lifetime: 30m, refresh_lifetime: 31m}\n": "dialects.mmm.legacy.kind.refresh_lifetime: ",
		base + "      kind: {by: claim, claim: typ}\n":                       "dialects.mmm.legacy.kind.claim: ",
		base + "      kind: {by: key}\n":                                     "dialects.mmm.legacy.refresh_secrets: required",
		base + "      kind: {by: typ}\n":                                     "dialects.mmm.legacy.kind.by: ",
		base + "      refresh_secrets: [{secret: x}]\n":                      "dialects.mmm.legacy.refresh_secrets: only with",
	} {
		err := gatewaytest.BuildError(t, gatewaytest.Options{MMM: block})
		if !strings.Contains(err, want) {
			t.Errorf("%q: got %s, want %s", block, err, want)
		}
	}
}
