// Package directorytest is the conformance suite every identity.Directory
// passes: the file directory, the sql directory on PostgreSQL and on
// MariaDB, the http directory. Each implementation's test gives it the
// suite's users (Fixtures) in its own form and says what it can do.
package directorytest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/identity"
)

// FixtureUser is one user of the suite, with its password in clear for
// the implementation to store as it stores passwords.
type FixtureUser struct {
	identity.User
	Password string
	// Hash is how the password is stored: a bcrypt or PBKDF2 hash, or for
	// Legacy a hex md5(salt+password) with Salt.
	Hash   string
	Salt   string
	Legacy bool
}

// Matches reports whether password is the user's, checked against the
// stored form as the legacy service would check it.
func (u FixtureUser) Matches(password string) bool {
	if u.Legacy {
		h := md5.Sum([]byte(u.Salt + password))
		return hex.EncodeToString(h[:]) == u.Hash
	}
	ok, err := identity.VerifySecret(u.Hash, password)
	return ok && err == nil
}

// Fixtures are the suite's users: demo (bcrypt, companies 1 and 2, a
// mobile number, a bo profile), legacy (md5(salt+password), company 5),
// plain (bcrypt, no company) and django (a Django PBKDF2-SHA256 hash,
// made by Python's hashlib, company 7).
func Fixtures() []FixtureUser {
	bc := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		return string(h)
	}
	md5hex := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	return []FixtureUser{
		{User: identity.User{ID: 10, Account: "demo", Companies: []int64{1, 2}, DefaultCompany: 1, Name: "Demo User", NickName: "demo",
			Mobile: "13800138000", Profiles: map[string]identity.Profile{"bo": {"user_id": {"ptdev"}, "role_id": {"development"}}}},
			Password: "demo123", Hash: bc("demo123")},
		{User: identity.User{ID: 11, Account: "legacy", Companies: []int64{5}, DefaultCompany: 5, Name: "Old Timer", Mobile: "13900000011"},
			Password: "old-pass", Salt: "NaCl", Hash: md5hex("NaCl" + "old-pass"), Legacy: true},
		{User: identity.User{ID: 12, Account: "plain", Name: "Plain"}, Password: "pw12", Hash: bc("pw12")},
		{User: identity.User{ID: 13, Account: "django", Companies: []int64{7}, DefaultCompany: 7, Name: "Django User"},
			Password: "pw", Hash: "pbkdf2_sha256$1000$seasalt$ViJRF1xdpQtYimadedSuBt5uOSSLWsYR5FEclFydhH0="},
	}
}

// LegacyScheme is the scheme of the legacy fixture.
const LegacyScheme = "md5(salt+password)"

// Subject is an implementation under test.
type Subject struct {
	Dir identity.Directory
	// Legacy says the directory holds the legacy user (the file
	// directory cannot: it takes only argon2id and bcrypt).
	Legacy bool
	// StoredHash reads a user's stored password hash, to show an upgrade.
	StoredHash func(t *testing.T, id int64) string
}

