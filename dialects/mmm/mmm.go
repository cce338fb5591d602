// Package mmm speaks the "mmm" header-token dialect
// (seeds/mmm-header-token.md): HS256 JWT pairs in the x-mmm-accesstoken and
// x-mmm-refreshtoken headers, the {"code","msg","data"} envelope with string
// codes, and the 10026/10024 protocol by which an expired access token is
// answered with a fresh pair in place.
package mmm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/tokenstore"
)

// Type is the dialect type name used in config.
const Type = "mmm"

// Header names from the seed. Go canonicalises them on the wire it reads;
// clients may send any case.
const (
	HeaderAccess  = "X-Mmm-Accesstoken"
	HeaderRefresh = "X-Mmm-Refreshtoken"
)

// Factory registers the dialect type.
var Factory = dialects.Factory{Type: Type, New: New, Defaults: func() any { return Defaults() }}

var _ dialects.Dialect = (*Dialect)(nil)

// Config is a dialect instance's block under dialects.<name>.
type Config struct {
	// Issuer is the iss claim; the legacy service used mmm_oppmg.
	Issuer string `koanf:"issuer"`
	// Secret signs the tokens (HS256): one of secret, secret_env,
	// secret_file; at least 32 bytes.
	dialects.SigningKey `koanf:",squash"`
	// AccessTTL and RefreshTTL are the tokens' lifetimes.
	AccessTTL  time.Duration `koanf:"access_ttl"`
	RefreshTTL time.Duration `koanf:"refresh_ttl"`
	// RefreshGrace is how long a rotated refresh token still receives the
	// same new pair (parallel requests, a lost response); 0 turns it off.
	RefreshGrace time.Duration `koanf:"refresh_grace"`
	// Paths of the auth endpoints.
	LoginPath         string `koanf:"login_path"`
	RefreshPath       string `koanf:"refresh_path"`
	ChangeCompanyPath string `koanf:"change_company_path"`
	LogoutPath        string `koanf:"logout_path"`
	// MaxBodyBytes bounds auth request bodies.
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// LoginLimit is how many login attempts one client IP may make within
	// LoginWindow; further ones answer 10029 with Retry-After.
	LoginLimit  int64         `koanf:"login_limit"`
	LoginWindow time.Duration `koanf:"login_window"`
	// Legacy accepts the tokens of the mmm service the gateway replaces.
	Legacy LegacyConfig `koanf:"legacy"`
}

// Defaults are the values of keys a block leaves out.
func Defaults() Config {
	return Config{
		Issuer:            "mmm_oppmg",
		AccessTTL:         30 * time.Minute,
		RefreshTTL:        24 * time.Hour,
		RefreshGrace:      10 * time.Second,
		LoginPath:         "/auth/login",
		RefreshPath:       "/v1/auth/refresh_token",
		ChangeCompanyPath: "/v1/auth/change_company",
		LogoutPath:        "/v1/auth/logout",
		MaxBodyBytes:      dialects.DefaultMaxBody,
		LoginLimit:        20,
		LoginWindow:       time.Minute,
		Legacy:            defaultLegacy(),
	}
}

// users is what the dialect needs of the identity directory.
type users interface {
	Authenticate(ctx context.Context, account, password string) (identity.User, error)
	ByID(ctx context.Context, id int64) (identity.User, error)
}

// store is what the dialect keeps in the token store.
type store interface {
	tokenstore.Sessions
	tokenstore.Counters
}

// Dialect is one mmm instance.
type Dialect struct {
	name    string
	keys    dialects.Namespace
	cfg     Config
	signer  *signer
	store   store
	users   users
	now     func() time.Time
	log     *slog.Logger
	metrics *dialects.Metrics
	// legacy is the legacy window; nil without a legacy block.
	legacy *dialects.Legacy
	// legacyTokens verifies the legacy service's tokens and tells their
	// kind; nil without a legacy block.
	legacyTokens *legacyVerifier
}

