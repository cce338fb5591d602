package identity_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/identity"
)

var ctx = context.Background()

func usersYAML(t *testing.T) []byte {
	t.Helper()
	argon, err := identity.HashSecret("demo123")
	if err != nil {
		t.Fatal(err)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(`demo: true
users:
  - id: 10
    account: demo
    password_hash: "` + argon + `"
    companies: [1, 2]
    default_company: 1
    name: Demo
    mobile: "13800138000"
  - id: 11
    account: bob
    password_hash: "` + string(bc) + `"
    companies: [3]
`)
}

func TestAuthenticate(t *testing.T) {
	d, err := identity.Parse(usersYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Demo() || d.Len() != 2 {
		t.Fatalf("demo=%v len=%d", d.Demo(), d.Len())
	}
	u, err := d.Authenticate(ctx, "demo", "demo123")
	if err != nil || u.ID != 10 || u.DefaultCompany != 1 || !u.BelongsTo(2) || u.BelongsTo(3) {
		t.Fatalf("argon2id login = %+v, %v", u, err)
	}
	u, err = d.Authenticate(ctx, "bob", "s3cret")
	if err != nil || u.ID != 11 || u.DefaultCompany != 3 {
		t.Fatalf("bcrypt login = %+v, %v (default company comes from the first membership)", u, err)
	}
	for _, c := range [][2]string{{"demo", "wrong"}, {"nobody", "demo123"}, {"", ""}, {"bob", "demo123"}} {
		if _, err := d.Authenticate(ctx, c[0], c[1]); !errors.Is(err, identity.ErrBadCredentials) {
			t.Errorf("Authenticate(%q, %q) = %v, want ErrBadCredentials", c[0], c[1], err)
		}
	}
	if u, err := d.ByMobile(ctx, "13800138000"); err != nil || u.ID != 10 {
		t.Fatalf("ByMobile = %+v %v", u, err)
	}
}

// TestUnknownAccountCostsOneHashCheck counts hash checks rather than timing
// them: an unknown account must run exactly as many as a wrong password.
func TestUnknownAccountCostsOneHashCheck(t *testing.T) {
	d, err := identity.Parse(usersYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	var lastHash atomic.Value
	d.SetVerifier(func(_ context.Context, hash, secret string) (bool, error) {
		calls.Add(1)
		lastHash.Store(hash)
		return identity.VerifySecret(hash, secret)
	})
	_, _ = d.Authenticate(ctx, "demo", "wrong")
	_, _ = d.Authenticate(ctx, "nobody", "wrong")
	if calls.Load() != 2 {
		t.Fatalf("hash checks = %d, want one per attempt", calls.Load())
	}
	if h := lastHash.Load().(string); !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("unknown account checked against %q, want a real argon2id hash", h)
	}
}

func TestParseRefusesBadFiles(t *testing.T) {
	good, _ := identity.HashSecret("x")
	cases := map[string]string{
		"unknown key":      "users:\n  - id: 1\n    account: a\n    password_hash: \"" + good + "\"\n    pasword: x\n",
		"plain password":   "users:\n  - id: 1\n    account: a\n    password_hash: demo123\n",
		"duplicate":        "users:\n  - id: 1\n    account: a\n    password_hash: \"" + good + "\"\n  - id: 2\n    account: a\n    password_hash: \"" + good + "\"\n",
		"foreign default":  "users:\n  - id: 1\n    account: a\n    password_hash: \"" + good + "\"\n    companies: [1]\n    default_company: 2\n",
		"no id":            "users:\n  - account: a\n    password_hash: \"" + good + "\"\n",
		"string companies": "users:\n  - id: 1\n    account: a\n    password_hash: \"" + good + "\"\n    companies: [x]\n",
	}
	for name, raw := range cases {
		if _, err := identity.Parse([]byte(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestHashFormats(t *testing.T) {
	h, err := identity.HashSecret("pw")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := identity.VerifySecret(h, "pw"); !ok || err != nil {
		t.Fatalf("own hash: %v %v", ok, err)
	}
	if ok, _ := identity.VerifySecret(h, "pW"); ok {
		t.Fatal("wrong secret matched")
	}
	h2, _ := identity.HashSecret("pw")
	if h == h2 {
		t.Fatal("hashes are not salted")
	}
	for _, bad := range []string{"", "pw", "$argon2id$v=19$m=x$a$b", "$argon2id$v=18$m=1,t=1,p=1$YQ$YQ"} {
		if err := identity.CheckHash(bad); err == nil {
			t.Errorf("CheckHash(%q) accepted", bad)
		}
	}
}

func TestDummyLikeMatchesKindAndCost(t *testing.T) {
	bc, _ := bcrypt.GenerateFromPassword([]byte("x"), 5)
	d, err := identity.DummyLike(string(bc))
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(d)); err != nil || cost != 5 {
		t.Fatalf("bcrypt dummy %q cost %d, want 5", d, cost)
	}
	a := "$argon2id$v=19$m=8192,t=3,p=2$c2FsdHNhbHRzYWx0$" + strings.Repeat("A", 43)
	d, err = identity.DummyLike(a)
	if err != nil || !strings.HasPrefix(d, "$argon2id$v=19$m=8192,t=3,p=2$") {
		t.Fatalf("argon2id dummy %q, %v", d, err)
	}
	if d, _ := identity.DummyLike(""); !strings.HasPrefix(d, "$argon2id$") {
		t.Fatalf("default dummy %q", d)
	}
}
