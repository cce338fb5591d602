package gateway_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/authgate/authgate/config"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/gateway"
)

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
	return startAppkeyWith(t, o)
}

// startAppkeyWith serves a gateway of o with the test apps file beside its
// config: a second replica of an appEnv is startAppkeyWith(t, e.opts).
func startAppkeyWith(t *testing.T, o gwOptions) *appEnv {
	t.Helper()
	path := writeConfig(t, o)
	appsPath := filepath.Join(filepath.Dir(path), "apps.yaml")
	if err := os.WriteFile(appsPath, []byte("apps:\n"+appEntry("app-1", true, appSecretHash)+appEntry("app-off", false, appSecretHash)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	g, err := openGateway(cfg, gateway.Options{Registry: builtin.Registry(), Now: o.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{Server: newServer(t, g), gw: g, clock: o.clock, logs: logs, opts: o}
	tg.admin = httptestServer(t, g.AdminHandler())
	t.Cleanup(func() { _ = g.Close() })
	return &appEnv{testGateway: tg}
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

// TestAppkeyEndToEnd: an app login through the gateway, the identity
// headers its upstream receives, and tokens that do not cross dialects.
func TestAppkeyEndToEnd(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := startAppkey(t, store, "")
		access, _ := e.login(t, "app-1")
		_, seen := e.echo(t, "/api/orders", bearer(access))
		for k, v := range map[string]string{"X-Auth-User-Id": "9001", "X-Auth-App-Id": "app-1", "X-Auth-Org-Id": "501",
			"X-Auth-Product-Id": "701", "X-Auth-User-Type": "CLIENT", "X-Auth-Dialect": "appkey"} {
			if g := seen[k]; len(g) != 1 || g[0] != v {
				t.Errorf("upstream %s = %v, want %s", k, g, v)
			}
		}
		if _, ok := seen["Authorization"]; ok {
			t.Error("the token reached the upstream")
		}
		mmm := e.testGateway.login(t)
		if r, _ := e.echo(t, "/api/orders", bearer(mmm.Access)); r.status != 401 {
			t.Errorf("mmm token on /api/: %d", r.status)
		}
		if r, _ := e.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": access}); r.code(t) != "10013" {
			t.Errorf("appkey token on an mmm route: %s", r.raw)
		}
	})
}
