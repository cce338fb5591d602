package appkey_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/appkey"
	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/internal/legacytest"
)

// seedToken is the response example of appkey-base-token.md, verbatim.
const seedToken = `{
"accessToken": "", "expiresTime": "",
"loginUser": {"id": 0, "loginType": "", "loginUserType": "",
  "orgProduct": {"name": "", "orgId": 0, "productId": 0},
  "userOrg": {"account": "", "id": 0, "mobile": "", "name": "", "org": {"logo": "", "name": "", "type": ""}, "orgId": 0, "portrait": ""},
  "userProduct": {"id": 0, "orgId": 0, "productId": 0, "systemAdmin": true}},
"refreshToken": ""}`

var appSecretHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("s3cret-app"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

type env struct {
	*dialecttest.Env
	appsPath string
	checks   *atomic.Int64
	lastHash *atomic.Value
}

func (e *env) writeApps(t *testing.T, content string) {
	t.Helper()
	// Write then rename, as editors and config maps do.
	tmp := e.appsPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.appsPath); err != nil {
		t.Fatal(err)
	}
}

const block = "    secret: appkey-test-signing-key-0123456789abcdef\n    apps_file: apps.yaml\n    reload_interval: 10ms\n"

// start serves an appkey instance named appkey on a store of kind, with
// app-1 and the disabled app-off in its apps file, counting hash checks;
// extra adds lines to its block (indented by four spaces).
func start(t testing.TB, kind, extra string) *env {
	t.Helper()
	dir := t.TempDir()
	appsPath := filepath.Join(dir, "apps.yaml")
	if err := os.WriteFile(appsPath, []byte("apps:\n"+appEntry("app-1", true, appSecretHash)+appEntry("app-off", false, appSecretHash)), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{appsPath: appsPath, checks: &atomic.Int64{}, lastHash: &atomic.Value{}}
	e.Env = dialecttest.Start(t, appkey.Factory, "appkey", block+extra, dialecttest.Options{Kind: kind, Dir: dir,
		VerifySecret: func(hash, secret string) (bool, error) {
			e.checks.Add(1)
			e.lastHash.Store(hash)
			return identity.VerifySecret(hash, secret)
		}})
	return e
}

func (e *env) login(t testing.TB, id string) (access, refresh string) {
	t.Helper()
	r := e.Do(t, "POST", "/api/base/token/login", nil, appLogin(id, "key-"+id, "s3cret-app", "APP_KEY"))
	if r.Status != 200 {
		t.Fatalf("login %s: %d %s", id, r.Status, r.Raw)
	}
	return r.Body["accessToken"].(string), r.Body["refreshToken"].(string)
}

func appEntry(id string, enabled bool, secretHash string) string {
	return fmt.Sprintf(`  - app_id: %s
    app_key: key-%s
    app_secret_hash: "%s"
    enabled: %v
    login_user:
      id: 9001
      org_product: { name: P, org_id: 501, product_id: 701 }
      user_org: { account: acc, id: 601, mobile: "138", name: N, org: { logo: L, name: O, type: SAAS }, org_id: 501, portrait: "" }
      user_product: { id: 801, org_id: 501, product_id: 0, system_admin: true }
`, id, id, secretHash, enabled)
}

func appLogin(id, key, secret, typ string) string {
	return fmt.Sprintf(`{"appId":%q,"appKey":%q,"appSecret":%q,"loginType":%q}`, id, key, secret, typ)
}

func springShape(t *testing.T, r dialecttest.Reply, status int, path string) {
	t.Helper()
	got := dialecttest.DecodeNumbers(t, string(r.Raw)).(map[string]any)
	want := map[string]any{"timestamp": "string", "status": "number", "error": "string", "message": "string", "path": "string"}
	if !reflect.DeepEqual(dialecttest.Shape(got), want) {
		t.Fatalf("error body %s", r.Raw)
	}
	if got["status"].(json.Number).String() != fmt.Sprint(status) || got["error"] != http.StatusText(status) || got["path"] != path {
		t.Fatalf("error body %s, want status %d path %s", r.Raw, status, path)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000-07:00", got["timestamp"].(string)); err != nil {
		t.Fatalf("timestamp %v: %v", got["timestamp"], err)
	}
}

func TestAppkeyFlowAndSeedShape(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
		now := e.Clock.Now()
		r := e.Do(t, "POST", "/api/base/token/login", map[string]string{"Content-Type": "application/json"}, appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY"))
		if r.Status != 200 {
			t.Fatalf("login = %d %s", r.Status, r.Raw)
		}
		got := dialecttest.DecodeNumbers(t, string(r.Raw))
		if !reflect.DeepEqual(dialecttest.Shape(got), dialecttest.Shape(dialecttest.DecodeNumbers(t, seedToken))) {
			t.Fatalf("Token shape\n got %v\nwant %v", dialecttest.Shape(got), dialecttest.Shape(dialecttest.DecodeNumbers(t, seedToken)))
		}
		lu := r.Body["loginUser"].(map[string]any)
		if lu["loginType"] != "APP_KEY" || lu["loginUserType"] != "CLIENT" || lu["id"].(json.Number).String() != "9001" ||
			lu["userOrg"].(map[string]any)["org"].(map[string]any)["type"] != "SAAS" || lu["userProduct"].(map[string]any)["systemAdmin"] != true {
			t.Fatalf("loginUser = %v", lu)
		}
		if r.Body["expiresTime"] != now.Add(2*time.Hour).UTC().Format(time.RFC3339) {
			t.Fatalf("expiresTime %v", r.Body["expiresTime"])
		}
		access, refresh := r.Body["accessToken"].(string), r.Body["refreshToken"].(string)
		_, seen := e.Protected(t, "/api/orders", dialecttest.Bearer(access))
		want := map[string]string{"app_id": "app-1", "org_id": "501", "product_id": "701", "user_type": "CLIENT"}
		if seen == nil || seen.Subject != "9001" || seen.Dialect != "appkey" || !reflect.DeepEqual(seen.Attrs, want) {
			t.Errorf("identity = %+v, want 9001 of appkey with %v", seen, want)
		}
		// Refresh rotates; the used token is refused and ends the session.
		e.Clock.Advance(time.Minute)
		r = e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, "")
		if r.Status != 200 || !reflect.DeepEqual(dialecttest.Shape(dialecttest.DecodeNumbers(t, string(r.Raw))), dialecttest.Shape(dialecttest.DecodeNumbers(t, seedToken))) {
			t.Fatalf("refresh = %d %s", r.Status, r.Raw)
		}
		next := r.Body["refreshToken"].(string)
		if next == refresh {
			t.Fatal("refresh token not rotated")
		}
		if _, seen := e.Protected(t, "/api/orders", dialecttest.Bearer(r.Body["accessToken"].(string))); seen == nil {
			t.Fatal("refreshed access token refused")
		}
		r = e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, "")
		if r.Status != 401 {
			t.Fatalf("used refresh token = %d %s", r.Status, r.Raw)
		}
		springShape(t, r, 401, "/api/base/token/refresh")
		if r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+next, nil, ""); r.Status != 401 {
			t.Fatalf("successor after reuse = %d %s: the session must end", r.Status, r.Raw)
		}
		// Expired refresh token.
		_, refresh = e.login(t, "app-1")
		e.Clock.Advance(7*24*time.Hour + time.Second)
		if r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, ""); r.Status != 401 {
			t.Fatalf("expired refresh = %d %s", r.Status, r.Raw)
		}
	})
}

