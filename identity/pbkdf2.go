package identity

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// maxPBKDF2Iterations caps a stored PBKDF2 hash's work as the argon2id
// and bcrypt caps do: Django's default is 1,200,000 (2025), Werkzeug's
// 1,000,000; ten million would keep a CPU busy for seconds per login.
const maxPBKDF2Iterations = 5_000_000

// pbkdf2Hash is a parsed PBKDF2 hash in one of the two spellings legacy
// Python services store: Django's "pbkdf2_sha256$<iter>$<salt>$<base64>"
// and Werkzeug's (Flask) "pbkdf2:sha256:<iter>$<salt>$<hex>". Both use
// the salt's text as bytes.
type pbkdf2Hash struct {
	newH func() hash.Hash
	iter int
	salt string
	key  []byte
}

var pbkdf2Digests = map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}

// isPBKDF2 reports whether hash is spelt as a PBKDF2 hash of either kind.
func isPBKDF2(hash string) bool {
	return strings.HasPrefix(hash, "pbkdf2_") || strings.HasPrefix(hash, "pbkdf2:")
}

// parsePBKDF2 reads either spelling and enforces the iteration cap. A
// Werkzeug hash without an iteration count is refused: its count was a
// library default that changed between versions.
func parsePBKDF2(s string) (pbkdf2Hash, error) {
	var h pbkdf2Hash
	var alg, iter, encoded string
	var decode func(string) ([]byte, error)
	parts := strings.Split(s, "$")
	switch {
	case strings.HasPrefix(s, "pbkdf2_") && len(parts) == 4:
		alg, iter, h.salt, encoded = strings.TrimPrefix(parts[0], "pbkdf2_"), parts[1], parts[2], parts[3]
		decode = base64.StdEncoding.DecodeString
	case strings.HasPrefix(s, "pbkdf2:") && len(parts) == 3:
		method := strings.Split(parts[0], ":")
		if len(method) != 3 {
			return h, fmt.Errorf("identity: pbkdf2 method %q needs an iteration count (pbkdf2:sha256:600000): %w", parts[0], ErrUnknownHash)
		}
		alg, iter, h.salt, encoded = method[1], method[2], parts[1], parts[2]
		decode = hex.DecodeString
	default:
		return h, fmt.Errorf("identity: pbkdf2 hash: %w", ErrUnknownHash)
	}
	if h.newH = pbkdf2Digests[alg]; h.newH == nil {
		return h, fmt.Errorf("identity: pbkdf2 digest %q is not one of sha1, sha256, sha512: %w", alg, ErrUnknownHash)
	}
	var err error
	if h.iter, err = strconv.Atoi(iter); err != nil || h.iter < 1 {
		return h, fmt.Errorf("identity: pbkdf2 iterations %q: %w", iter, ErrUnknownHash)
	}
	if h.iter > maxPBKDF2Iterations {
		return h, fmt.Errorf("identity: pbkdf2 iterations %d (at most %d): %w", h.iter, maxPBKDF2Iterations, ErrHashTooCostly)
	}
	if h.key, err = decode(encoded); err != nil || len(h.key) == 0 || len(h.key) > 64 {
		return h, fmt.Errorf("identity: pbkdf2 key: %w", ErrUnknownHash)
	}
	return h, nil
}

func verifyPBKDF2(stored, secret string) (bool, error) {
	h, err := parsePBKDF2(stored)
	if err != nil {
		return false, err
	}
	got, err := pbkdf2.Key(h.newH, secret, []byte(h.salt), h.iter, len(h.key))
	if err != nil {
		return false, fmt.Errorf("identity: pbkdf2: %w", err)
	}
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// Upgradable reports whether a stored hash that just verified is of a
// legacy kind to rewrite as argon2id (PBKDF2); argon2id and bcrypt stay.
func Upgradable(hash string) bool { return isPBKDF2(hash) }
