package identity

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// LegacyScheme is how a legacy user table hashed its passwords: a hex
// digest of the password and a salt in a fixed order, written like
// "md5(salt+password)", "sha256(password+salt)" or "sha1(password)". The
// digests are what such databases hold, not a recommendation: a login
// with one can upgrade the hash to argon2id (the sql directory's
// upgrade_hashes).
type LegacyScheme struct {
	name  string
	newH  func() hash.Hash
	parts []string // "salt" and "password", in hashing order
}

// ParseLegacyScheme reads a scheme's written form.
func ParseLegacyScheme(s string) (LegacyScheme, error) {
	alg, rest, ok := strings.Cut(strings.ReplaceAll(s, " ", ""), "(")
	if !ok || !strings.HasSuffix(rest, ")") {
		return LegacyScheme{}, fmt.Errorf("%q is not like md5(salt+password)", s)
	}
	algs := map[string]func() hash.Hash{"md5": md5.New, "sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}
	newH, ok := algs[strings.ToLower(alg)]
	if !ok {
		return LegacyScheme{}, fmt.Errorf("%q: the digest is not one of md5, sha1, sha256, sha512", s)
	}
	parts := strings.Split(strings.TrimSuffix(rest, ")"), "+")
	seen := map[string]bool{}
	for _, p := range parts {
		if (p != "salt" && p != "password") || seen[p] {
			return LegacyScheme{}, fmt.Errorf("%q: hash password, optionally with salt, each once", s)
		}
		seen[p] = true
	}
	if !seen["password"] {
		return LegacyScheme{}, fmt.Errorf("%q: the password is not hashed", s)
	}
	return LegacyScheme{name: s, newH: newH, parts: parts}, nil
}

// String is the scheme's written form.
func (l LegacyScheme) String() string { return l.name }

// Hash is the scheme's hex digest of password and salt.
func (l LegacyScheme) Hash(password, salt string) string {
	h := l.newH()
	for _, p := range l.parts {
		if p == "salt" {
			h.Write([]byte(salt))
		} else {
			h.Write([]byte(password))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Verify compares in constant time (hex in either case).
func (l LegacyScheme) Verify(stored, salt, password string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(stored)), []byte(l.Hash(password, salt))) == 1
}

// SelfDescribing reports whether hash names its own scheme (argon2id,
// bcrypt, PBKDF2), as opposed to a bare legacy digest.
func SelfDescribing(hash string) bool {
	return strings.HasPrefix(hash, "$argon2id$") || strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") ||
		strings.HasPrefix(hash, "$2y$") || isPBKDF2(hash)
}
