package gatewaytest

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

// AppSecretHash is the bcrypt hash (least cost) of the test apps' secret
// "s3cret-app".
var AppSecretHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("s3cret-app"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// AppEntry is one app of an apps file: id with key key-<id>, the secret
// hash given, enabled or not, and a fixed login user.
func AppEntry(id string, enabled bool, secretHash string) string {
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

// AppEnv is a gateway with an appkey instance on /api/.
type AppEnv struct {
	*Gateway
}

// StartAppkey starts a gateway on store with an appkey instance (extra
// lines in its block) on the route /api/.
func StartAppkey(t *testing.T, store string, extra string) *AppEnv {
	t.Helper()
	return StartAppkeyRoutes(t, store, extra, DefaultRoutes+`  - name: partner
    path_prefix: /api/
    dialects: [appkey]
    upstream: echo
`)
}

// StartAppkeyRoutes is startAppkey with a routes block of the test's own;
// extra may add further dialect instances after the appkey block.
func StartAppkeyRoutes(t *testing.T, store, extra, routes string) *AppEnv {
	t.Helper()
	o := Options{Store: store, More: `  appkey:
    type: appkey
    secret: appkey-test-signing-key-0123456789abcdef
    apps_file: apps.yaml
    reload_interval: 10ms
` + extra, Routes: routes}
	if store == "redis" {
		o.Prefix = NewPrefix(t)
	}
	o.Clock = NewClock()
	return StartAppkeyWith(t, o)
}

// StartAppkeyWith serves a gateway of o with the test apps file beside its
// config: a second replica of an appEnv is startAppkeyWith(t, e.opts).
func StartAppkeyWith(t *testing.T, o Options) *AppEnv {
	t.Helper()
	path := WriteConfig(t, o)
	appsPath := filepath.Join(filepath.Dir(path), "apps.yaml")
	if err := os.WriteFile(appsPath, []byte("apps:\n"+AppEntry("app-1", true, AppSecretHash)+AppEntry("app-off", false, AppSecretHash)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &SyncBuffer{}
	g, err := Open(cfg, gateway.Options{Registry: builtin.Registry(), Now: o.Clock.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tg := &Gateway{Server: NewServer(t, g), GW: g, Clock: o.Clock, Logs: logs, Opts: o}
	tg.Admin = HTTPTestServer(t, g.AdminHandler())
	t.Cleanup(func() { _ = g.Close() })
	return &AppEnv{Gateway: tg}
}

// AppLogin is an appkey login body.
func AppLogin(id, key, secret, typ string) string {
	return fmt.Sprintf(`{"appId":%q,"appKey":%q,"appSecret":%q,"loginType":%q}`, id, key, secret, typ)
}

// Login logs app id in with the test secret and returns its tokens.
func (e *AppEnv) Login(t *testing.T, id string) (access, refresh string) {
	t.Helper()
	r := e.Do(t, "POST", "/api/base/token/login", nil, AppLogin(id, "key-"+id, "s3cret-app", "APP_KEY"))
	if r.Status != 200 {
		t.Fatalf("login %s: %d %s", id, r.Status, r.Raw)
	}
	return r.Body["accessToken"].(string), r.Body["refreshToken"].(string)
}
