// Package idtoken signs the identity token the gateway sends an upstream
// beside (or instead of) the X-Auth-* headers: a short-lived JWT of who is
// calling, signed with an asymmetric key whose public half is published
// as a JWKS, so an upstream reachable by another path than the gateway
// believes no header it did not verify. A token for one identity and
// audience is signed once and reused until shortly before it expires.
package idtoken

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/authgate/authgate/internal/secrets"
)

// MaxTTL bounds a route's token life: the token is a bearer credential
// the upstream may log, so it must not outlive a few minutes.
const MaxTTL = 5 * time.Minute

// Config is the `identity_token` block: the keys that sign the tokens
// routes send their upstreams (routes[].identity_token).
type Config struct {
	// Issuer is the tokens' iss.
	Issuer string `koanf:"issuer"`
	// Keys are the signing keys, published at /.well-known/jwks.json:
	// exactly one signs; the others are only published — a next key
	// before it signs (at least jwks_max_age ahead), a previous one until
	// the last token it signed has expired.
	Keys []KeyConfig `koanf:"keys"`
	// JWKSMaxAge is the JWKS answer's Cache-Control max-age.
	JWKSMaxAge time.Duration `koanf:"jwks_max_age"`
}

// KeyConfig is one key of identity_token.keys.
type KeyConfig struct {
	// KID is the key's id, in the token's header and the JWKS.
	KID string `koanf:"kid"`
	// Algorithm is ES256 (P-256), RS256 (RSA, 2048 bits or more) or
	// EdDSA (Ed25519).
	Algorithm string `koanf:"algorithm"`
	// PrivateKey (or PrivateKeyEnv, PrivateKeyFile) is the PEM private
	// key (PKCS#8, or SEC 1 / PKCS#1); exactly one is set.
	PrivateKey     string `koanf:"private_key"`
	PrivateKeyEnv  string `koanf:"private_key_env"`
	PrivateKeyFile string `koanf:"private_key_file"`
	// Signs marks the key that signs; exactly one does.
	Signs bool `koanf:"signs"`
}

// RouteConfig is a route's `identity_token` block: set, the route sends
// its upstream a signed identity token.
type RouteConfig struct {
	// Header carries the token (X-Auth-Token, say); a client's own copy
	// of it never reaches the upstream.
	Header string `koanf:"header"`
	// Audience is the token's aud, the upstream's name; default the
	// route's name.
	Audience string `koanf:"audience"`
	// TTL is the token's life: 60s when unset, at most 5m.
	TTL time.Duration `koanf:"ttl"`
	// Only sends the token instead of the X-Auth-* identity headers.
	Only bool `koanf:"only"`
}

// Defaults are the block's values when the config leaves them out.
func Defaults() Config { return Config{Issuer: "authgate", JWKSMaxAge: 5 * time.Minute} }

// Identity is who a token says is calling: the fields the X-Auth-*
// headers carry.
type Identity struct {
	Subject, Dialect, SessionID, Company string
	Attrs                                map[string]string
}

// Signer signs identity tokens with the one signing key and serves the
// JWKS of every configured key.
type Signer struct {
	issuer string
	alg    jwa.SignatureAlgorithm
	key    jwk.Key
	jwks   []byte
	maxAge time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	token string
	// renew is when the token is signed anew: a quarter of its life
	// before it expires.
	renew time.Time
}

// maxCached bounds the signed tokens kept: past it, the cache starts over
// (a token is cheap to sign again; memory is not unbounded).
const maxCached = 100_000

// Open checks the block and loads its keys, as every backend of the
// gateway is opened: dir resolves relative files, lookupEnv reads *_env;
// problems name their key relative to the block. now is the clock.
func Open(c Config, dir string, lookupEnv func(string) (string, bool), now func() time.Time) (*Signer, error) {
	var errs []error
	s := &Signer{issuer: c.Issuer, maxAge: c.JWKSMaxAge, now: now, cache: map[string]cached{}}
	if c.Issuer == "" {
		errs = append(errs, errors.New("issuer: required"))
	}
	if c.JWKSMaxAge < 0 {
		errs = append(errs, errors.New("jwks_max_age: must not be negative"))
	}
	public := jwk.NewSet()
	kids := map[string]bool{}
	signing := 0
	for i, kc := range c.Keys {
		at := fmt.Sprintf("keys[%d]", i)
		if kc.KID == "" {
			errs = append(errs, fmt.Errorf("%s.kid: required", at))
		} else if kids[kc.KID] {
			errs = append(errs, fmt.Errorf("%s.kid: %q is also another key's", at, kc.KID))
		}
		kids[kc.KID] = true
		if kc.Signs {
			signing++
		}
		key, alg, err := loadKey(kc, dir, lookupEnv)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", at, err))
			continue
		}
		pub, err := key.PublicKey()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
			continue
		}
		for k, v := range map[string]any{jwk.KeyIDKey: kc.KID, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: "sig"} {
			_ = key.Set(k, v)
			_ = pub.Set(k, v)
		}
		_ = public.AddKey(pub)
		if kc.Signs {
			s.key, s.alg = key, alg
		}
	}
	if len(c.Keys) > 0 && signing != 1 {
		errs = append(errs, fmt.Errorf("keys: exactly one key signs (signs: true), %d do", signing))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(public)
	if err != nil {
		return nil, err
	}
	s.jwks = raw
	return s, nil
}

