package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/gateway/gatewaytest"
	"github.com/authgate/authgate/internal/legacytest"
)

// storeWrites lists the store operations the gateway ran that write (every
// operation but the reads), from its own store metrics.
func storeWrites(metrics string) []string {
	reads := map[string]bool{"check_session": true, "session": true, "account": true, "seat_state": true, "ping": true}
	var writes []string
	for _, m := range regexp.MustCompile(`authgate_store_operation_duration_seconds_count\{op="([a-z_]+)"`).FindAllStringSubmatch(metrics, -1) {
		if !reads[m[1]] {
			writes = append(writes, m[1])
		}
	}
	return writes
}

// redisKeys counts the keys under a test's prefix.
func redisKeys(t testing.TB, prefix string) int {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: gatewaytest.RedisAddr()})
	defer c.Close()
	keys, err := c.Keys(context.Background(), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// TestShadowMode: in front of the legacy mmm service in shadow mode, every
// request reaches it exactly as sent (auth endpoints included), the
// gateway's verdicts are counted against the legacy answers (agreements
// and a disagreement, which is logged without a token), and the store is
// never written.
func TestShadowMode(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		clk := gatewaytest.NewClock()
		legacy := legacytest.Start(t, clk.Now)
		tg := gatewaytest.Start(t, gatewaytest.Options{Store: store, Clock: clk, MMM: gatewaytest.LegacyBlock, Routes: `routes:
  - name: all
    path_prefix: /
    dialects: [mmm]
    mode: shadow
    upstream: ` + legacy.URL + `
`})
		// Login is the legacy service's: the gateway's endpoint is not
		// mounted on a shadowed dialect.
		r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"x"}`)
		if r.Status != 200 || r.Code(t) != "00000" {
			t.Fatalf("login through the shadow route: %d %s", r.Status, r.Raw)
		}
		p := gatewaytest.ReadPair(t, r)
		if last := legacy.Seen()[len(legacy.Seen())-1]; last.URL.Path != "/auth/login" {
			t.Fatalf("the login did not reach the legacy service (it saw %s)", last.URL.Path)
		}

		// A protected request goes through unchanged: the token, the
		// client's own X-Auth-* and no identity header of the gateway's.
		r = tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access, "X-Auth-User-Id": "client-said"}, "")
		if r.Code(t) != "00000" {
			t.Fatalf("legacy answer through shadow: %s", r.Raw)
		}
		seen := legacy.Seen()[len(legacy.Seen())-1]
		if seen.Header.Get("X-Mmm-Accesstoken") != p.Access || seen.Header.Get("X-Auth-User-Id") != "client-said" ||
			seen.Header.Get("X-Auth-Dialect") != "" || seen.Header.Get("X-Auth-Session-Id") != "" {
			t.Fatalf("the shadow route changed the request: %v", seen.Header)
		}
		tg.WaitMetric(t, `authgate_shadow_verdicts_total{dialect="mmm",gateway="allow",route="all",upstream="00000"} 1`)

		// A forged token: both refuse.
		tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": forge(t, "not-the-legacy-secret")}, "")
		tg.WaitMetric(t, `authgate_shadow_verdicts_total{dialect="mmm",gateway="bad_signature",route="all",upstream="10013"} 1`)

		// The access token expires: the legacy service answers 10026, the
		// gateway would have too, and rotates nothing.
		clk.Advance(31 * time.Minute)
		r = tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access, "x-mmm-refreshtoken": p.Refresh}, "")
		if r.Code(t) != "10026" {
			t.Fatalf("expired access token through shadow: %s", r.Raw)
		}
		tg.WaitMetric(t, `authgate_shadow_verdicts_total{dialect="mmm",gateway="refreshed",route="all",upstream="10026"} 1`)

		// A route the legacy service left open: the gateway would refuse
		// it, a disagreement, logged without the token.
		tg.Do(t, "GET", "/v1/open/x", map[string]string{"x-mmm-accesstoken": "garbage-token-value"}, "")
		tg.WaitMetric(t, `authgate_shadow_agreement_total{dialect="mmm",result="disagree",route="all"} 1`)
		m := tg.MetricsText(t)
		if !strings.Contains(m, `authgate_shadow_agreement_total{dialect="mmm",result="agree",route="all"} 3`) {
			t.Errorf("agreements not counted:\n%s", gatewaytest.GrepLines(m, "authgate_shadow"))
		}
		logs := tg.Logs.String()
		if !strings.Contains(logs, `"msg":"shadow disagreement"`) || !strings.Contains(logs, `"reason":"malformed"`) {
			t.Errorf("no disagreement line with its reason in\n%s", logs)
		}
		for _, secret := range []string{p.Access, p.Refresh, "garbage-token-value"} {
			if strings.Contains(logs, secret) {
				t.Fatal("a token reached the log")
			}
		}

		// Nothing was written: no write operation ran, and on Redis no
		// key exists under the gateway's prefix.
		if w := storeWrites(m); len(w) > 0 {
			t.Errorf("shadow mode wrote to the store: %v", w)
		}
		if store == "redis" {
			if n := redisKeys(t, tg.Opts.Prefix); n != 0 {
				t.Errorf("%d keys in Redis after shadow traffic; want none", n)
			}
		}
		// The dashboard's migration row reads what this gateway exports.
		gatewaytest.CheckDashboard(t, tg.MetricsText(t), "authgate_shadow_", "authgate_legacy_")
	})
}

// forge is a legacy-shaped mmm token signed with another secret.
func forge(t testing.TB, secret string) string {
	return legacytest.Forge(t, secret, time.Now().Add(time.Hour))
}

// TestShadowLegacyAnswers: in front of a legacy service whose answers are
// its own (200 with {"ret":{"code":0}}, 200 with 20001 or 20003, a 401
// with a body of its own), a shadow route's legacy_answers says how to
// read them: its refusals count as refusals, so agreement covers them and
// a token the gateway would wrongly accept shows up as a disagreement,
// logged with the legacy answer's label.
func TestShadowLegacyAnswers(t *testing.T) {
	clk := gatewaytest.NewClock()
	answers := map[string]func(w http.ResponseWriter){}
	code := func(c int) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"ret":{"code":%d,"msg":"legacy"},"data":{}}`, c)
		}
	}
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer, ok := answers[r.Header.Get("x-mmm-accesstoken")]
		if !ok {
			answer = code(20001)
		}
		answer(w)
	}))
	t.Cleanup(legacy.Close)
	tg := gatewaytest.Start(t, gatewaytest.Options{Clock: clk, MMM: gatewaytest.LegacyBlock, Routes: `routes:
  - name: all
    path_prefix: /
    dialects: [mmm]
    mode: shadow
    upstream: ` + legacy.URL + `
    legacy_answers:
      code_path: ret.code
      allowed: {codes: ["0"]}
      refused: {statuses: [401, 403], codes: ["20001", "20002"]}
      expired: {codes: ["20003"]}
`})
	mint := func(uid int64, life time.Duration) string {
		return legacytest.SignMMM(t, legacytest.Secret, clk.Now(), clk.Now().Add(life), map[string]any{"uid": uid})
	}
	good, expired, banned := mint(10, 30*time.Minute), mint(10, 30*time.Minute), mint(99, 30*time.Minute)
	answers[good], answers[expired] = code(0), code(20003)
	answers[banned] = func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("account banned"))
	}
	get := func(tok string) {
		tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": tok}, "")
	}
	get(good)
	tg.WaitMetric(t, `authgate_shadow_verdicts_total{dialect="mmm",gateway="allow",route="all",upstream="0"} 1`)
	get(forge(t, "not-the-legacy-secret"))
	tg.WaitMetric(t, `authgate_shadow_verdicts_total{dialect="mmm",gateway="bad_signature",route="all",upstream="20001"} 1`)
	// The banned user's token is genuine: the gateway would let it pass,
	// the legacy service refuses it with a 401 of its own.
	get(banned)
	tg.WaitMetric(t, `authgate_shadow_disagreements_total{dialect="mmm",gateway="allow",route="all",upstream="401"} 1`)
	clk.Advance(31 * time.Minute)
	get(expired)
	tg.WaitMetric(t, `authgate_shadow_verdicts_total{dialect="mmm",gateway="expired",route="all",upstream="20003"} 1`)
	m := tg.MetricsText(t)
	for _, want := range []string{
		`authgate_shadow_agreement_total{dialect="mmm",result="agree",route="all"} 3`,
		`authgate_shadow_agreement_total{dialect="mmm",result="inconclusive",route="all"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, gatewaytest.GrepLines(m, "authgate_shadow"))
		}
	}
	if logs := tg.Logs.String(); !strings.Contains(logs, `"reason":"allow","upstream":"401","status":401`) {
		t.Errorf("no disagreement line with the legacy answer in\n%s", logs)
	}
}

// TestShadowLegacyAnswersConfig: legacy_answers that cannot be read are
// refused at load, naming the key.
func TestShadowLegacyAnswersConfig(t *testing.T) {
	for routes, want := range map[string]string{
		"    mode: shadow\n    legacy_answers: {}\n":                                      "routes[0].legacy_answers: set at least one of allowed, refused, expired",
		"    mode: shadow\n    legacy_answers: {refused: {codes: [\"1\"]}}\n":             "routes[0].legacy_answers.code_path: required with refused.codes",
		"    mode: shadow\n    legacy_answers: {refused: {statuses: [4010]}}\n":           "routes[0].legacy_answers.refused.statuses[0]: 4010 is not an HTTP status",
		"    legacy_answers: {refused: {statuses: [401]}}\n":                              "routes[0].legacy_answers: only on a shadow route",
		"    mode: shadow\n    legacy_answers: {refused: {statuses: [401]}, colour: 1}\n": "routes[0].legacy_answers.colour: unknown key",
	} {
		err := gatewaytest.BuildError(t, gatewaytest.Options{Routes: "routes:\n  - path_prefix: /v1/\n    dialects: [mmm]\n    upstream: echo\n" + routes})
		if !strings.Contains(err, want) {
			t.Errorf("%q: %s, want %s", routes, err, want)
		}
	}
}
