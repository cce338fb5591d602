package gateway_test

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/gateway/gatewaytest"

	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/gateway"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const minimalConfig = `identity:
  users_file: users.yaml
dialects:
  mmm:
    type: mmm
    secret_env: MMM_SECRET
routes:
  - path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
`

func TestLoadDefaultsAndEnvOverrides(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users.yaml", gatewaytest.UsersFile())
	path := writeFile(t, dir, "config.yaml", minimalConfig)
	cfg, err := config.Load(path, []string{
		"AUTHGATE_CFG__SERVER__LISTEN=:18080",
		"AUTHGATE_CFG__DIALECTS__MMM__ACCESS_TTL=2s",
		"AUTHGATE_CFG__STORE__REDIS__ADDRS=10.0.0.1:6379, 10.0.0.2:6379",
		"AUTHGATE_CFG__SERVER__TRUSTED_PROXIES=10.0.0.0/8",
		"OTHER_VAR=ignored",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != ":18080" || cfg.Server.AdminListen != "127.0.0.1:9090" || cfg.Store.Driver != "memory" {
		t.Fatalf("server/store = %+v %+v", cfg.Server, cfg.Store)
	}
	if got := cfg.Store.Redis.Addrs; len(got) != 2 || got[0] != "10.0.0.1:6379" || got[1] != "10.0.0.2:6379" {
		t.Fatalf("redis addrs = %q", got)
	}
	if cfg.Server.TrustedProxies[0] != "10.0.0.0/8" || cfg.Server.ShutdownTimeout != 20*time.Second {
		t.Fatalf("server = %+v", cfg.Server)
	}
	if cfg.Dialects["mmm"]["access_ttl"] != "2s" {
		t.Fatalf("dialect override = %v", cfg.Dialects["mmm"])
	}
	// The env value reaches the dialect: a 2s access token.
	g, err := gatewaytest.Open(cfg, gateway.Options{Registry: builtin.Registry(), LookupEnv: func(k string) (string, bool) {
		return gatewaytest.TestSecret, k == "MMM_SECRET"
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
}

func TestAccessTTLFromEnvReachesTokens(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users.yaml", gatewaytest.UsersFile())
	path := writeFile(t, dir, "config.yaml", minimalConfig)
	cfg, err := config.Load(path, []string{"AUTHGATE_CFG__DIALECTS__MMM__ACCESS_TTL=2s"})
	if err != nil {
		t.Fatal(err)
	}
	clk := gatewaytest.NewClock()
	g, err := gatewaytest.Open(cfg, gateway.Options{Registry: builtin.Registry(), Now: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), LookupEnv: func(string) (string, bool) { return gatewaytest.TestSecret, true }})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tg := &gatewaytest.Gateway{Server: gatewaytest.NewServer(t, g), Clock: clk}
	p := tg.Login(t)
	if p.ExpiresIn != clk.Now().Add(2*time.Second).Unix() {
		t.Fatalf("expires_in = %d, want now+2s", p.ExpiresIn)
	}
}

func TestDialectConfigErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users.yaml", gatewaytest.UsersFile())
	cases := map[string]struct {
		block string
		want  []string
	}{
		"missing secret": {"    type: mmm\n", []string{"dialects.mmm.secret: set exactly one of secret, secret_env, secret_file"}},
		"unset env":      {"    type: mmm\n    secret_env: NOPE_NOT_SET\n", []string{"dialects.mmm.secret_env: environment variable NOPE_NOT_SET is not set"}},
		"missing file":   {"    type: mmm\n    secret_file: nope.key\n", []string{"dialects.mmm.secret_file"}},
		"short secret":   {"    type: mmm\n    secret: short\n", []string{"dialects.mmm.secret: must be at least 32 bytes"}},
		"unknown key and bad ttl": {
			"    type: mmm\n    secret: " + gatewaytest.TestSecret + "\n    acess_ttl: 1m\n    refresh_ttl: soon\n",
			[]string{"dialects.mmm.acess_ttl: unknown key", `dialects.mmm.refresh_ttl: "soon" is not a duration`},
		},
		"every problem of a block at once": {
			"    type: mmm\n    colour: red\n    access_ttl: 1800\n    login_limit: 0\n",
			[]string{"dialects.mmm.colour: unknown key", "dialects.mmm.access_ttl: 1800 is a bare number, not a duration",
				"dialects.mmm.login_limit: must be positive", "dialects.mmm.secret: set exactly one of"},
		},
		"unknown type": {"    type: oauth3\n", []string{`dialects.mmm.type: "oauth3" is not one of appkey, bov3, mmm, mobile`}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfgYAML := "identity:\n  users_file: users.yaml\ndialects:\n  mmm:\n" + c.block +
				"routes:\n  - path_prefix: /v1/\n    dialects: [mmm]\n    upstream: echo\n"
			cfg, err := config.Load(writeFile(t, dir, "c.yaml", cfgYAML), nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			_, err = gatewaytest.Open(cfg, gateway.Options{Registry: builtin.Registry(), LookupEnv: func(string) (string, bool) { return "", false }})
			var ce *config.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("New = %v, want a ConfigError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestRepositoryConfigIsValid(t *testing.T) {
	g := gatewaytest.Build(t, "../config.yaml", gateway.Options{})
	tg := &gatewaytest.Gateway{Server: gatewaytest.NewServer(t, g), Clock: gatewaytest.NewClock()}
	r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`)
	if r.Code(t) != "00000" {
		t.Fatalf("demo login on the shipped config: %s", r.Raw)
	}
}

