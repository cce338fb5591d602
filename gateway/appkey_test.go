package gateway_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/gateway"
	"github.com/authgate/authgate/identity"
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

type appEnv struct {
	*testGateway
	appsPath string
	checks   *atomic.Int64
	lastHash *atomic.Value
}

func (e *appEnv) writeApps(t *testing.T, content string) {
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

func startAppkey(t *testing.T, store string, extra string) *appEnv {
	t.Helper()
	return startAppkeyRoutes(t, store, extra, defaultRoutes+`  - name: partner
    path_prefix: /api/
    dialects: [appkey]
    upstream: echo
`)
}

// startAppkeyRoutes is startAppkey with a routes block of the test's own;
// extra may add further dialect instances after the appkey block.
func startAppkeyRoutes(t *testing.T, store, extra, routes string) *appEnv {
	t.Helper()
	o := gwOptions{store: store, more: `  appkey:
    type: appkey
    secret: appkey-test-signing-key-0123456789abcdef
    apps_file: apps.yaml
    reload_interval: 10ms
` + extra, routes: routes}
	if store == "redis" {
		o.prefix = newPrefix(t)
	}
	o.clock = newClock()
	path := writeConfig(t, o)
	appsPath := filepath.Join(filepath.Dir(path), "apps.yaml")
	if err := os.WriteFile(appsPath, []byte("apps:\n"+appEntry("app-1", true, appSecretHash)+appEntry("app-off", false, appSecretHash)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := gateway.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := &atomic.Int64{}
	lastHash := &atomic.Value{}
	logs := &syncBuffer{}
	g, err := openGateway(cfg, gateway.Options{Registry: builtin.Registry(), Now: o.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		VerifySecret: func(hash, secret string) (bool, error) {
			checks.Add(1)
			lastHash.Store(hash)
			return identity.VerifySecret(hash, secret)
		}})
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{Server: newServer(t, g), gw: g, clock: o.clock, logs: logs, opts: o}
	tg.admin = httptestServer(t, g.AdminHandler())
	t.Cleanup(func() { _ = g.Close() })
	return &appEnv{testGateway: tg, appsPath: appsPath, checks: checks, lastHash: lastHash}
}

func appLogin(id, key, secret, typ string) string {
	return fmt.Sprintf(`{"appId":%q,"appKey":%q,"appSecret":%q,"loginType":%q}`, id, key, secret, typ)
}

func (e *appEnv) login(t *testing.T, id string) (access, refresh string) {
	t.Helper()
	r := e.do(t, "POST", "/api/base/token/login", nil, appLogin(id, "key-"+id, "s3cret-app", "APP_KEY"))
	if r.status != 200 {
		t.Fatalf("login %s: %d %s", id, r.status, r.raw)
	}
	return r.body["accessToken"].(string), r.body["refreshToken"].(string)
}

// springShape checks Spring Boot's default error body.
func springShape(t *testing.T, r reply, status int, path string) {
	t.Helper()
	got := decodeNumbers(t, string(r.raw)).(map[string]any)
	want := map[string]any{"timestamp": "string", "status": "number", "error": "string", "message": "string", "path": "string"}
	if !reflect.DeepEqual(shape(got), want) {
		t.Fatalf("error body %s", r.raw)
	}
	if got["status"].(json.Number).String() != fmt.Sprint(status) || got["error"] != http.StatusText(status) || got["path"] != path {
		t.Fatalf("error body %s, want status %d path %s", r.raw, status, path)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000-07:00", got["timestamp"].(string)); err != nil {
		t.Fatalf("timestamp %v: %v", got["timestamp"], err)
	}
}

// waitFor polls until cond holds: the apps file is re-read by a watcher
// on its own ticker (10ms here).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAppkeyFlowAndSeedShape(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startAppkey(t, store, "")
		now := e.clock.Now()
		r := e.do(t, "POST", "/api/base/token/login", map[string]string{"Content-Type": "application/json"}, appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY"))
		if r.status != 200 {
			t.Fatalf("login = %d %s", r.status, r.raw)
		}
		got := decodeNumbers(t, string(r.raw))
		if !reflect.DeepEqual(shape(got), shape(decodeNumbers(t, seedToken))) {
			t.Fatalf("Token shape\n got %v\nwant %v", shape(got), shape(decodeNumbers(t, seedToken)))
		}
		lu := r.body["loginUser"].(map[string]any)
		if lu["loginType"] != "APP_KEY" || lu["loginUserType"] != "CLIENT" || lu["id"].(json.Number).String() != "9001" ||
			lu["userOrg"].(map[string]any)["org"].(map[string]any)["type"] != "SAAS" || lu["userProduct"].(map[string]any)["systemAdmin"] != true {
			t.Fatalf("loginUser = %v", lu)
		}
		if r.body["expiresTime"] != now.Add(2*time.Hour).UTC().Format(time.RFC3339) {
			t.Fatalf("expiresTime %v", r.body["expiresTime"])
		}
		access, refresh := r.body["accessToken"].(string), r.body["refreshToken"].(string)
		_, seen := e.echo(t, "/api/orders", bearer(access))
		for k, v := range map[string]string{"X-Auth-User-Id": "9001", "X-Auth-App-Id": "app-1", "X-Auth-Org-Id": "501",
			"X-Auth-Product-Id": "701", "X-Auth-User-Type": "CLIENT", "X-Auth-Dialect": "appkey"} {
			if g := seen[k]; len(g) != 1 || g[0] != v {
				t.Errorf("upstream %s = %v, want %s", k, g, v)
			}
		}
		// Refresh rotates; the used token is refused and ends the session.
		e.clock.Advance(time.Minute)
		r = e.do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, "")
		if r.status != 200 || !reflect.DeepEqual(shape(decodeNumbers(t, string(r.raw))), shape(decodeNumbers(t, seedToken))) {
			t.Fatalf("refresh = %d %s", r.status, r.raw)
		}
		next := r.body["refreshToken"].(string)
		if next == refresh {
			t.Fatal("refresh token not rotated")
		}
		if _, seen := e.echo(t, "/api/orders", bearer(r.body["accessToken"].(string))); seen == nil {
			t.Fatal("refreshed access token refused")
		}
		r = e.do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, "")
		if r.status != 401 {
			t.Fatalf("used refresh token = %d %s", r.status, r.raw)
		}
		springShape(t, r, 401, "/api/base/token/refresh")
		if r := e.do(t, "POST", "/api/base/token/refresh?refreshToken="+next, nil, ""); r.status != 401 {
			t.Fatalf("successor after reuse = %d %s: the session must end", r.status, r.raw)
		}
		// Expired refresh token.
		_, refresh = e.login(t, "app-1")
		e.clock.Advance(7*24*time.Hour + time.Second)
		if r := e.do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, ""); r.status != 401 {
			t.Fatalf("expired refresh = %d %s", r.status, r.raw)
		}
	})
}