func TestAppkeyStatuses(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
		cases := []struct {
			name, path, method, body string
			status                   int
			msgHas                   string
		}{
			{"wrong loginType", "/api/base/token/login", "POST", appLogin("app-1", "key-app-1", "s3cret-app", "PASSWORD"), 400, "APP_KEY"},
			{"missing fields", "/api/base/token/login", "POST", `{"appId":"app-1"}`, 400, "appKey, appSecret, loginType"},
			{"malformed", "/api/base/token/login", "POST", `{"appId":`, 400, "not valid JSON"},
			{"wrong type", "/api/base/token/login", "POST", `{"appId":1,"appKey":"k","appSecret":"s","loginType":"APP_KEY"}`, 400, `"appId" must be a string`},
			{"oversized", "/api/base/token/login", "POST", `{"appId":"` + strings.Repeat("a", 70<<10) + `"}`, 413, ""},
			{"GET login", "/api/base/token/login", "GET", ``, 405, ""},
			{"unknown app", "/api/base/token/login", "POST", appLogin("ghost", "key-app-1", "s3cret-app", "APP_KEY"), 401, "Bad credentials"},
			{"wrong key", "/api/base/token/login", "POST", appLogin("app-1", "key-wrong", "s3cret-app", "APP_KEY"), 401, "Bad credentials"},
			{"wrong secret", "/api/base/token/login", "POST", appLogin("app-1", "key-app-1", "wrong", "APP_KEY"), 401, "Bad credentials"},
			{"disabled", "/api/base/token/login", "POST", appLogin("app-off", "key-app-off", "s3cret-app", "APP_KEY"), 403, "disabled"},
			{"disabled, wrong secret", "/api/base/token/login", "POST", appLogin("app-off", "key-app-off", "x", "APP_KEY"), 401, "Bad credentials"},
			{"refresh missing", "/api/base/token/refresh", "POST", ``, 400, "refreshToken"},
			{"refresh garbage", "/api/base/token/refresh?refreshToken=garbage", "POST", ``, 401, ""},
			{"no token", "/api/orders", "GET", ``, 401, ""},
			{"bad token", "/api/orders", "GET", ``, 401, ""},
		}
		for _, c := range cases {
			var h map[string]string
			if c.name == "bad token" {
				h = dialecttest.Bearer("a.b.c")
			}
			r := e.Do(t, c.method, c.path, h, c.body)
			if r.Status != c.status {
				t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Raw, c.status)
				continue
			}
			springShape(t, r, c.status, strings.Split(c.path, "?")[0])
			if !strings.Contains(r.Body["message"].(string), c.msgHas) {
				t.Errorf("%s: message %q lacks %q", c.name, r.Body["message"], c.msgHas)
			}
		}
		// Tokens of other dialects are refused here, and these elsewhere.
	})
}

