package identity_test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/authgate/authgate/identity"
)

func TestLegacySchemes(t *testing.T) {
	md5hex := func(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	shahex := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	for scheme, want := range map[string]string{
		"md5(salt+password)":        md5hex("NaClpw"),
		"md5(password+salt)":        md5hex("pwNaCl"),
		"md5(password)":             md5hex("pw"),
		"sha256(password+salt)":     shahex("pwNaCl"),
		"SHA256( salt + password )": shahex("NaClpw"),
	} {
		l, err := identity.ParseLegacyScheme(scheme)
		if err != nil {
			t.Fatalf("%s: %v", scheme, err)
		}
		if got := l.Hash("pw", "NaCl"); got != want {
			t.Errorf("%s = %s, want %s", scheme, got, want)
		}
		salted := scheme != "md5(password)"
		if !l.Verify(want, "NaCl", "pw") || l.Verify(want, "NaCl", "px") || salted && l.Verify(want, "NaCm", "pw") {
			t.Errorf("%s: Verify", scheme)
		}
	}
	for _, bad := range []string{"md4(password)", "md5(salt)", "md5(password+password)", "md5 salt+password", "md5(salt+pepper)"} {
		if _, err := identity.ParseLegacyScheme(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