func TestAppkeyStatuses(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startAppkey(t, store, "")
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
				h = bearer("a.b.c")
			}
			r := e.do(t, c.method, c.path, h, c.body)
			if r.status != c.status {
				t.Errorf("%s: %d %s, want %d", c.name, r.status, r.raw, c.status)
				continue
			}
			springShape(t, r, c.status, strings.Split(c.path, "?")[0])
			if !strings.Contains(r.body["message"].(string), c.msgHas) {
				t.Errorf("%s: message %q lacks %q", c.name, r.body["message"], c.msgHas)
			}
		}
		// Tokens of other dialects are refused here, and these elsewhere.
		mmm := e.testGateway.login(t)
		if r, _ := e.echo(t, "/api/orders", bearer(mmm.Access)); r.status != 401 {
			t.Errorf("mmm token on /api/: %d", r.status)
		}
		access, _ := e.login(t, "app-1")
		if r, _ := e.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": access}); r.code(t) != "10013" {
			t.Errorf("appkey token on an mmm route: %s", r.raw)
		}
	})
}

func TestAppkeyUnknownAppCostsOneHashCheck(t *testing.T) {
	e := startAppkey(t, "memory", "")
	for _, c := range []struct{ name, body string }{
		{"unknown app", appLogin("ghost", "k", "s", "APP_KEY")},
		{"wrong key", appLogin("app-1", "nope", "s3cret-app", "APP_KEY")},
		{"wrong secret", appLogin("app-1", "key-app-1", "nope", "APP_KEY")},
		{"right", appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")},
	} {
		before := e.checks.Load()
		e.do(t, "POST", "/api/base/token/login", nil, c.body)
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
	e.do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "s3cret-app", "PASSWORD"))
	if n := e.checks.Load() - before; n != 0 {
		t.Errorf("a bad loginType ran %d hash checks", n)
	}
}