func TestAppkeyUnknownAppCostsOneHashCheck(t *testing.T) {
	e := start(t, "memory", "")
	for _, c := range []struct{ name, body string }{
		{"unknown app", appLogin("ghost", "k", "s", "APP_KEY")},
		{"wrong key", appLogin("app-1", "nope", "s3cret-app", "APP_KEY")},
		{"wrong secret", appLogin("app-1", "key-app-1", "nope", "APP_KEY")},
		{"right", appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")},
	} {
		before := e.checks.Load()
		e.Do(t, "POST", "/api/base/token/login", nil, c.body)
		if n := e.checks.Load() - before; n != 1 {
			t.Errorf("%s: %d hash checks, want exactly 1", c.name, n)
		}
		// ... against a hash of the same kind and cost as the apps' own.
		wantCost, _ := bcrypt.Cost([]byte(appSecretHash))
		if cost, err := bcrypt.Cost([]byte(e.lastHash.Load().(string))); err != nil || cost != wantCost {
			t.Errorf("%s: checked against %q, want a bcrypt hash of cost %d", c.name, e.lastHash.Load(), wantCost)
		}
	}
	before := e.checks.Load()
	e.Do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "s3cret-app", "PASSWORD"))
	if n := e.checks.Load() - before; n != 0 {
		t.Errorf("a bad loginType ran %d hash checks", n)
	}
}

