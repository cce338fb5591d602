package backend_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authgate/authgate/config"

	"github.com/authgate/authgate/backend"
	"github.com/authgate/authgate/tokenstore/memstore"
	"github.com/authgate/authgate/tokenstore/redisstore"
)

func load(t *testing.T, store string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	cfg := store + "dialects:\n  m:\n    type: mmm\nroutes:\n  - path_prefix: /v1/\n    dialects: [m]\n    upstream: echo\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOpenNamesTheStore(t *testing.T) {
	s, err := backend.OpenStore(load(t, "store:\n  driver: memory\n"), nil, nil)
	if _, ok := s.(*memstore.Store); !ok || err != nil {
		t.Fatalf("memory: %T, %v", s, err)
	}
	_ = s.Close()
	s, err = backend.OpenStore(load(t, "store:\n  driver: redis\n  redis:\n    addrs: [\"127.0.0.1:6379\"]\n    key_prefix: \"x:\"\n"), nil, nil)
	rs, ok := s.(*redisstore.Store)
	if !ok || err != nil || rs.Prefix() != "x:" {
		t.Fatalf("redis: %T, %v", s, err)
	}
	_ = s.Close()
}

func TestOpenRefusesAMissingPassword(t *testing.T) {
	cfg := load(t, "store:\n  driver: redis\n  redis:\n    addrs: [\"127.0.0.1:6379\"]\n    password_env: NOPE_NOT_SET\n")
	_, err := backend.OpenStore(cfg, func(string) (string, bool) { return "", false }, nil)
	if err == nil || !strings.Contains(err.Error(), "store.redis.password") || !strings.Contains(err.Error(), "NOPE_NOT_SET") {
		t.Fatalf("err = %v, want the key path and the variable", err)
	}
}
