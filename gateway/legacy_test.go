package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/legacytest"
)

// TestLegacyMMMSwitchover: a client holding a pair of the legacy mmm
// service keeps working when the gateway takes over: its access token is
// accepted until it expires, and the 10026 path exchanges its refresh
// token for a gateway pair, once; presented again it gets the same pair
// within the grace window and is refused after it, and the ended
// session's legacy token never becomes a session again.
func TestLegacyMMMSwitchover(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		clk := newClock()
		legacy := legacytest.Start(t, clk.Now)
		tg := startGateway(t, gwOptions{store: store, clock: clk, mmm: legacyBlock})
		held := legacy.MMMPair(t, 10, 1, 30*time.Minute, 24*time.Hour)

		r, seen := tg.echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": held.AccessToken})
		if r.status != 200 || seen == nil {
			t.Fatalf("legacy access token refused: %d %s", r.status, r.raw)
		}
		if seen["X-Auth-User-Id"][0] != "10" || seen["X-Auth-Company-Id"][0] != "1" || seen["X-Auth-Session-Id"] != nil || seen["X-Mmm-Accesstoken"] != nil {
			t.Fatalf("identity of a legacy token upstream: %v", seen)
		}

		// A company switch with it starts a gateway session in the new
		// company; a logout with it answers as a logout does.
		r = tg.do(t, "POST", "/v1/auth/change_company", map[string]string{"x-mmm-accesstoken": held.AccessToken}, `{"company_id":2}`)
		if r.code(t) != "00000" {
			t.Fatalf("change_company with a legacy access token: %s", r.raw)
		}
		switched := readPair(t, r)
		if _, seen := tg.echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": switched.Access}); seen == nil || seen["X-Auth-Company-Id"][0] != "2" || seen["X-Auth-Session-Id"] == nil {
			t.Fatalf("the switched pair: %v", seen)
		}
		if r := tg.do(t, "POST", "/v1/auth/change_company", map[string]string{"x-mmm-accesstoken": held.AccessToken}, `{"company_id":5}`); r.code(t) != "10004" {
			t.Fatalf("change_company to a company the user is not in: %s", r.raw)
		}

		// The access token expires; the 10026 path exchanges the refresh
		// token for a gateway pair.
		clk.Advance(31 * time.Minute)
		expired := map[string]string{"x-mmm-accesstoken": held.AccessToken, "x-mmm-refreshtoken": held.RefreshToken}
		r = tg.do(t, "GET", "/v1/orders", expired, "")
		if r.code(t) != "10026" {
			t.Fatalf("expired legacy access token: %s", r.raw)
		}
		first := readPair(t, r)
		r, seen = tg.echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": first.Access})
		if r.status != 200 || !strings.HasPrefix(seen["X-Auth-Session-Id"][0], "lg-") || seen["X-Auth-User-Id"][0] != "10" {
			t.Fatalf("the exchanged pair: %d %s %v", r.status, r.raw, seen)
		}

		// Within the grace window, by either path: the very same pair.
		clk.Advance(2 * time.Second)
		if again := readPair(t, tg.do(t, "GET", "/v1/orders", expired, "")); again != first {
			t.Fatalf("replay on the 10026 path got %+v, want the first exchange's pair", again)
		}
		r = tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": held.RefreshToken}, "")
		if r.code(t) != "00000" || readPair(t, r) != first {
			t.Fatalf("replay on the refresh endpoint: %s", r.raw)
		}

		// After it: a reuse, which ends the exchanged session.
		clk.Advance(10 * time.Second)
		if r := tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": held.RefreshToken}, ""); r.code(t) != "10017" {
			t.Fatalf("legacy refresh token after the grace window: %s", r.raw)
		}
		if r := tg.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": first.Access}, ""); r.code(t) != "10014" {
			t.Fatalf("the session of a reused legacy token still works: %s", r.raw)
		}
		if r := tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": held.RefreshToken}, ""); r.code(t) != "10014" {
			t.Fatalf("an ended legacy token was exchanged again: %s", r.raw)
		}

		// Another client refreshes through the endpoint, then rotates its
		// gateway pair as any other.
		other := legacy.MMMPair(t, 10, 2, 30*time.Minute, 24*time.Hour)
		r = tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": other.RefreshToken}, "")
		if r.code(t) != "00000" {
			t.Fatalf("legacy refresh token on the endpoint: %s", r.raw)
		}
		gp := readPair(t, r)
		_, seen = tg.echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": gp.Access})
		if seen == nil || seen["X-Auth-Company-Id"][0] != "2" {
			t.Fatalf("the exchanged pair lost the legacy token's company: %v", seen)
		}
		if r := tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": gp.Refresh}, ""); r.code(t) != "00000" {
			t.Fatalf("rotating the exchanged pair: %s", r.raw)
		}

		m := tg.metricsText(t)
		for _, want := range []string{
			`authgate_legacy_tokens_total{dialect="mmm",kind="access",result="accepted"} 3`,
			`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="exchanged"} 4`,
			`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="refused"} 2`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "authgate_legacy"))
			}
		}
	})
}

