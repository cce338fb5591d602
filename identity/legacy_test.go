package identity_test

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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

// TestPBKDF2 checks both spellings against vectors made by Python's
// hashlib.pbkdf2_hmac (Django encodes the key in base64, Werkzeug in hex),
// and that hostile or malformed values are refused without being run.
func TestPBKDF2(t *testing.T) {
	for _, h := range []string{
		"pbkdf2_sha256$1000$seasalt$ViJRF1xdpQtYimadedSuBt5uOSSLWsYR5FEclFydhH0=",
		"pbkdf2_sha1$1000$seasalt$b6dmMvLDzZ5VqgV5QAMf4RUldgY=",
		"pbkdf2:sha256:1000$seasalt$562251175c5da50b588a669d79d4ae06de6e39248b5ac611e4511c945c9d847d",
		"pbkdf2:sha512:1000$seasalt$43be91c85da9c9826da7df5251e421f0824e25d4ea1b4475c62991c0964a25d89dbb711d0a0ccde11f41f9598a1a77b4ec3f73f409fd779b89508fa54f71edab",
	} {
		if err := identity.CheckHash(h); err != nil {
			t.Errorf("CheckHash(%s) = %v", h, err)
		}
		if ok, err := identity.VerifySecret(h, "pw"); !ok || err != nil {
			t.Errorf("VerifySecret(%s, pw) = %v, %v", h, ok, err)
		}
		if ok, err := identity.VerifySecret(h, "px"); ok || err != nil {
			t.Errorf("VerifySecret(%s, px) = %v, %v", h, ok, err)
		}
		if !identity.SelfDescribing(h) || !identity.Upgradable(h) {
			t.Errorf("%s: not self-describing or not upgradable", h)
		}
	}
	for h, want := range map[string]error{
		"pbkdf2_sha256$9000000$s$ViJRF1xdpQtYimadedSuBt5uOSSLWsYR5FEclFydhH0=": identity.ErrHashTooCostly,
		"pbkdf2_md5$1000$s$ViJRF1xdpQtYimadedSuBt5uOSSLWsYR5FEclFydhH0=":       identity.ErrUnknownHash,
		"pbkdf2_sha256$0$s$ViJRF1xdpQtYimadedSuBt5uOSSLWsYR5FEclFydhH0=":       identity.ErrUnknownHash,
		"pbkdf2_sha256$1000$s$not base64":                                      identity.ErrUnknownHash,
		"pbkdf2:sha256$seasalt$5622":                                           identity.ErrUnknownHash,
		"pbkdf2:sha256:1000$seasalt$zz":                                        identity.ErrUnknownHash,
		"pbkdf2_sha256$1000$seasalt":                                           identity.ErrUnknownHash,
	} {
		if err := identity.CheckHash(h); !errors.Is(err, want) {
			t.Errorf("CheckHash(%s) = %v, want %v", h, err, want)
		}
		if _, err := identity.VerifySecret(h, "pw"); !errors.Is(err, want) {
			t.Errorf("VerifySecret(%s) = %v, want %v", h, err, want)
		}
	}
	for _, h := range []string{"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5", "$2a$10$abc", "5f4dcc3b5aa765d61d8327deb882cf99"} {
		if identity.Upgradable(h) {
			t.Errorf("Upgradable(%s) = true", h)
		}
	}
}
