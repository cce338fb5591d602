package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// Bearer tokens the gateway issues to operators (admin tokens) are random
// and long, so a slow password hash buys nothing against guessing: their
// SHA-256 is stored, "sha256:<hex>", and a presented token costs one
// SHA-256 and a constant-time comparison per configured token, in
// microseconds and constant memory at any concurrency. Passwords, which
// people choose, keep their slow hashes (password.go).

// TokenDigestPrefix begins a token digest.
const TokenDigestPrefix = "sha256:"

// MinTokenBytes is the least entropy a token made by NewToken has; a
// digest is only as strong as what it hashes.
const MinTokenBytes = 32

// ErrNotDigest is a value that is not a token digest.
var ErrNotDigest = errors.New("identity: not a token digest (sha256:<64 hex>)")

// DigestToken is the stored form of a bearer token.
func DigestToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return TokenDigestPrefix + hex.EncodeToString(sum[:])
}

// IsTokenDigest reports whether v is a well-formed token digest.
func IsTokenDigest(v string) bool {
	h, ok := strings.CutPrefix(v, TokenDigestPrefix)
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// TokenMatches compares a presented token with a digest in constant time.
func TokenMatches(digest, token string) bool {
	return subtle.ConstantTimeCompare([]byte(digest), []byte(DigestToken(token))) == 1
}

// NewToken is a fresh random bearer token (MinTokenBytes of crypto/rand,
// base64url) for an operator.
func NewToken() (string, error) {
	b := make([]byte, MinTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
