// Package jwtkit signs and verifies the HS256 JWTs several dialects use,
// telling apart the verdicts each dialect maps to its own wire codes
// (malformed, bad signature, expired), and remembering tokens that
// verified so the hot path parses each token once.
package jwtkit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Verification verdicts.
var (
	ErrMalformed = errors.New("jwtkit: malformed token")
	ErrSignature = errors.New("jwtkit: bad signature")
	ErrExpired   = errors.New("jwtkit: token expired")
)

// DefaultCacheSize bounds the verified-token cache of one dialect: about
// 1 KB an entry (measured: ~770 B of parsed token plus the token string),
// so some 10 MB at most; past it the least recently used token is simply
// parsed again.
const DefaultCacheSize = 10_000

// HS256 is one key and issuer.
type HS256 struct {
	key    []byte
	issuer string
	now    func() time.Time
	// verified remembers tokens whose signature and claims checked out,
	// keyed by the whole token (signature included). Expiry is still
	// checked against the clock on every use; revocation is the store's
	// business and is checked by the dialect all the same.
	verified *lru.Cache[string, jwt.Token]
}

// New returns a signer-verifier. cacheSize 0 turns the cache off (for
// tokens presented once, like refresh tokens).
func New(key []byte, issuer string, now func() time.Time, cacheSize int) *HS256 {
	h := &HS256{key: key, issuer: issuer, now: now}
	if cacheSize > 0 {
		h.verified, _ = lru.New[string, jwt.Token](cacheSize) // errors only on size <= 0
	}
	return h
}

// Sign sets the issuer on the claims of b and signs them.
func (h *HS256) Sign(b *jwt.Builder) (string, error) {
	tok, err := b.Issuer(h.issuer).Build()
	if err != nil {
		return "", fmt.Errorf("jwtkit: build: %w", err)
	}
	// A single audience is written as a string ("aud":"api"), as the
	// legacy tokens have it, not as a one-element array.
	tok.Options().Enable(jwt.FlattenAudience)
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, h.key))
	if err != nil {
		return "", fmt.Errorf("jwtkit: sign: %w", err)
	}
	return string(signed), nil
}

// Verify checks signature, issuer, nbf and exp. A genuine token that has
// expired comes back with ErrExpired and its claims, since refresh
// protocols need to know whose token it was.
func (h *HS256) Verify(token string) (jwt.Token, error) {
	if h.verified != nil {
		if tok, ok := h.verified.Get(token); ok {
			if h.now().Before(tok.Expiration()) {
				return tok, nil
			}
			h.verified.Remove(token)
		}
	}
	if !Canonical(token) {
		return nil, ErrMalformed
	}
	tok, err := jwt.ParseString(token, jwt.WithKey(jwa.HS256, h.key), jwt.WithValidate(false))
	if err != nil {
		if _, perr := jwt.ParseString(token, jwt.WithVerify(false), jwt.WithValidate(false)); perr != nil {
			return nil, ErrMalformed
		}
		return nil, ErrSignature
	}
	if tok.Issuer() != h.issuer {
		// Signed with our key yet not our issuer: not ours to accept.
		return nil, ErrMalformed
	}
	err = jwt.Validate(tok, jwt.WithClock(jwt.ClockFunc(h.now)), jwt.WithRequiredClaim("exp"))
	switch {
	case err == nil:
		if h.verified != nil {
			h.verified.Add(token, tok)
		}
		return tok, nil
	case errors.Is(err, jwt.ErrTokenExpired()):
		return tok, ErrExpired
	default:
		return nil, ErrMalformed
	}
}

// Canonical reports whether token is spelt the one way RFC 7515 and 7519
// allow: three segments of strict unpadded base64url (no padding, no
// other alphabet, no stray bits in the last character), a header and a
// claims set that are JSON objects without repeated members, and the
// registered claims in their JSON types (exp, nbf, iat numbers; iss, sub,
// jti strings; aud a string or an array). Libraries are lenient about
// each of these; a gateway whose caches, replay stores and logs key on
// the token's string must not accept two spellings of one token.
func Canonical(token string) bool {
	header, rest, ok1 := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") {
		return false
	}
	var h, c []byte
	for i, seg := range []string{header, payload, sig} {
		if seg == "" {
			return false
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
		if err != nil {
			return false
		}
		switch i {
		case 0:
			h = raw
		case 1:
			c = raw
		}
	}
	if _, ok := members(h); !ok {
		return false
	}
	claims, ok := members(c)
	if !ok {
		return false
	}
	for name, raw := range claims {
		switch name {
		case "exp", "nbf", "iat":
			if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
				return false
			}
		case "iss", "sub", "jti":
			if raw[0] != '"' {
				return false
			}
		case "aud":
			if raw[0] != '"' && raw[0] != '[' {
				return false
			}
		}
	}
	return true
}

// members reads a JSON object's members, refusing anything else and a
// member named twice (decoders differ on which one wins).
func members(raw []byte) (map[string]json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		t, err := dec.Token()
		name, ok := t.(string)
		if err != nil || !ok {
			return nil, false
		}
		if _, dup := out[name]; dup {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil || len(v) == 0 {
			return nil, false
		}
		out[name] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return out, true
}

// Int reads a claim that must be a whole JSON number.
func Int(tok jwt.Token, name string) (int64, bool) {
	v, ok := tok.Get(name)
	if !ok {
		return 0, false
	}
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// String reads a claim that must be a non-empty string.
func String(tok jwt.Token, name string) (string, bool) {
	v, _ := tok.Get(name)
	s, ok := v.(string)
	return s, ok && s != ""
}
