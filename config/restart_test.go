package config_test

import (
	"strings"
	"testing"

	"github.com/authgate/authgate/config"
)

// TestRestartKeys: the keys a reload cannot apply are the ones tagged so,
// each reported by its path; keys a reload applies are not; a secret's
// value never appears in the message.
func TestRestartKeys(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "users.yaml", usersFile())
	load := func(yaml string) *config.Config {
		t.Helper()
		cfg, err := config.Load(writeFile(t, dir, "c.yaml", yaml+minimalConfig), nil)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	running := load("server:\n  listen: :8080\n  http2_max_concurrent_streams: 100\nstore:\n  redis:\n    password: old-redis-password\n")
	next := load("server:\n  listen: :9999\n  http2_max_concurrent_streams: 50\n  trusted_proxies: [10.0.0.0/8]\nstore:\n  redis:\n    password: new-redis-password\nlog:\n  level: debug\n")
	got := strings.Join(config.RestartKeys(running, next), "\n")
	for _, want := range []string{
		"server.listen: cannot change while the gateway runs (:8080 → :9999); restart to apply it",
		"server.http2_max_concurrent_streams: cannot change while the gateway runs (100 → 50)",
		"store.redis.password: cannot change while the gateway runs (changed)",
		"log.level: cannot change while the gateway runs (info → debug)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "trusted_proxies") {
		t.Errorf("a key a reload applies was reported:\n%s", got)
	}
	if strings.Contains(got, "redis-password") {
		t.Errorf("a secret's value in the message:\n%s", got)
	}
	if n := len(config.RestartKeys(running, running)); n != 0 {
		t.Errorf("an unchanged config reported %d keys", n)
	}
}
