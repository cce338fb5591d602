// Package jwtkit signs and verifies the HS256 JWTs several dialects use,
// telling apart the verdicts each dialect maps to its own wire codes
// (malformed, bad signature, expired), and remembering tokens that
// verified so the hot path parses each token once.
package jwtkit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
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
	key []byte
	// previous keys verify tokens signed before a key rotation; they never
	// sign.
	previous [][]byte
	issuer   string
	now      func() time.Time
	// verified remembers tokens whose signature and claims checked out,
	// keyed by the whole token (signature included). Expiry is still
	// checked against the clock on every use; revocation is the store's
	// business and is checked by the dialect all the same.
	verified *lru.Cache[string, jwt.Token]
	// validation is jwt.Validate's options, built once: per token they
	// were a tenth of a first-seen token's allocations.
	validation []jwt.ValidateOption
}

// New returns a signer-verifier. cacheSize 0 turns the cache off (for
// tokens presented once, like refresh tokens).
func New(key []byte, issuer string, now func() time.Time, cacheSize int) *HS256 {
	h := &HS256{key: key, issuer: issuer, now: now,
		validation: []jwt.ValidateOption{jwt.WithClock(jwt.ClockFunc(now)), jwt.WithRequiredClaim("exp")}}
	if cacheSize > 0 {
		h.verified, _ = lru.New[string, jwt.Token](cacheSize) // errors only on size <= 0
	}
	return h
}

// AcceptAlso makes h verify tokens signed with the previous keys too
// (signing stays with its own); it returns h.
func (h *HS256) AcceptAlso(previous ...[]byte) *HS256 {
	h.previous = previous
	return h
}