// loadKey reads one key and checks it against its algorithm.
func loadKey(kc KeyConfig, dir string, lookupEnv func(string) (string, bool)) (jwk.Key, jwa.SignatureAlgorithm, error) {
	pem, err := secrets.Resolve("private_key", secrets.Source{Inline: kc.PrivateKey, Env: kc.PrivateKeyEnv, File: kc.PrivateKeyFile}, lookupEnv, dir, 1)
	if err != nil {
		return nil, "", err
	}
	key, err := jwk.ParseKey(pem, jwk.WithPEM(true))
	if err != nil {
		return nil, "", fmt.Errorf("private_key: not a PEM private key: %v", err)
	}
	var raw any
	if err := key.Raw(&raw); err != nil {
		return nil, "", fmt.Errorf("private_key: %v", err)
	}
	algorithm := kc.Algorithm
	if algorithm == "" {
		algorithm = "ES256"
	}
	switch algorithm {
	case "ES256":
		if k, ok := raw.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
			return nil, "", errors.New("private_key: ES256 needs a P-256 EC private key (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)")
		}
		return key, jwa.ES256, nil
	case "RS256":
		if k, ok := raw.(*rsa.PrivateKey); !ok || k.N.BitLen() < 2048 {
			return nil, "", errors.New("private_key: RS256 needs an RSA private key of 2048 bits or more (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072)")
		}
		return key, jwa.RS256, nil
	case "EdDSA":
		if _, ok := raw.(ed25519.PrivateKey); !ok {
			return nil, "", errors.New("private_key: EdDSA needs an Ed25519 private key (openssl genpkey -algorithm ed25519)")
		}
		return key, jwa.EdDSA, nil
	}
	return nil, "", fmt.Errorf("algorithm: %q is not one of ES256, RS256, EdDSA", kc.Algorithm)
}

// Enabled reports whether the block configures keys: without them no
// route may send tokens and no JWKS is served.
func (s *Signer) Enabled() bool { return s != nil && s.key != nil }

// Token is the identity token of id for audience, valid for ttl: the one
// signed for them before while it has more than a quarter of its life
// left, else a new one.
func (s *Signer) Token(id Identity, audience string, ttl time.Duration) (string, error) {
	now := s.now()
	ck := cacheKey(id, audience, ttl)
	s.mu.Lock()
	c, ok := s.cache[ck]
	s.mu.Unlock()
	if ok && now.Before(c.renew) {
		return c.token, nil
	}
	tok, err := s.sign(id, audience, ttl, now)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		s.cache = map[string]cached{}
	}
	s.cache[ck] = cached{token: tok, renew: now.Add(ttl - ttl/4)}
	s.mu.Unlock()
	return tok, nil
}

// cacheKey tells identities apart by every field the token carries.
func cacheKey(id Identity, audience string, ttl time.Duration) string {
	var b strings.Builder
	b.Grow(len(audience) + len(id.Dialect) + len(id.SessionID) + len(id.Subject) + len(id.Company) + 32)
	for _, s := range []string{audience, strconv.FormatInt(int64(ttl), 10), id.Dialect, id.SessionID, id.Subject, id.Company} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	if len(id.Attrs) == 0 {
		return b.String()
	}
	keys := make([]string, 0, len(id.Attrs))
	for k := range id.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(1)
		b.WriteString(id.Attrs[k])
		b.WriteByte(0)
	}
	return b.String()
}

// sign makes a token: iss, sub, aud, iat, exp, jti, and the identity
// under dialect, sid, company and attrs (docs/identity-token.md).
func (s *Signer) sign(id Identity, audience string, ttl time.Duration, now time.Time) (string, error) {
	now = now.Truncate(time.Second)
	jti := make([]byte, 12)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	b := jwt.NewBuilder().Issuer(s.issuer).Subject(id.Subject).Audience([]string{audience}).
		IssuedAt(now).NotBefore(now).Expiration(now.Add(ttl)).JwtID(base64.RawURLEncoding.EncodeToString(jti)).
		Claim("dialect", id.Dialect)
	if id.SessionID != "" {
		b = b.Claim("sid", id.SessionID)
	}
	if id.Company != "" {
		b = b.Claim("company", id.Company)
	}
	if len(id.Attrs) > 0 {
		b = b.Claim("attrs", id.Attrs)
	}
	t, err := b.Build()
	if err != nil {
		return "", fmt.Errorf("idtoken: build: %w", err)
	}
	signed, err := jwt.Sign(t, jwt.WithKey(s.alg, s.key))
	if err != nil {
		return "", fmt.Errorf("idtoken: sign: %w", err)
	}
	return string(signed), nil
}

// JWKS serves the public keys, with the block's cache lifetime.
func (s *Signer) JWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(s.maxAge/time.Second)))
		_, _ = w.Write(s.jwks)
	})
}
