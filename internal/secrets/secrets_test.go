package secrets_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authgate/authgate/internal/secrets"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "k"), []byte("from-file-0123456789\n"), 0o600)
	env := func(k string) (string, bool) { return "from-env-0123456789", k == "SET" }
	ok := map[string]secrets.Source{
		"from-inline-0123456":  {Inline: "from-inline-0123456"},
		"from-env-0123456789":  {Env: "SET"},
		"from-file-0123456789": {File: "k"},
	}
	for want, src := range ok {
		got, err := secrets.Resolve("secret", src, env, dir, 16)
		if err != nil || string(got) != want {
			t.Errorf("%+v: %q, %v", src, got, err)
		}
	}
	bad := map[string]secrets.Source{
		"set exactly one":                        {},
		"exactly one of":                         {Inline: "a", Env: "SET"},
		"secret_env: environment variable UNSET": {Env: "UNSET"},
		"secret_file":                            {File: "missing"},
		"at least 16 bytes":                      {Inline: "short"},
	}
	for want, src := range bad {
		if _, err := secrets.Resolve("secret", src, env, dir, 16); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", src, err, want)
		}
	}
}