func TestAppkeyFailureLimits(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "    failure_limit: 3\n    failure_window: 1m\n")
		for i := range 3 {
			if r := e.Do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "bad", "APP_KEY")); r.Status != 401 {
				t.Fatalf("failure %d: %d", i, r.Status)
			}
		}
		r := e.Do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY"))
		if r.Status != 429 || r.Header.Get("Retry-After") != "60" {
			t.Fatalf("over the per-app limit: %d Retry-After %q %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
		}
		springShape(t, r, 429, "/api/base/token/login")
		// The same IP is over its limit too, for any app.
		if r := e.Do(t, "POST", "/api/base/token/login", nil, appLogin("other", "k", "s", "APP_KEY")); r.Status != 429 {
			t.Fatalf("over the per-IP limit: %d", r.Status)
		}
		e.Clock.Advance(time.Minute)
		if r := e.Do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")); r.Status != 200 {
			t.Fatalf("after the window: %d %s", r.Status, r.Raw)
		}
		// Successes do not count as failures.
		for range 5 {
			e.login(t, "app-1")
		}
	})
}

func TestAppkeyReload(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "")
		access, refresh := e.login(t, "app-1")
		// Register a new app without a restart.
		e.writeApps(t, "apps:\n"+appEntry("app-1", true, appSecretHash)+appEntry("app-off", false, appSecretHash)+appEntry("app-new", true, appSecretHash))
		dialecttest.WaitFor(t, "app-new", func() bool {
			return e.Do(t, "POST", "/api/base/token/login", nil, appLogin("app-new", "key-app-new", "s3cret-app", "APP_KEY")).Status == 200
		})
		// A broken file keeps the last good set and says why.
		e.writeApps(t, "apps:\n  - app_id: [broken\n")
		dialecttest.WaitFor(t, "the broken-file log line", func() bool { return strings.Contains(e.Logs.String(), "apps source broken") })
		if _, seen := e.Protected(t, "/api/x", dialecttest.Bearer(access)); seen == nil {
			t.Fatal("a broken file dropped the good apps")
		}
		metrics := func() string { return e.Metrics(t) }
		if m := metrics(); !strings.Contains(m, `authgate_appkey_apps_source_broken{dialect="appkey"} 1`) || !strings.Contains(m, `authgate_appkey_apps_reloads_total{dialect="appkey",result="error"}`) {
			t.Fatalf("broken file not in the metrics")
		}
		// Disabling an app ends its sessions: 403 on routes, 401 on refresh.
		e.writeApps(t, "apps:\n"+appEntry("app-1", false, appSecretHash))
		dialecttest.WaitFor(t, "app-1 disabled", func() bool { r, _ := e.Protected(t, "/api/x", dialecttest.Bearer(access)); return r.Status == 403 })
		if r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, ""); r.Status != 401 {
			t.Fatalf("refresh of a disabled app's session = %d %s", r.Status, r.Raw)
		}
		if r := e.Do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")); r.Status != 403 {
			t.Fatalf("login of a disabled app = %d", r.Status)
		}
		// Enabling it again does not revive the ended session.
		e.writeApps(t, "apps:\n"+appEntry("app-1", true, appSecretHash))
		dialecttest.WaitFor(t, "app-1 enabled", func() bool {
			return e.Do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")).Status == 200
		})
		if r, _ := e.Protected(t, "/api/x", dialecttest.Bearer(access)); r.Status != 401 {
			t.Fatalf("old token after re-enabling = %d", r.Status)
		}
		// Deleting an app: its tokens stop at once.
		access, _ = e.login(t, "app-1")
		e.writeApps(t, "apps: []\n")
		dialecttest.WaitFor(t, "app-1 deleted", func() bool { r, _ := e.Protected(t, "/api/x", dialecttest.Bearer(access)); return r.Status == 401 })
		if !strings.Contains(metrics(), `authgate_appkey_apps_source_broken{dialect="appkey"} 0`) {
			t.Fatal("the broken gauge did not clear")
		}
	})
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad-apps.yaml"), []byte("apps:\n  - app_id: a\n    app_key: k\n    app_secret_hash: plain\n    login_user: { user_org: { org: { type: BANK } } }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := dialecttest.Build(t, appkey.Factory, "appkey", "secret: appkey-test-signing-key-0123456789abcdef\napps_file: bad-apps.yaml\n", dialecttest.Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "apps[0].app_secret_hash") || !strings.Contains(err.Error(), `"BANK" is not one of CHANNEL, SERVICE, SAAS`) {
		t.Fatalf("New = %v", err)
	}
}