// TestLegacyMMMForgeries: tokens that look legacy but are not genuine are
// refused as any bad token: another secret, alg none, no expiry, a user
// the directory does not know (on refresh).
func TestLegacyMMMForgeries(t *testing.T) {
	clk := newClock()
	legacy := legacytest.Start(t, clk.Now)
	tg := startGateway(t, gwOptions{clock: clk, mmm: legacyBlock})
	exp := clk.Now().Add(time.Hour)
	for name, tok := range map[string]string{
		"another secret": legacytest.Forge(t, "not-the-legacy-secret", exp),
		"alg none":       legacytest.Unsigned(t, exp),
		"no expiry":      legacytest.Forge(t, legacytest.Secret, time.Time{}),
	} {
		r := tg.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": tok}, "")
		if c := r.code(t); c != "10013" && c != "10012" {
			t.Errorf("%s as access token: %s", name, r.raw)
		}
		r = tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": tok}, "")
		if r.code(t) != "10016" {
			t.Errorf("%s as refresh token: %s", name, r.raw)
		}
	}
	stranger := legacy.MMMPair(t, 99, 1, 30*time.Minute, 24*time.Hour)
	if r := tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": stranger.RefreshToken}, ""); r.code(t) != "10014" {
		t.Errorf("legacy refresh token of a user the directory does not know: %s", r.raw)
	}
	if n := strings.Count(tg.metricsText(t), `result="exchanged"} 0`); n != 1 {
		t.Errorf("a forgery was exchanged")
	}
}

