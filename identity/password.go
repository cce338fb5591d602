package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2id parameters for new hashes: OWASP's recommended minimum
// (19 MiB, 2 passes, 1 lane). Verification reads the parameters from the
// hash itself, so raising them later does not break stored hashes.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// ErrUnknownHash reports a stored hash in no format this package reads.
var ErrUnknownHash = errors.New("identity: unknown password hash format")

// Caps on the cost of a stored hash. A users or apps file is trusted to
// hold hashes, not to decide how much memory a login may take: an
// argon2id hash with m=4194304 (4 GiB) would take a replica down at its
// first check. The caps sit well above OWASP's recommendations (19 MiB,
// t=2; bcrypt cost 10-12).
const (
	maxArgonMemory  = 64 * 1024 // KiB
	maxArgonTime    = 16
	maxArgonThreads = 16
	maxArgonKeyLen  = 64
	maxBcryptCost   = 15
)

// ErrHashTooCostly reports a stored hash whose parameters pass the caps.
var ErrHashTooCostly = errors.New("identity: hash parameters over the caps (argon2id m<=65536 KiB, t<=16, p<=16; bcrypt cost<=15; pbkdf2 iterations<=5000000)")

// HashSecret returns an argon2id hash of secret in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$key), the format other argon2
// tools read. x/crypto/argon2 derives keys but has no encoder, hence this.
func HashSecret(secret string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("identity: salt: %w", err)
	}
	key := argon2.IDKey([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifySecret reports whether secret matches hash, an argon2id PHC string,
// a bcrypt hash ($2a$, $2b$, $2y$) or a legacy PBKDF2 hash (Django's
// pbkdf2_sha256$..., Werkzeug's pbkdf2:sha256:...). The comparison is
// constant-time.
func VerifySecret(hash, secret string) (bool, error) {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		return verifyArgon2id(hash, secret)
	case isPBKDF2(hash):
		return verifyPBKDF2(hash, secret)
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if cost, err := bcrypt.Cost([]byte(hash)); err == nil && cost > maxBcryptCost {
			return false, ErrHashTooCostly
		}
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("identity: bcrypt: %w", err)
		}
		return true, nil
	default:
		return false, ErrUnknownHash
	}
}

// CheckHash reports whether hash is in a format VerifySecret reads and
// within the cost caps, without computing it, so a broken or hostile
// users file is refused at start rather than at the first login.
func CheckHash(hash string) error {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		_, err := parseArgon2id(hash)
		return err
	case isPBKDF2(hash):
		_, err := parsePBKDF2(hash)
		return err
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil {
			return fmt.Errorf("identity: bcrypt: %w", err)
		}
		if cost > maxBcryptCost {
			return ErrHashTooCostly
		}
		return nil
	default:
		return ErrUnknownHash
	}
}

// argon2idHash is a parsed argon2id PHC string.
type argon2idHash struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon2id reads a PHC string and enforces the caps.
func parseArgon2id(hash string) (argon2idHash, error) {
	var h argon2idHash
	parts := strings.Split(hash, "$")
	if len(parts) != 6 {
		return h, fmt.Errorf("identity: argon2id hash: %w", ErrUnknownHash)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return h, fmt.Errorf("identity: argon2id version %q: %w", parts[2], ErrUnknownHash)
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil || h.time == 0 || h.threads == 0 {
		return h, fmt.Errorf("identity: argon2id parameters %q: %w", parts[3], ErrUnknownHash)
	}
	enc := base64.RawStdEncoding
	var err error
	if h.salt, err = enc.DecodeString(parts[4]); err != nil {
		return h, fmt.Errorf("identity: argon2id salt: %w", ErrUnknownHash)
	}
	if h.key, err = enc.DecodeString(parts[5]); err != nil || len(h.key) == 0 {
		return h, fmt.Errorf("identity: argon2id key: %w", ErrUnknownHash)
	}
	if h.memory > maxArgonMemory || h.time > maxArgonTime || h.threads > maxArgonThreads || len(h.key) > maxArgonKeyLen {
		return h, fmt.Errorf("identity: argon2id %q: %w", parts[3], ErrHashTooCostly)
	}
	return h, nil
}

func verifyArgon2id(hash, secret string) (bool, error) {
	h, err := parseArgon2id(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(secret), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// DummyLike returns a hash of the same kind and cost as sample (argon2id
// with its parameters, or bcrypt with its cost) that no secret matches, for
// checking unknown accounts: they then take as long as a wrong password.
// An unreadable or empty sample gives one of the default argon2id cost.
func DummyLike(sample string) (string, error) {
	const dummy = "authgate-dummy-secret"
	if cost, err := bcrypt.Cost([]byte(sample)); err == nil {
		h, err := bcrypt.GenerateFromPassword([]byte(dummy), cost)
		return string(h), err
	}
	memory, time, threads := uint32(argonMemory), uint32(argonTime), uint8(argonThreads)
	if parts := strings.Split(sample, "$"); len(parts) == 6 && parts[1] == "argon2id" {
		var m, t uint32
		var p uint8
		if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err == nil && t > 0 && p > 0 {
			memory, time, threads = m, t, p
		}
	}
	// A random key rather than the hash of anything: checking a password
	// against it costs exactly what a real check costs, and it matches no
	// password, while computing a real one at start held m KiB (19 MiB by
	// default) of heap before the first login, which the process kept as
	// resident memory.
	salt := make([]byte, argonSaltLen)
	key := make([]byte, argonKeyLen)
	_, _ = rand.Read(salt)
	_, _ = rand.Read(key)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memory, time, threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}