// Sign sets the issuer on the claims of b and signs them.
func (h *HS256) Sign(b *jwt.Builder) (string, error) {
	tok, err := b.Issuer(h.issuer).Build()
	if err != nil {
		return "", fmt.Errorf("jwtkit: build: %w", err)
	}
	if signed, ok := h.signPlain(tok); ok {
		return signed, nil
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

// plainHeader is the header jwx writes for an HS256 JWT, encoded.
const plainHeader = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" // {"alg":"HS256","typ":"JWT"}

// signPlain writes and signs tok's claims as jwx's serializer would, byte
// for byte (claims by name; dates as whole seconds; one audience
// flattened to a string; every other value as encoding/json writes it),
// without its reflection: for the claims the dialects sign (strings,
// integers, dates, audiences) a fifth of jwt.Sign's time. ok is false for
// a claim of another Go type ([]byte, which jwx writes its own way), left
// to jwt.Sign. TestSignsAsJWXDoes holds it to jwx's bytes.
func (h *HS256) signPlain(tok jwt.Token) (string, bool) {
	// The registered claims that are set, then the private ones (jwx's
	// AsMap gives the same through an iterator, at half the cost of the
	// whole signature).
	private := tok.PrivateClaims()
	claims := make(map[string]any, len(private)+len(registered))
	for _, name := range registered {
		if v, ok := tok.Get(name); ok {
			claims[name] = v
		}
	}
	names := make([]string, 0, len(private)+len(claims))
	for name, v := range private {
		claims[name] = v
	}
	for name := range claims {
		names = append(names, name)
	}
	slices.Sort(names)
	payload := make([]byte, 0, 256)
	payload = append(payload, '{')
	for i, name := range names {
		if i > 0 {
			payload = append(payload, ',')
		}
		payload = append(payload, '"')
		payload = append(payload, name...)
		payload = append(payload, '"', ':')
		var ok bool
		if payload, ok = appendClaim(payload, name, claims[name]); !ok {
			return "", false
		}
	}
	payload = append(payload, '}')
	enc := base64.RawURLEncoding
	out := make([]byte, 0, len(plainHeader)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(sha256.Size))
	out = append(out, plainHeader...)
	out = append(out, '.')
	out = enc.AppendEncode(out, payload)
	m := hmac.New(sha256.New, h.key)
	m.Write(out)
	out = append(out, '.')
	out = enc.AppendEncode(out, m.Sum(nil))
	return string(out), true
}

// registered are the claims jwx keeps apart from the private ones.
var registered = []string{"aud", "exp", "iat", "iss", "jti", "nbf", "sub"}

// appendClaim appends one claim's JSON value as jwx's serializer writes it.
func appendClaim(buf []byte, name string, v any) ([]byte, bool) {
	switch name {
	case "exp", "iat", "nbf":
		t, ok := v.(time.Time)
		return strconv.AppendInt(buf, t.Unix(), 10), ok
	case "aud":
		aud, ok := v.([]string)
		if ok && len(aud) == 1 {
			v = aud[0]
		}
	}
	switch x := v.(type) {
	case []byte:
		return buf, false
	case int:
		return strconv.AppendInt(buf, int64(x), 10), true
	case int64:
		return strconv.AppendInt(buf, x, 10), true
	case string:
		if plainString(x) {
			buf = append(buf, '"')
			buf = append(buf, x...)
			return append(buf, '"'), true
		}
	}
	raw, err := json.Marshal(v)
	return append(buf, raw...), err == nil
}

// plainString: printable ASCII that encoding/json writes as it is (no
// quote, backslash, or <, >, & it escapes for HTML).
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// Verify checks signature, issuer, nbf and exp. A genuine token that has
// expired comes back with ErrExpired and its claims, since refresh
// protocols need to know whose token it was.
//
// A token in the form this package signs (a header of alg HS256 and at
// most typ and kid beside it) is read here: one HMAC per key decides its
// signature, and its claims, already walked by the spelling check, are set
// on a jwx token one by one, as jwx's own decoder would set them. That is
// a fifth of jwx's parse (measured: ~3 µs and ~40 allocations against
// ~14 µs and 220, most of them its JSON decoder's), and a first-seen token
// is what real traffic is made of. Any other header (crit, b64, jku, ...)
// goes through jwx's parse whole.
func (h *HS256) Verify(token string) (jwt.Token, error) {
	if h.verified != nil {
		if tok, ok := h.verified.Get(token); ok {
			if h.now().Before(tok.Expiration()) {
				return tok, nil
			}
			h.verified.Remove(token)
		}
	}
	header, claims, ok := segments(token)
	if !ok {
		return nil, ErrMalformed
	}
	var tok jwt.Token
	var err error
	if plainHS256(header) {
		if key, _ := h.signedBy(token); key == nil {
			if !wellTyped(claims, nil) {
				return nil, ErrMalformed
			}
			return nil, ErrSignature
		}
		if tok, err = claimsToken(claims); err != nil {
			return nil, ErrMalformed
		}
	} else {
		if !wellTyped(claims, nil) {
			return nil, ErrMalformed
		}
		if tok, err = h.parse(token); err != nil {
			return nil, err
		}
	}
	if tok.Issuer() != h.issuer {
		// Signed with our key yet not our issuer: not ours to accept.
		return nil, ErrMalformed
	}
	err = jwt.Validate(tok, h.validation...)
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

// parse reads a token of any other header with jwx, under the current key
// or the previous one that signed it.
func (h *HS256) parse(token string) (jwt.Token, error) {
	tok, err := jwt.ParseString(token, jwt.WithKey(jwa.HS256, h.key), jwt.WithValidate(false))
	if err == nil {
		return tok, nil
	}
	key, current := h.signedBy(token)
	switch {
	case key == nil:
		return nil, ErrSignature
	case current:
		// Our key signed it, and the library still would not read it.
		return nil, ErrMalformed
	}
	if tok, err = jwt.ParseString(token, jwt.WithKey(jwa.HS256, key), jwt.WithValidate(false)); err != nil {
		return nil, ErrMalformed
	}
	return tok, nil
}

// plainHS256 reports whether a (canonical) header is alg HS256 with at
// most typ and kid, strings, beside it: the headers whose meaning is
// entirely "an HMAC-SHA256 over the first two segments".
func plainHS256(header []byte) bool {
	alg := false
	return eachMember(header, func(name, raw []byte) bool {
		switch string(name) {
		case "alg":
			alg = string(raw) == `"HS256"`
			return alg
		case "typ", "kid":
			return raw[0] == '"'
		}
		return false
	}) && alg
}

// claimsToken checks a claims set's spelling (wellTyped) and sets each
// member on a new jwx token with the Go value jwx's decoder gives it:
// strings, float64 numbers (a whole-number date as its digits, which jwx
// would print with %.9f and read back), and for anything else what
// encoding/json decodes (aud, a string or a list of strings, is checked
// by the token's own Set).
func claimsToken(claims []byte) (jwt.Token, error) {
	tok := jwt.New()
	var err error
	ok := wellTyped(claims, func(name, raw []byte) bool {
		var v any
		switch c := raw[0]; {
		case c == '"' && bytes.IndexByte(raw, '\\') < 0:
			v = string(raw[1 : len(raw)-1])
		case c == '-' || (c >= '0' && c <= '9'):
			if registeredDate(name) && wholeNumber(raw) {
				v = json.Number(raw)
			} else {
				v, err = strconv.ParseFloat(string(raw), 64)
			}
		default:
			err = json.Unmarshal(raw, &v)
		}
		if err == nil {
			err = tok.Set(string(name), v)
		}
		return err == nil
	})
	if err == nil && !ok {
		err = ErrMalformed
	}
	return tok, err
}

func registeredDate(name []byte) bool {
	return string(name) == "exp" || string(name) == "nbf" || string(name) == "iat"
}

// wholeNumber: digits, with an optional minus sign.
func wholeNumber(raw []byte) bool {
	if raw[0] == '-' {
		raw = raw[1:]
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(raw) > 0
}

// signedBy is the key, the current one or a previous one, whose HS256
// signature the token carries (current says it is the current one); nil
// for none (another key, another algorithm, none). One HMAC per key decides it: parsing the token again
// per key, or without verification to tell a bad signature from a
// malformed token, cost as much as the first parse each time.
func (h *HS256) signedBy(token string) (key []byte, current bool) {
	dot := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil {
		return nil, false
	}
	for i := -1; i < len(h.previous); i++ {
		key := h.key
		if i >= 0 {
			key = h.previous[i]
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(token[:dot]))
		if hmac.Equal(m.Sum(nil), sig) {
			return key, i < 0
		}
	}
	return nil, false
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
	_, claims, ok := segments(token)
	return ok && wellTyped(claims, nil)
}

// segments checks the spelling of token's segments and of its header
// (Canonical but the claims set's) and returns the header and claims set,
// decoded.
func segments(token string) (header, claims []byte, ok bool) {
	h64, rest, ok1 := strings.Cut(token, ".")
	c64, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") || h64 == "" || c64 == "" || sig == "" {
		return nil, nil, false
	}
	strict := base64.RawURLEncoding.Strict()
	// The signature is only checked for its spelling here: signedBy
	// decodes it again to compare.
	if _, err := strict.DecodeString(sig); err != nil {
		return nil, nil, false
	}
	var err error
	if header, err = strict.DecodeString(h64); err != nil {
		return nil, nil, false
	}
	if claims, err = strict.DecodeString(c64); err != nil {
		return nil, nil, false
	}
	return header, claims, eachMember(header, func([]byte, []byte) bool { return true })
}

// wellTyped reports whether claims is one JSON object without repeated
// members whose registered claims have their JSON types, calling also
// (when not nil) with each member on the way.
func wellTyped(claims []byte, also func(name, raw []byte) bool) bool {
	return eachMember(claims, func(name, raw []byte) bool {
		switch string(name) {
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
		return also == nil || also(name, raw)
	})
}

// eachMember calls visit with the name (unescaped) and raw value of each
// member of a JSON object, and reports false for anything but one object
// (trailing data included), for a name seen twice (decoders differ on
// which one wins; "\u0065xp" is "exp"), or when visit does.
//
// Written by hand rather than with encoding/json's Decoder, which
// allocates for every token: this runs on every token seen for the first
// time. json.Valid checks the grammar first, so the walk below, which
// only steps over the top level, can trust it.
func eachMember(raw []byte, visit func(name, value []byte) bool) bool {
	if !json.Valid(raw) {
		return false
	}
	i := skipSpace(raw, 0)
	if raw[i] != '{' {
		return false
	}
	var seen [16][]byte
	names := seen[:0]
	i = skipSpace(raw, i+1)
	for raw[i] != '}' {
		end := skipString(raw, i)
		name := raw[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var decoded string
			if json.Unmarshal(raw[i:end], &decoded) != nil {
				return false
			}
			name = []byte(decoded)
		}
		for _, n := range names {
			if bytes.Equal(n, name) {
				return false
			}
		}
		names = append(names, name)
		i = skipSpace(raw, skipSpace(raw, end)+1) // the colon
		vEnd := skipValue(raw, i)
		if !visit(name, raw[i:vEnd]) {
			return false
		}
		i = skipSpace(raw, vEnd)
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return true
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at raw[i].
func skipString(raw []byte, i int) int {
	for j := i + 1; ; j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// skipValue returns the index after the value starting at raw[i].
func skipValue(raw []byte, i int) int {
	switch raw[i] {
	case '"':
		return skipString(raw, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch raw[j] {
			case '"':
				j = skipString(raw, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	default:
		j := i
		for j < len(raw) && strings.IndexByte(",}] \t\r\n", raw[j]) < 0 {
			j++
		}
		return j
	}
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