func TestContract(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "apps.yaml"), []byte("apps:\n"+appEntry("app-1", true, appSecretHash)), 0o600); err != nil {
		t.Fatal(err)
	}
	dialecttest.Contract(t, dialecttest.Case{
		Factory: appkey.Factory, Name: "appkey", Block: block, Options: dialecttest.Options{Dir: dir},
		Login: func(t *testing.T, de *dialecttest.Env) func() map[string]string {
			access, _ := (&env{Env: de}).login(t, "app-1")
			return func() map[string]string { return dialecttest.Bearer(access) }
		},
		Garbage: []map[string]string{
			dialecttest.Bearer("garbage"),
			dialecttest.Bearer("a.b.c"),
			dialecttest.Bearer("eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"),
		},
		Legacy: &dialecttest.LegacyCase{
			Block: func(url string) string {
				return "    legacy:\n      introspect:\n        url: " + url + "/introspect\n"
			},
			Token: func(t *testing.T, svc *legacytest.Service) string { return svc.IssueOpaque("app-1", 24*time.Hour) },
			Refresh: func(t *testing.T, e *dialecttest.Env, tok string) bool {
				r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+tok, nil, "")
				return r.Status == 200
			},
			Subject: "app-1",
		},
		Normalize: func(body map[string]any) { body["timestamp"] = "(the time of the answer)" },
	})
}

// FuzzAuthenticate: whatever a client puts in Authorization, the request
// passes only with the access token this instance issued, and every
// refusal carries a reason for the metrics.
func FuzzAuthenticate(f *testing.F) {
	e := start(f, "memory", "")
	access, refresh := e.login(f, "app-1")
	f.Add("Bearer " + access)
	f.Add(access)
	f.Add("Bearer " + refresh)
	f.Add("bearer a.b.c")
	f.Fuzz(func(t *testing.T, authorization string) {
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header["Authorization"] = []string{authorization}
		id, err := e.Dialect.Authenticate(req)
		if err == nil && (!strings.Contains(authorization, access) || id.Subject != "9001") {
			t.Fatalf("passed with %q: %+v", authorization, id)
		}
		if reason := dialects.Reason(err); err != nil && (reason == "error" || reason == "store_unavailable") {
			t.Fatalf("refusal without a reason: %v", err)
		}
	})
}

// TestGraceReplayNeverHandsBackAnExpiredAccessToken: a replay within the
// grace window after the successor's access token expired gets the
// successor's refresh token with a live access token.
func TestGraceReplayNeverHandsBackAnExpiredAccessToken(t *testing.T) {
	dialecttest.ForEachStore(t, func(t *testing.T, store string) {
		e := start(t, store, "    access_ttl: 3s\n    refresh_grace: 10s\n")
		_, refresh := e.login(t, "app-1")
		r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, "")
		if r.Status != 200 {
			t.Fatalf("refresh = %d %s", r.Status, r.Raw)
		}
		first := r.Body
		e.Clock.Advance(5 * time.Second)
		r = e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, "")
		if r.Status != 200 || r.Body["refreshToken"] != first["refreshToken"] {
			t.Fatalf("replay = %d %s, want the successor's refresh token", r.Status, r.Raw)
		}
		if r.Body["accessToken"] == first["accessToken"] {
			t.Fatal("replay handed back the expired access token")
		}
		if r, id := e.Protected(t, "/api/x", dialecttest.Bearer(r.Body["accessToken"].(string))); id == nil {
			t.Fatalf("the renewed access token is refused: %d %s", r.Status, r.Raw)
		}
	})
}

func TestRefreshTokenSentTwiceIsRefused(t *testing.T) {
	e := start(t, "memory", "")
	_, refresh := e.login(t, "app-1")
	r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh+"&refreshToken=other", nil, "")
	if r.Status != 400 {
		t.Fatalf("two refreshToken parameters = %d %s, want 400", r.Status, r.Raw)
	}
	springShape(t, r, 400, "/api/base/token/refresh")
	if r := e.Do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, ""); r.Status != 200 {
		t.Fatalf("the refused request used the token up: %d %s", r.Status, r.Raw)
	}
}