func TestAppkeyFailureLimits(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startAppkey(t, store, "    failure_limit: 3\n    failure_window: 1m\n")
		for i := range 3 {
			if r := e.do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "bad", "APP_KEY")); r.status != 401 {
				t.Fatalf("failure %d: %d", i, r.status)
			}
		}
		r := e.do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY"))
		if r.status != 429 || r.header.Get("Retry-After") != "60" {
			t.Fatalf("over the per-app limit: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.raw)
		}
		springShape(t, r, 429, "/api/base/token/login")
		// The same IP is over its limit too, for any app.
		if r := e.do(t, "POST", "/api/base/token/login", nil, appLogin("other", "k", "s", "APP_KEY")); r.status != 429 {
			t.Fatalf("over the per-IP limit: %d", r.status)
		}
		e.clock.Advance(time.Minute)
		if r := e.do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")); r.status != 200 {
			t.Fatalf("after the window: %d %s", r.status, r.raw)
		}
		// Successes do not count as failures.
		for range 5 {
			e.login(t, "app-1")
		}
	})
}

func TestAppkeyReload(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startAppkey(t, store, "")
		access, refresh := e.login(t, "app-1")
		// Register a new app without a restart.
		e.writeApps(t, "apps:\n"+appEntry("app-1", true, appSecretHash)+appEntry("app-off", false, appSecretHash)+appEntry("app-new", true, appSecretHash))
		waitFor(t, "app-new", func() bool {
			return e.do(t, "POST", "/api/base/token/login", nil, appLogin("app-new", "key-app-new", "s3cret-app", "APP_KEY")).status == 200
		})
		// A broken file keeps the last good set and says why.
		e.writeApps(t, "apps:\n  - app_id: [broken\n")
		waitFor(t, "the broken-file log line", func() bool { return strings.Contains(e.logs.String(), "apps file broken") })
		if _, seen := e.echo(t, "/api/x", bearer(access)); seen == nil {
			t.Fatal("a broken file dropped the good apps")
		}
		metrics := func() string {
			resp, err := http.Get(e.admin.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		if m := metrics(); !strings.Contains(m, `authgate_appkey_apps_file_broken{dialect="appkey"} 1`) || !strings.Contains(m, `authgate_appkey_apps_reloads_total{dialect="appkey",result="error"}`) {
			t.Fatalf("broken file not in the metrics")
		}
		// Disabling an app ends its sessions: 403 on routes, 401 on refresh.
		e.writeApps(t, "apps:\n"+appEntry("app-1", false, appSecretHash))
		waitFor(t, "app-1 disabled", func() bool { r, _ := e.echo(t, "/api/x", bearer(access)); return r.status == 403 })
		if r := e.do(t, "POST", "/api/base/token/refresh?refreshToken="+refresh, nil, ""); r.status != 401 {
			t.Fatalf("refresh of a disabled app's session = %d %s", r.status, r.raw)
		}
		if r := e.do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")); r.status != 403 {
			t.Fatalf("login of a disabled app = %d", r.status)
		}
		// Enabling it again does not revive the ended session.
		e.writeApps(t, "apps:\n"+appEntry("app-1", true, appSecretHash))
		waitFor(t, "app-1 enabled", func() bool {
			return e.do(t, "POST", "/api/base/token/login", nil, appLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")).status == 200
		})
		if r, _ := e.echo(t, "/api/x", bearer(access)); r.status != 401 {
			t.Fatalf("old token after re-enabling = %d", r.status)
		}
		// Deleting an app: its tokens stop at once.
		access, _ = e.login(t, "app-1")
		e.writeApps(t, "apps: []\n")
		waitFor(t, "app-1 deleted", func() bool { r, _ := e.echo(t, "/api/x", bearer(access)); return r.status == 401 })
		if !strings.Contains(metrics(), `authgate_appkey_apps_file_broken{dialect="appkey"} 0`) {
			t.Fatal("the broken gauge did not clear")
		}
	})
}

func TestAppkeyConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users.yaml", usersFile())
	writeFile(t, dir, "bad-apps.yaml", "apps:\n  - app_id: a\n    app_key: k\n    app_secret_hash: plain\n    login_user: { user_org: { org: { type: BANK } } }\n")
	path := writeFile(t, dir, "c.yaml", "identity:\n  users_file: users.yaml\ndialects:\n  appkey:\n    type: appkey\n    secret: appkey-test-signing-key-0123456789abcdef\n    apps_file: bad-apps.yaml\nroutes:\n  - path_prefix: /api/\n    dialects: [appkey]\n    upstream: echo\n")
	cfg, err := gateway.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = openGateway(cfg, gateway.Options{Registry: builtin.Registry()})
	if err == nil || !strings.Contains(err.Error(), "apps[0].app_secret_hash") || !strings.Contains(err.Error(), `"BANK" is not one of CHANNEL, SERVICE, SAAS`) {
		t.Fatalf("New = %v", err)
	}
}