// New builds an instance from its config block.
func New(name string, block map[string]any, deps dialects.Deps) (dialects.Dialect, error) {
	cfg := Defaults()
	errs := dialects.DecodeBlock(block, &cfg)
	secret, previous, keyErrs := cfg.SigningKey.Resolve(deps, 32)
	errs = append(errs, keyErrs...)
	errs = append(errs, dialects.PositiveDurations(map[string]time.Duration{"access_ttl": cfg.AccessTTL, "refresh_ttl": cfg.RefreshTTL, "login_window": cfg.LoginWindow})...)
	if cfg.RefreshGrace < 0 {
		errs = append(errs, fmt.Errorf("refresh_grace: must not be negative"))
	}
	if cfg.RefreshTTL > 0 && cfg.AccessTTL > cfg.RefreshTTL {
		errs = append(errs, fmt.Errorf("access_ttl: %v outlives refresh_ttl %v", cfg.AccessTTL, cfg.RefreshTTL))
	}
	if cfg.Issuer == "" {
		errs = append(errs, fmt.Errorf("issuer: must not be empty"))
	}
	if cfg.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("max_body_bytes: must be positive"))
	}
	if cfg.LoginLimit <= 0 {
		errs = append(errs, fmt.Errorf("login_limit: must be positive"))
	}
	legacy, legacyTokens, legacyErrs := newLegacy(name, cfg.Legacy, deps)
	errs = append(errs, legacyErrs...)
	if deps.Users == nil {
		errs = append(errs, fmt.Errorf("type: mmm logs in by account and password: set identity.users_file"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	deps.WarnGraceOutlivesAccess(cfg.RefreshGrace, cfg.AccessTTL)
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Dialect{
		name:         name,
		keys:         dialects.NewNamespace(Type, name),
		cfg:          cfg,
		signer:       newSigner(cfg.Issuer, secret, previous, now),
		legacyTokens: legacyTokens,
		legacy:       legacy,
		store:        deps.Store,
		users:        deps.Users,
		now:          now,
		log:          log,
		metrics:      deps.Metrics,
	}, nil
}

// Endpoints implements dialects.Dialect.
func (d *Dialect) Endpoints() []dialects.Endpoint {
	return []dialects.Endpoint{
		{Method: http.MethodPost, Path: d.cfg.LoginPath, Kind: dialects.KindLogin, Handler: d.login},
		{Method: http.MethodGet, Path: d.cfg.RefreshPath, Kind: dialects.KindRefresh, Handler: d.refresh},
		{Method: http.MethodPost, Path: d.cfg.ChangeCompanyPath, Kind: "change_company", Handler: d.changeCompany},
		{Method: http.MethodPost, Path: d.cfg.LogoutPath, Kind: dialects.KindLogout, Handler: d.logout},
	}
}

// CredentialHeaders implements dialects.Dialect.
func (d *Dialect) CredentialHeaders() []string { return []string{HeaderAccess, HeaderRefresh} }

type loginRequest struct {
	Account  string `json:"account"`
	Password string `json:"password"`
}

// login is POST /auth/login {"account","password"} → pair.
func (d *Dialect) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := dialects.DecodeJSON(w, r, d.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.Account == "" || req.Password == "" {
		return &dialects.RequestError{Msg: "account and password are required"}
	}
	dialects.NoteSubject(r, req.Account)
	ctx := r.Context()
	now := d.now()
	// Attempts are counted before the password hash is checked, so a flood
	// of logins can neither guess passwords nor burn the CPU on argon2id.
	limit := dialects.Limit{Key: d.keys.Key("login", dialects.ClientIP(r)), Window: d.cfg.LoginWindow, Max: d.cfg.LoginLimit}
	if _, err := dialects.CountAttempt(ctx, d.store, d.log, now, limit); err != nil {
		return err
	}
	user, err := d.users.Authenticate(ctx, req.Account, req.Password)
	if errors.Is(err, identity.ErrBadCredentials) {
		return &wireError{code: CodeBadCredentials, msg: "账号或密码错误", status: http.StatusOK, err: err}
	}
	if err != nil {
		return err
	}
	pair, err := d.startSession(ctx, user.ID, user.DefaultCompany, now)
	if err != nil {
		return err
	}
	d.metrics.Issued(d.name, "login")
	dialects.NoteSubject(r, strconv.FormatInt(user.ID, 10))
	writeOK(w, pair)
	return nil
}

// startSession issues a pair for a new session of uid in company and
// stores the session.
func (d *Dialect) startSession(ctx context.Context, uid, company int64, now time.Time) (Pair, error) {
	sid := dialects.NewID()
	pair, err := d.signer.pair(uid, company, sid, now, d.cfg.AccessTTL, d.cfg.RefreshTTL)
	if err != nil {
		return Pair{}, err
	}
	err = d.store.CreateSession(ctx, tokenstore.Session{
		ID: sid, Dialect: d.name, Subject: strconv.FormatInt(uid, 10),
		Company:   strconv.FormatInt(company, 10),
		CreatedAt: now, LastSeen: now, ExpiresAt: time.Unix(pair.RefreshExpires, 0),
		RefreshHash: dialects.HashToken(pair.RefreshToken),
	}, now)
	if err != nil {
		return Pair{}, err
	}
	return pair, nil
}

// LegacyOpen implements dialects.LegacyWindowed.
func (d *Dialect) LegacyOpen() bool { return d.legacy.Open() }