// Run runs the suite; newSubject gives a fresh directory with Fixtures.
func Run(t *testing.T, newSubject func(t *testing.T) Subject) {
	ctx := context.Background()
	t.Run("Authenticate", func(t *testing.T) {
		s := newSubject(t)
		u, err := s.Dir.Authenticate(ctx, "demo", "demo123")
		if err != nil || u.ID != 10 || !reflect.DeepEqual(u.Companies, []int64{1, 2}) || u.DefaultCompany != 1 || u.Mobile != "13800138000" ||
			u.Profiles["bo"] == nil || u.Profiles["bo"].First("user_id") != "ptdev" || !reflect.DeepEqual(u.Profiles["bo"]["role_id"], []string{"development"}) {
			t.Fatalf("demo = %+v, %v", u, err)
		}
		for _, c := range [][2]string{{"demo", "wrong"}, {"ghost", "demo123"}, {"", ""}, {"plain", "demo123"}, {"demo", ""}} {
			if _, err := s.Dir.Authenticate(ctx, c[0], c[1]); !errors.Is(err, identity.ErrBadCredentials) {
				t.Errorf("Authenticate(%q, %q) = %v, want ErrBadCredentials", c[0], c[1], err)
			}
		}
	})
	t.Run("Lookups", func(t *testing.T) {
		s := newSubject(t)
		for name, get := range map[string]func() (identity.User, error){
			"ByID":      func() (identity.User, error) { return s.Dir.ByID(ctx, 10) },
			"ByAccount": func() (identity.User, error) { return s.Dir.ByAccount(ctx, "demo") },
			"ByMobile":  func() (identity.User, error) { return s.Dir.ByMobile(ctx, "13800138000") },
		} {
			u, err := get()
			if err != nil || u.ID != 10 || u.Account != "demo" || u.Name != "Demo User" || u.NickName != "demo" || !u.BelongsTo(2) || u.BelongsTo(5) {
				t.Errorf("%s = %+v, %v", name, u, err)
			}
		}
		if u, err := s.Dir.ByID(ctx, 12); err != nil || len(u.Companies) != 0 || u.Profiles["bo"] != nil {
			t.Errorf("plain = %+v, %v; want no company, no bo profile", u, err)
		}
		for name, err := range map[string]error{
			"ByID":      second(s.Dir.ByID(ctx, 999)),
			"ByAccount": second(s.Dir.ByAccount(ctx, "ghost")),
			"ByMobile":  second(s.Dir.ByMobile(ctx, "13000000000")),
		} {
			if !errors.Is(err, identity.ErrNotFound) {
				t.Errorf("%s of nobody = %v, want ErrNotFound", name, err)
			}
		}
	})
	t.Run("PBKDF2", func(t *testing.T) {
		s := newSubject(t)
		if _, err := s.Dir.Authenticate(ctx, "django", "wrong"); !errors.Is(err, identity.ErrBadCredentials) {
			t.Fatalf("django, wrong password: %v", err)
		}
		if u, err := s.Dir.Authenticate(ctx, "django", "pw"); err != nil || u.ID != 13 || u.DefaultCompany != 7 {
			t.Fatalf("django login = %+v, %v", u, err)
		}
	})
	for _, c := range []struct {
		name, account, password string
		id, company             int64
	}{{"LegacyHashUpgradedOnLogin", "legacy", "old-pass", 11, 5}, {"PBKDF2UpgradedOnLogin", "django", "pw", 13, 7}} {
		t.Run(c.name, func(t *testing.T) {
			s := newSubject(t)
			if !s.Legacy {
				t.Skip("this directory holds no legacy hashes or does not rewrite them (the file directory)")
			}
			before := s.StoredHash(t, c.id)
			if _, err := s.Dir.Authenticate(ctx, c.account, "wrong"); !errors.Is(err, identity.ErrBadCredentials) {
				t.Fatalf("%s, wrong password: %v", c.account, err)
			}
			if h := s.StoredHash(t, c.id); h != before {
				t.Fatalf("a failed login rewrote the hash: %s", h)
			}
			u, err := s.Dir.Authenticate(ctx, c.account, c.password)
			if err != nil || u.ID != c.id || u.DefaultCompany != c.company {
				t.Fatalf("%s login = %+v, %v", c.account, u, err)
			}
			h := s.StoredHash(t, c.id)
			if !strings.HasPrefix(h, "$argon2id$") {
				t.Fatalf("hash after the login = %q, want argon2id", h)
			}
			if ok, err := identity.VerifySecret(h, c.password); !ok || err != nil {
				t.Fatalf("the upgraded hash does not verify: %v", err)
			}
			if _, err := s.Dir.Authenticate(ctx, c.account, c.password); err != nil {
				t.Fatalf("login after the upgrade: %v", err)
			}
			if _, err := s.Dir.Authenticate(ctx, c.account, "wrong"); !errors.Is(err, identity.ErrBadCredentials) {
				t.Fatalf("wrong password after the upgrade: %v", err)
			}
		})
	}
	t.Run("RegisterMobileOnceUnderRace", func(t *testing.T) {
		s := newSubject(t)
		reg, ok := s.Dir.(identity.Registrar)
		if !ok {
			t.Skip("this directory does not register users (the store registers them)")
		}
		const n = 10
		var wg sync.WaitGroup
		ids := make([]int64, n)
		created := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u, c, err := reg.RegisterMobile(ctx, identity.Registration{Mobile: "13700000077", Source: "app-store", Name: "137****0077"})
				ids[i], created[i], errs[i] = u.ID, c, err
			}()
		}
		wg.Wait()
		creators := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("register %d: %v", i, errs[i])
			}
			if ids[i] != ids[0] || ids[i] == 0 {
				t.Fatalf("registrations got ids %v, want one user", ids)
			}
			if created[i] {
				creators++
			}
		}
		if creators != 1 {
			t.Fatalf("%d registrations created the user, want 1", creators)
		}
		u, err := s.Dir.ByMobile(ctx, "13700000077")
		if err != nil || u.ID != ids[0] {
			t.Fatalf("ByMobile after registering = %+v, %v", u, err)
		}
		if u, _, err := reg.RegisterMobile(ctx, identity.Registration{Mobile: "13800138000"}); err != nil || u.ID != 10 {
			t.Fatalf("registering a known number = %+v, %v; want the user it has", u, err)
		}
	})
}

func second[T any](_ T, err error) error { return err }

// AssertUnavailable checks a directory that cannot answer fails closed:
// ErrUnavailable, never a verdict.
func AssertUnavailable(t *testing.T, d identity.Directory) {
	t.Helper()
	ctx := context.Background()
	for name, err := range map[string]error{
		"Authenticate": second(d.Authenticate(ctx, "demo", "demo123")),
		"ByID":         second(d.ByID(ctx, 10)),
		"ByMobile":     second(d.ByMobile(ctx, "13800138000")),
	} {
		if !errors.Is(err, identity.ErrUnavailable) || errors.Is(err, identity.ErrBadCredentials) || errors.Is(err, identity.ErrNotFound) {
			t.Errorf("%s = %v, want ErrUnavailable", name, err)
		}
	}
}

// FileYAML is Fixtures as a users file (the non-legacy users).
func FileYAML() string {
	var b strings.Builder
	b.WriteString("users:\n")
	for _, u := range Fixtures() {
		if u.Legacy {
			continue
		}
		fmt.Fprintf(&b, "  - id: %d\n    account: %s\n    password_hash: %q\n    name: %s\n", u.ID, u.Account, u.Hash, u.Name)
		if u.NickName != "" {
			fmt.Fprintf(&b, "    nick_name: %s\n", u.NickName)
		}
		if u.Mobile != "" {
			fmt.Fprintf(&b, "    mobile: %q\n", u.Mobile)
		}
		if len(u.Companies) > 0 {
			fmt.Fprintf(&b, "    companies: %v\n    default_company: %d\n", strings.ReplaceAll(fmt.Sprint(u.Companies), " ", ", "), u.DefaultCompany)
		}
		if bo := u.Profiles["bo"]; bo != nil {
			fmt.Fprintf(&b, "    bo:\n      user_id: %s\n      role_id: [%s]\n", bo.First("user_id"), strings.Join(bo["role_id"], ", "))
		}
	}
	return b.String()
}
