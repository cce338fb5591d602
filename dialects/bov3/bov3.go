// Package bov3 speaks the "bo" v3 API dialect (seeds/bo-v3-token-refresh.md):
// a 32-character opaque refresh token presented in the query, JWT access
// tokens bound to the project (XownerId) they were issued under, the
// XverifyApi anti-replay header (a DES-encrypted GUID), and answers in
// lowerCamelCase or, with _nodejs=common-data-under, snake_case.
package bov3

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/jwtkit"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/internal/secrets"
	"github.com/authgate/authgate/tokenstore"
)

// Type is the dialect type name used in config.
const Type = "bov3"

// Header names from the seed.
const (
	HeaderOwner  = "XownerId"
	HeaderVerify = "XverifyApi"
)

// Factory registers the dialect type.
var Factory = dialects.Factory{Type: Type, New: New, Defaults: func() any { return Defaults() }}

var (
	_ dialects.Dialect       = (*Dialect)(nil)
	_ dialects.HeaderSpeller = (*Dialect)(nil)
)

// Config is a dialect instance's block under dialects.<name>.
type Config struct {
	// Secret signs access tokens and derives session ids from refresh
	// tokens; one of secret, secret_env, secret_file; 32+ bytes.
	dialects.SigningKey `koanf:",squash"`
	// Issuer and Audience are the seed's iss "RG3" and aud "api".
	Issuer   string `koanf:"issuer"`
	Audience string `koanf:"audience"`
	// AccessTTL is the access token's life; RefreshTTL the refresh
	// token's (it does not slide: refresh answers the same token).
	AccessTTL  time.Duration `koanf:"access_ttl"`
	RefreshTTL time.Duration `koanf:"refresh_ttl"`
	// TimeZone renders expires, cacheDate and the expires claim.
	TimeZone string `koanf:"time_zone"`
	// ExpiresIn is "seconds" (the document's table: seconds until the
	// access token expires) or "timestamp_ms" (as in the document's
	// example: the access token's expiry as unix milliseconds).
	ExpiresIn string `koanf:"expires_in"`
	// Paths of the auth endpoints.
	LoginPath   string `koanf:"login_path"`
	RefreshPath string `koanf:"refresh_path"`
	LogoutPath  string `koanf:"logout_path"`
	// MaxBodyBytes bounds login bodies.
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// LoginLimit attempts per client IP per LoginWindow.
	LoginLimit  int64         `koanf:"login_limit"`
	LoginWindow time.Duration `koanf:"login_window"`
	// Verify is the XverifyApi policy.
	Verify VerifyConfig `koanf:"verify_api"`
	// Legacy exchanges the refresh tokens of the service the gateway
	// replaces, introspected there; the answer's subject is the user's
	// account (userName).
	Legacy dialects.IntrospectedLegacy `koanf:"legacy"`
}

// VerifyConfig is the XverifyApi policy and cipher.
type VerifyConfig struct {
	// Enforcement is required, optional (checked when sent) or off.
	Enforcement string `koanf:"enforcement"`
	// Key is the 8-byte DES key: key, key_env or key_file.
	Key     string `koanf:"key"`
	KeyEnv  string `koanf:"key_env"`
	KeyFile string `koanf:"key_file"`
	// Mode is ecb or cbc; IV (8 bytes) is for cbc.
	Mode string `koanf:"mode"`
	IV   string `koanf:"iv"`
	// Encoding of the header text: base64 or hex.
	Encoding string `koanf:"encoding"`
	// Skew bounds |now - timestamp| when the header carries one.
	Skew time.Duration `koanf:"skew"`
	// ReplayWindow is how long a GUID is remembered.
	ReplayWindow time.Duration `koanf:"replay_window"`
}

// Defaults are the values of keys a block leaves out.
func Defaults() Config {
	return Config{
		Issuer: "RG3", Audience: "api",
		AccessTTL: 30 * time.Minute, RefreshTTL: 14 * 24 * time.Hour,
		TimeZone: "UTC", ExpiresIn: "seconds",
		LoginPath:    "/bo/api/v3/auth/login",
		RefreshPath:  "/bo/api/v3/auth/token/refresh",
		LogoutPath:   "/bo/api/v3/auth/logout",
		MaxBodyBytes: dialects.DefaultMaxBody, LoginLimit: 20, LoginWindow: time.Minute,
		Verify: VerifyConfig{
			Enforcement: "required", Mode: "ecb", Encoding: "base64",
			Skew: 5 * time.Minute, ReplayWindow: 15 * time.Minute,
		},
		Legacy: dialects.DefaultIntrospectedLegacy(),
	}
}

// users is what the dialect needs of the identity directory.
type users interface {
	Authenticate(ctx context.Context, account, password string) (identity.User, error)
	ByAccount(ctx context.Context, account string) (identity.User, error)
}

// store is what the dialect keeps in the token store.
type store interface {
	tokenstore.Sessions
	tokenstore.Counters
	tokenstore.Nonces
}

// Dialect is one bov3 instance.
type Dialect struct {
	name   string
	keys   dialects.Namespace
	cfg    Config
	access *jwtkit.HS256
	// sidKeys derive session ids from refresh tokens: the current secret's
	// first, then the previous secrets'.
	sidKeys   [][]byte
	verify    *VerifyCipher
	loc       *time.Location
	store     store
	storeKind string
	users     users
	now       func() time.Time
	log       *slog.Logger
	metrics   *dialects.Metrics
	m         *metrics
	// legacy is the legacy window; nil without a legacy block.
	legacy *dialects.Legacy
}

