package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/dialects/dialecttest"
)

const testSecret = "test-mmm-signing-key-0123456789abcdef0123"

var usersFile = dialecttest.UsersYAML

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

// TestKubernetesServiceLinksAreNotConfig: the variables Kubernetes injects
// for Services named gateway or authgate do not touch the config.
func TestKubernetesServiceLinksAreNotConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users.yaml", usersFile())
	var env []string
	for _, svc := range []string{"GATEWAY", "AUTHGATE", "AUTHGATE_CFG"} {
		env = append(env, svc+"_PORT=tcp://10.0.0.1:80", svc+"_SERVICE_HOST=10.0.0.1", svc+"_SERVICE_PORT=80",
			svc+"_PORT_80_TCP=tcp://10.0.0.1:80", svc+"_PORT_80_TCP_ADDR=10.0.0.1")
	}
	if _, err := config.Load(writeFile(t, dir, "c.yaml", minimalConfig), env); err != nil {
		t.Fatalf("service links broke the config: %v", err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users.yaml", usersFile())
	cases := map[string]struct {
		yaml string
		env  []string
		want []string
	}{
		"unknown keys": {
			yaml: "server:\n  listn: :1\nstorage: {}\n" + minimalConfig,
			want: []string{"server.listn: unknown key", "storage: unknown key"},
		},
		"bad duration": {
			yaml: "server:\n  shutdown_timeout: soon\n" + minimalConfig,
			want: []string{"server.shutdown_timeout"},
		},
		"bad duration from env": {
			yaml: minimalConfig, env: []string{"AUTHGATE_CFG__SERVER__IDLE_TIMEOUT=-3"},
			want: []string{"server.idle_timeout"},
		},
		"bare number as a duration": {
			yaml: "server:\n  shutdown_timeout: 20\n" + strings.Replace(minimalConfig, "upstream: echo", "upstream: echo\n    timeout: 30", 1),
			want: []string{`server.shutdown_timeout: 20 is a bare number, not a duration; write it with a unit, like "30s"`,
				`routes[0].timeout: 30 is a bare number, not a duration`},
		},
		"bare number as a duration from env": {
			yaml: minimalConfig, env: []string{"AUTHGATE_CFG__SERVER__SHUTDOWN_TIMEOUT=20"},
			want: []string{`server.shutdown_timeout: "20" is not a duration; write it with a unit, like "30s"`},
		},
		"override under the old prefix": {
			yaml: minimalConfig, env: []string{"GATEWAY_STORE__DRIVER=redis", "GATEWAY_PORT=tcp://10.0.0.1:80", "GATEWAY_SERVICE_HOST=10.0.0.1"},
			want: []string{"GATEWAY_STORE__DRIVER: the environment prefix is now AUTHGATE_CFG__; rename it AUTHGATE_CFG__STORE__DRIVER"},
		},
		"unknown path under the prefix": {
			yaml: minimalConfig, env: []string{"AUTHGATE_CFG__SERVER__LISTN=:1"},
			want: []string{"server.listn: unknown key"},
		},
		"wrong type, in the file's words": {
			yaml: "server:\n  max_header_bytes: lots\n" + minimalConfig,
			want: []string{"server.max_header_bytes: must be a whole number"},
		},
		"route names a missing dialect": {
			yaml: strings.Replace(minimalConfig, "dialects: [mmm]", "dialects: [mobile]", 1),
			want: []string{`routes[0].dialects: no dialect instance named "mobile"`},
		},
		"route without dialects": {
			yaml: strings.Replace(minimalConfig, "    dialects: [mmm]\n", "", 1),
			want: []string{"routes[0].dialects: required; a route without authentication must say `public: true`"},
		},
		"several at once": {
			yaml: "store:\n  driver: postgres\nlog:\n  level: loud\n" + strings.Replace(minimalConfig, "upstream: echo", "upstream: ftp://x", 1),
			want: []string{`store.driver: "postgres"`, `log.level: "loud"`, `routes[0].upstream: "ftp://x"`},
		},
		"redis without addresses": {
			yaml: "store:\n  driver: redis\n  redis:\n    addrs: []\n" + minimalConfig,
			want: []string{"store.redis.addrs"},
		},
		"non-canonical prefix": {
			yaml: strings.Replace(minimalConfig, "path_prefix: /v1/", "path_prefix: /v1/../admin", 1),
			want: []string{"routes[0].path_prefix"},
		},
		"identity token without keys, too long, on a public route": {
			yaml: strings.Replace(minimalConfig, "upstream: echo", "upstream: echo\n    identity_token: {header: \"X Token\", ttl: 10m}\n  - path_prefix: /pub/\n    public: true\n    upstream: echo\n    identity_token: {header: X-Auth-Token}", 1),
			want: []string{`routes[0].identity_token.header: "X Token" is not a header name`, "routes[0].identity_token.ttl: 10m0s; between 1s and 5m0s",
				"routes[0].identity_token: no keys to sign with: add identity_token.keys (one with signs: true)",
				"routes[1].identity_token: only an enforce route with dialects has an identity to sign"},
		},
		"rate limits": {
			yaml: strings.Replace(minimalConfig, "upstream: echo", "upstream: echo\n    rate_limit: {rate: 0, burst: -1, key: \"cookie:x\"}\n  - path_prefix: /pub/\n    public: true\n    upstream: echo\n    rate_limit: {rate: 1}", 1),
			want: []string{"routes[0].rate_limit.rate: must be positive", "routes[0].rate_limit.burst: must not be negative",
				`routes[0].rate_limit.key: "cookie:x" is not one of subject, app_id, client_ip, header:<Name>`,
				"routes[1].rate_limit.key: a public route has no identity; limit it by client_ip or header:<Name>"},
		},
		"missing users file": {
			yaml: strings.Replace(minimalConfig, "users.yaml", "nope.yaml", 1),
			want: []string{"identity.users_file"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, dir, "c.yaml", c.yaml)
			_, err := config.Load(path, c.env)
			var ce *config.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a ConfigError", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestRouteModeProblems: route modes that cannot work are refused at load,
// each naming its key and the way out.
func TestRouteModeProblems(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users.yaml", usersFile())
	path := writeFile(t, dir, "config.yaml", `identity:
  users_file: users.yaml
dialects:
  mmm:
    type: mmm
    secret: `+testSecret+`
routes:
  - path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
  - path_prefix: /old/
    dialects: [mmm]
    mode: shadow
    methods: [GET]
    upstream: echo
  - path_prefix: /pub/
    public: true
    mode: shadow
    upstream: echo
  - path_prefix: /x/
    dialects: [mmm]
    mode: observe
    upstream: echo
`)
	_, err := config.Load(path, nil)
	var ce *config.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a ConfigError", err)
	}
	for _, want := range []string{
		"routes[1].dialects: dialect mmm is also on enforce route routes[0]",
		"routes[1].methods: a shadow route forwards every method as received",
		"routes[2].mode: a public route checks no credentials to shadow",
		`routes[3].mode: "observe" is not one of enforce, shadow`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no problem %q in\n%v", want, err)
		}
	}
}