// TestShadowDialectEndpointsNotMounted: a dialect on shadow routes only
// serves none of its endpoints (they are the legacy service's), while
// another instance of the same type enforces elsewhere at the same paths.
func TestShadowDialectEndpointsNotMounted(t *testing.T) {
	tg := gatewaytest.Start(t, gatewaytest.Options{More: "  old:\n    type: mmm\n    secret: " + gatewaytest.TestSecret + "\n", Routes: `routes:
  - path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
  - path_prefix: /legacy/
    dialects: [old]
    mode: shadow
    upstream: echo
`})
	if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`); r.Code(t) != "00000" {
		t.Fatalf("the enforcing instance's login: %s", r.Raw)
	}
}

// TestOverlappingRoutes: two routes on one host and prefix are refused
// whichever is listed first (the first would win silently: a shadow route
// before an enforce route forwarded unauthenticated requests, with the
// client's own X-Auth-User-Id, to the protected upstream); a shadow route
// sharing an enforce route's upstream is refused, nested or not; a shadow
// route nested under or over an enforce route with an upstream of its own
// is a warning that says why.
func TestOverlappingRoutes(t *testing.T) {
	shadowDialect := "  legacy-mmm:\n    type: mmm\n    secret: " + gatewaytest.TestSecret + "\n"
	route := func(prefix, mode, dialect, upstream string) string {
		return "  - path_prefix: " + prefix + "\n    mode: " + mode + "\n    dialects: [" + dialect + "]\n    upstream: " + upstream + "\n"
	}
	enforce := route("/v1/", "enforce", "mmm", "http://backend.internal:8080")
	for name, c := range map[string]struct {
		routes string
		want   []string
	}{
		"shadow first": {route("/v1/", "shadow", "legacy-mmm", "http://backend.internal:8080") + enforce, []string{
			`routes[1].path_prefix: "/v1/" on host "" is also routes[0]'s`,
			"routes[0].upstream: shadow route shares upstream http://backend.internal:8080 with enforce route routes[1]",
		}},
		"enforce first": {enforce + route("/v1/", "shadow", "legacy-mmm", "http://legacy.internal"), []string{
			`routes[1].path_prefix: "/v1/" on host "" is also routes[0]'s`,
		}},
		"two enforce routes": {enforce + route("/v1/", "enforce", "mmm", "http://other.internal"), []string{
			`routes[1].path_prefix: "/v1/" on host "" is also routes[0]'s`,
		}},
		"nested, same upstream": {enforce + route("/v1/legacy/", "shadow", "legacy-mmm", "http://backend.internal:8080/base"), []string{
			"routes[1].upstream: shadow route shares upstream http://backend.internal:8080/base with enforce route routes[0]",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			err := gatewaytest.BuildError(t, gatewaytest.Options{More: shadowDialect, Routes: "routes:\n" + c.routes})
			for _, w := range c.want {
				if !strings.Contains(err, w) {
					t.Errorf("error lacks %q:\n%s", w, err)
				}
			}
		})
	}

	for name, c := range map[string]struct{ routes, want string }{
		"under": {enforce + route("/v1/legacy/", "shadow", "legacy-mmm", "http://legacy.internal"),
			`routes[1].path_prefix: shadow route "/v1/legacy/" lies under enforce route routes[0] "/v1/"`},
		"over": {route("/", "shadow", "legacy-mmm", "http://legacy.internal") + enforce,
			`routes[0].path_prefix: shadow route "/" holds enforce route routes[1] "/v1/"`},
	} {
		t.Run("warns "+name, func(t *testing.T) {
			tg := gatewaytest.Start(t, gatewaytest.Options{More: shadowDialect, Routes: "routes:\n" + c.routes})
			if w := tg.GW.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], c.want) {
				t.Errorf("warnings = %q, want one starting %q", w, c.want)
			}
		})
	}
	// Other hosts do not overlap.
	tg := gatewaytest.Start(t, gatewaytest.Options{More: shadowDialect, Routes: "routes:\n" +
		"  - path_prefix: /\n    name: legacy\n    host: legacy.example.com\n    mode: shadow\n    dialects: [legacy-mmm]\n    upstream: http://legacy.internal\n" +
		"  - path_prefix: /v1/\n    name: api\n    host: api.example.com\n    dialects: [mmm]\n    upstream: http://backend.internal:8080\n"})
	if w := tg.GW.Warnings(); len(w) != 0 {
		t.Errorf("warnings for routes on other hosts: %q", w)
	}
}