// New builds an instance from its config block.
func New(name string, block map[string]any, deps dialects.Deps) (dialects.Dialect, error) {
	cfg := Defaults()
	errs := dialects.DecodeBlock(block, &cfg)
	secret, previous, keyErrs := cfg.SigningKey.Resolve(deps, 32)
	errs = append(errs, keyErrs...)
	errs = append(errs, dialects.PositiveDurations(map[string]time.Duration{"access_ttl": cfg.AccessTTL, "refresh_ttl": cfg.RefreshTTL, "login_window": cfg.LoginWindow,
		"verify_api.skew": cfg.Verify.Skew, "verify_api.replay_window": cfg.Verify.ReplayWindow})...)
	if cfg.Verify.ReplayWindow > 0 && cfg.Verify.ReplayWindow < 2*cfg.Verify.Skew {
		errs = append(errs, fmt.Errorf("verify_api.replay_window: %v is shorter than twice the skew (%v): a replay could outlive it", cfg.Verify.ReplayWindow, cfg.Verify.Skew))
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		errs = append(errs, fmt.Errorf("time_zone: %w", err))
	}
	if cfg.ExpiresIn != "seconds" && cfg.ExpiresIn != "timestamp_ms" {
		errs = append(errs, fmt.Errorf("expires_in: %q is not one of seconds, timestamp_ms", cfg.ExpiresIn))
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		errs = append(errs, errors.New("issuer and audience must not be empty"))
	}
	if cfg.MaxBodyBytes <= 0 || cfg.LoginLimit <= 0 {
		errs = append(errs, errors.New("max_body_bytes and login_limit must be positive"))
	}
	var vc *VerifyCipher
	switch cfg.Verify.Enforcement {
	case "off":
	case "required", "optional":
		key, err := secrets.Resolve("verify_api.key", secrets.Source{Inline: cfg.Verify.Key, Env: cfg.Verify.KeyEnv, File: cfg.Verify.KeyFile}, deps.LookupEnv, deps.ConfigDir, 8)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if vc, err = NewVerifyCipher(key, cfg.Verify.Mode, []byte(cfg.Verify.IV), cfg.Verify.Encoding); err != nil {
			errs = append(errs, fmt.Errorf("verify_api.%w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("verify_api.enforcement: %q is not one of required, optional, off", cfg.Verify.Enforcement))
	}
	if deps.Users == nil {
		errs = append(errs, errors.New("type: bov3 logs in by user name and password: set identity.users_file"))
	}
	legacy, legacyErrs := cfg.Legacy.Open(name, deps)
	errs = append(errs, legacyErrs...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	sidKeys := [][]byte{sessionIDKey(secret)}
	for _, p := range previous {
		sidKeys = append(sidKeys, sessionIDKey(p))
	}
	d := &Dialect{
		name: name, keys: dialects.NewNamespace(Type, name), cfg: cfg, sidKeys: sidKeys,
		access: jwtkit.New(secret, cfg.Issuer, now, jwtkit.DefaultCacheSize).AcceptAlso(previous...),
		verify: vc, loc: loc, store: deps.Store, storeKind: deps.StoreKind, users: deps.Users,
		now: now, log: log, metrics: deps.Metrics, m: newMetrics(deps.Registerer), legacy: legacy,
	}
	if d.storeKind == "" {
		d.storeKind = "local"
	}
	return d, nil
}

// Endpoints implements dialects.Dialect.
func (d *Dialect) Endpoints() []dialects.Endpoint {
	return []dialects.Endpoint{
		{Method: http.MethodPost, Path: d.cfg.LoginPath, Kind: dialects.KindLogin, Handler: d.login},
		{Method: http.MethodGet, Path: d.cfg.RefreshPath, Kind: dialects.KindRefresh, Handler: d.refresh},
		{Method: http.MethodPost, Path: d.cfg.LogoutPath, Kind: dialects.KindLogout, Handler: d.logout},
	}
}

// CredentialHeaders implements dialects.Dialect. The context headers
// (XownerId, XsysId, ...) are not credentials: they reach the upstream.
func (d *Dialect) CredentialHeaders() []string { return []string{"Authorization", HeaderVerify} }

// ContextHeaders are the seed's context headers, passed to the upstream as
// they came.
var ContextHeaders = []string{HeaderOwner, "XsysId", "XuserFromFirstShareId", "XuserFromSecondShareId", "XfilterAreaCode"}

// HeaderSpellings implements dialects.HeaderSpeller.
func (d *Dialect) HeaderSpellings() []string { return ContextHeaders }

// sessionIDKey derives the key of session ids from a secret.
func sessionIDKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("authgate bov3 session id key"))
	return m.Sum(nil)
}

// sessionID derives the session id from the refresh token with the
// current secret, so the opaque token alone finds its session while the
// store never learns the token.
func (d *Dialect) sessionID(refresh string) string { return d.sessionIDWith(d.sidKeys[0], refresh) }

func (d *Dialect) sessionIDWith(key []byte, refresh string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(refresh))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// findSession is the live session of a refresh token: under the id the
// current secret derives, or one a previous secret derived (a session from
// before a key rotation).
func (d *Dialect) findSession(ctx context.Context, refresh string, now time.Time) (tokenstore.Session, error) {
	var err error
	for _, key := range d.sidKeys {
		var sess tokenstore.Session
		sess, err = d.store.Session(ctx, d.sessionIDWith(key, refresh), now)
		if !errors.Is(err, tokenstore.ErrNotFound) {
			return sess, err
		}
	}
	return tokenstore.Session{}, err
}

// LegacyOpen implements dialects.LegacyWindowed.
func (d *Dialect) LegacyOpen() bool { return d.legacy.Open() }
