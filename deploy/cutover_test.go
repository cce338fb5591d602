package deploy_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/config"

	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/gateway"
	"github.com/authgate/authgate/tokenstore/memstore"
)

// TestCutoverExamples: the three phases of the switch-over guide's (docs/switch-over.md) build
// as check-config builds them, with the files and variables they name;
// phase 1 shadows every route, phase 2 enforces them with the legacy
// blocks, which warn once their date has passed, and phase 3 has none.
func TestCutoverExamples(t *testing.T) {
	env := map[string]string{
		"AUTHGATE_SECRET_REDIS": "r", "AUTHGATE_SECRET_MMM": "mmm-signing-key-0123456789abcdef0123",
		"AUTHGATE_SECRET_APPKEY": "appkey-signing-key-0123456789abcdef01", "LEGACY_MMM_SECRET": "the-legacy-key",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	build := func(t *testing.T, file string, now time.Time) (*config.Config, *gateway.Gateway) {
		t.Helper()
		dir := t.TempDir()
		for src, dst := range map[string]string{"cutover/" + file: "config.yaml", "demo/users.yaml": "users.yaml", "demo/apps.yaml": "apps.yaml"} {
			raw, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, dst), raw, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var environ []string
		for k, v := range env {
			environ = append(environ, k+"="+v)
		}
		cfg, err := config.Load(filepath.Join(dir, "config.yaml"), environ)
		if err != nil {
			t.Fatal(err)
		}
		clock := func() time.Time { return now }
		g, err := gateway.New(cfg, gateway.Options{Registry: builtin.Registry(), Store: memstore.New(clock), LookupEnv: lookup, Now: clock,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Close() })
		return cfg, g
	}
	// warnings are a gateway's warnings but the demo files' (the test
	// stands the demo users and apps in for the operator's).
	warnings := func(g *gateway.Gateway) []string {
		var out []string
		for _, w := range g.Warnings() {
			if !strings.Contains(w, "DEMO ") {
				out = append(out, w)
			}
		}
		return out
	}
	day := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)

	cfg, g := build(t, "1-shadow.yaml", day)
	for _, r := range cfg.Routes {
		if r.Mode != config.ModeShadow {
			t.Errorf("phase 1 route %s is not in shadow mode", r.Name)
		}
	}
	if w := warnings(g); len(w) > 0 {
		t.Errorf("phase 1 warnings: %v", w)
	}

	cfg, g = build(t, "2-accept.yaml", day)
	for name, d := range cfg.Dialects {
		if _, ok := d["legacy"]; !ok {
			t.Errorf("phase 2 dialect %s has no legacy block", name)
		}
	}
	if w := warnings(g); len(w) > 0 {
		t.Errorf("phase 2 warnings before legacy.until: %v", w)
	}
	_, g = build(t, "2-accept.yaml", time.Date(2027, 3, 2, 0, 0, 0, 0, time.UTC))
	if w := warnings(g); len(w) != 2 || !strings.Contains(w[0], "legacy.until: 2027-03-01T00:00:00Z has passed") {
		t.Errorf("phase 2 after legacy.until: warnings %v, want one per legacy block", w)
	}

	cfg, _ = build(t, "3-retire.yaml", day)
	for name, d := range cfg.Dialects {
		if _, ok := d["legacy"]; ok {
			t.Errorf("phase 3 dialect %s still has a legacy block", name)
		}
	}
}
