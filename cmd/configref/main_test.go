package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedReferenceIsCurrent fails when docs/config-reference.md is
// not what the config types say today: a key added, renamed, given
// another default or doc comment without the reference regenerated.
func TestCommittedReferenceIsCurrent(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := write(&want, root); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "docs", "config-reference.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("docs/config-reference.md is not what the config types say; regenerate it: go run ./cmd/configref > docs/config-reference.md")
	}
}

// TestReferenceListsEveryKey: keys of every block and of every dialect
// type appear with their default and reload mode.
func TestReferenceListsEveryKey(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := write(&out, root); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"| `server.listen` | string | `:8080` | restart |",
		"| `server.tls_cert_file` | string |  | on/off |",
		"| `server.trusted_proxies` | list of strings |  | yes |",
		"| `store.redis.password` | string |  | restart |",
		"| `routes[].max_body_bytes` | integer | `0` | yes |",
		"| `admin.tokens[].hash` | string |  | yes |",
		"| `dialects.<name>.access_ttl` | duration | `30m` | yes |",
		"| `dialects.<name>.legacy.introspect.require.issuer` | string |  | yes |",
		"| `dialects.<name>.sms.sender.backoff` | duration | `200ms` | yes |",
		"| `dialects.<name>.verify_api.enforcement` | string | `required` | yes |",
	} {
		if !bytes.Contains(out.Bytes(), []byte(line)) {
			t.Errorf("no line %q", line)
		}
	}
}