// TestLegacyUntil: after legacy.until (on the injected clock) legacy
// tokens are refused with the ordinary invalid-token codes, while gateway
// tokens work on; a passed date is a warning at start.
func TestLegacyUntil(t *testing.T) {
	clk := newClock()
	legacy := legacytest.Start(t, clk.Now)
	until := clk.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tg := startGateway(t, gwOptions{clock: clk, mmm: legacyBlock + "        access_lifetime: 3h\n      until: " + until + "\n"})
	if len(tg.gw.Warnings()) != 0 {
		t.Fatalf("warnings before legacy.until: %v", tg.gw.Warnings())
	}
	held := legacy.MMMPair(t, 10, 1, 3*time.Hour, 24*time.Hour)
	own := tg.login(t)
	if r, _ := tg.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": held.AccessToken}); r.status != 200 {
		t.Fatalf("legacy token before legacy.until: %s", r.raw)
	}
	clk.Advance(2 * time.Hour)
	if r := tg.do(t, "GET", "/v1/x", map[string]string{"x-mmm-accesstoken": held.AccessToken}, ""); r.code(t) != "10013" {
		t.Errorf("legacy access token after legacy.until: %s", r.raw)
	}
	if r := tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": held.RefreshToken}, ""); r.code(t) != "10016" {
		t.Errorf("legacy refresh token after legacy.until: %s", r.raw)
	}
	if r := tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": own.Refresh}, ""); r.code(t) != "00000" {
		t.Errorf("a gateway token after legacy.until: %s", r.raw)
	}
	m := tg.metricsText(t)
	for _, want := range []string{
		`authgate_legacy_tokens_total{dialect="mmm",kind="access",result="retired"} 1`,
		`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="retired"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Started after the date: a warning naming the key.
	late := startGateway(t, gwOptions{clock: clk, mmm: legacyBlock + "      until: " + until + "\n"})
	if w := late.gw.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], "dialects.mmm.legacy.until: ") {
		t.Fatalf("warnings after legacy.until: %v", w)
	}
}

// TestSwitchoverKeepsTheClient: one mmm client through the whole
// switch-over: it logs in through a shadow gateway (the legacy service
// answers), then the gateway enforces (a new process on the same store)
// and the client goes on with the pair it holds, through the 10026 path
// to a gateway pair, without logging in again.
func TestSwitchoverKeepsTheClient(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		clk := newClock()
		legacy := legacytest.Start(t, clk.Now)
		prefix := ""
		if store == "redis" {
			prefix = newPrefix(t)
		}
		shadow := startGateway(t, gwOptions{store: store, prefix: prefix, clock: clk, mmm: legacyBlock, routes: `routes:
  - path_prefix: /
    dialects: [mmm]
    mode: shadow
    upstream: ` + legacy.URL + `
`})
		held := readPair(t, shadow.do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"x"}`))
		if r := shadow.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": held.Access}, ""); r.code(t) != "00000" {
			t.Fatalf("phase 1: %s", r.raw)
		}

		enforce := startGateway(t, gwOptions{store: store, prefix: prefix, clock: clk, mmm: legacyBlock})
		if r, _ := enforce.echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": held.Access}); r.status != 200 {
			t.Fatalf("phase 2, the legacy access token: %d %s", r.status, r.raw)
		}
		clk.Advance(31 * time.Minute)
		r := enforce.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": held.Access, "x-mmm-refreshtoken": held.Refresh}, "")
		if r.code(t) != "10026" {
			t.Fatalf("phase 2, expired: %s", r.raw)
		}
		p := readPair(t, r)
		if r, seen := enforce.echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access}); r.status != 200 || seen["X-Auth-User-Id"][0] != "10" {
			t.Fatalf("phase 2, the gateway pair: %d %s", r.status, r.raw)
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
			clk := newClock()
			legacytest.Start(t, clk.Now)
			tg := startGateway(t, gwOptions{clock: clk, mmm: tc.block})
			tok := tc.mint(t, clk.Now())
			access := func(tok string) string {
				return tg.do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": tok}, "").code(t)
			}
			refresh := func(tok string) string {
				return tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": tok}, "").code(t)
			}
			if r, seen := tg.echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": tok.access}); r.status != 200 || seen == nil {
				t.Fatalf("the legacy access token: %d %s", r.status, r.raw)
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
			if c := tg.do(t, "GET", "/v1/orders", expired, "").code(t); c != "10016" {
				t.Errorf("a legacy access token as the refresh token of the 10026 path: %s, want 10016", c)
			}
			expired["x-mmm-refreshtoken"] = tok.refresh
			if c := tg.do(t, "GET", "/v1/orders", expired, "").code(t); c != "10026" {
				t.Errorf("the legacy refresh token on the 10026 path: %s, want 10026", c)
			}
			m := tg.metricsText(t)
			for _, want := range []string{
				`authgate_legacy_tokens_total{dialect="mmm",kind="access",result="wrong_kind"} 1`,
				`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="wrong_kind"} 2`,
				fmt.Sprintf(`authgate_legacy_tokens_total{dialect="mmm",kind="access",result="undecided"} %d`, wantUndecided/2),
				fmt.Sprintf(`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="undecided"} %d`, wantUndecided/2),
				`authgate_legacy_tokens_total{dialect="mmm",kind="refresh",result="exchanged"} 1`,
			} {
				if !strings.Contains(m, want) {
					t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "authgate_legacy"))
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
		err := buildError(t, gwOptions{mmm: block})
		if !strings.Contains(err, want) {
			t.Errorf("%q: got %s, want %s", block, err, want)
		}
	}
}
