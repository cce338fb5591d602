// Package mobile speaks the mobile SMS-login dialect
// (seeds/mobile-sms-login.md): an SMS code logs a phone number in (and
// registers it when unknown), access tokens ride in Authorization: Bearer,
// a refresh answers a new access token, and a login on another device
// kicks the older one, which learns of it from check-login-status.
package mobile

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/jwtkit"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/sms"
	"github.com/authgate/authgate/tokenstore"
)

// Type is the dialect type name used in config.
const Type = "mobile"

// Factory registers the dialect type.
var Factory = dialects.Factory{Type: Type, New: New, Defaults: func() any { return Defaults() }}

var _ dialects.Dialect = (*Dialect)(nil)

// Config is a dialect instance's block under dialects.<name>.
type Config struct {
	// Secret signs access tokens and keys the code hashes; one of
	// secret, secret_env, secret_file; at least 32 bytes.
	dialects.SigningKey `koanf:",squash"`
	// Issuer is the iss claim, distinct per dialect so tokens do not cross.
	Issuer string `koanf:"issuer"`
	// AccessTTL is the access token's life; RefreshTTL the opaque refresh
	// token's (stored hashed), which is the session's.
	AccessTTL  time.Duration `koanf:"access_ttl"`
	RefreshTTL time.Duration `koanf:"refresh_ttl"`
	// TokenHeader carries the access token ("Bearer " prefix optional).
	TokenHeader string `koanf:"token_header"`
	// DeviceHeader carries the device number at login (or body
	// deviceNumber).
	DeviceHeader string `koanf:"device_header"`
	// TimeLayout and TimeZone format every date-time on the wire.
	TimeLayout string `koanf:"time_layout"`
	TimeZone   string `koanf:"time_zone"`
	// MobilePattern is the accepted phone number format.
	MobilePattern string `koanf:"mobile_pattern"`
	// AutoRegister creates a user for an unknown number on its first
	// login; IDBase is the first id handed out.
	AutoRegister bool  `koanf:"auto_register"`
	IDBase       int64 `koanf:"id_base"`
	// SingleDevice makes a login kick the user's sessions on other
	// devices; KickScope is "user" or "user_product".
	SingleDevice bool   `koanf:"single_device"`
	KickScope    string `koanf:"kick_scope"`
	// Endpoint paths.
	LoginPath       string `koanf:"login_path"`
	SMSCodePath     string `koanf:"sms_code_path"`
	RefreshPath     string `koanf:"refresh_path"`
	LoginStatusPath string `koanf:"login_status_path"`
	// MaxBodyBytes bounds auth request bodies.
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// SMS is the code policy and the sender.
	SMS SMSConfig `koanf:"sms"`
	// Legacy exchanges the refresh tokens of the service the gateway
	// replaces, introspected there; the answer's subject is the user's
	// mobile number.
	Legacy dialects.IntrospectedLegacy `koanf:"legacy"`
}

// SMSConfig is the code policy and the sender.
type SMSConfig struct {
	// CodeTTL is a code's life; MaxAttempts the wrong guesses that end it.
	CodeTTL     time.Duration `koanf:"code_ttl"`
	MaxAttempts int           `koanf:"max_attempts"`
	// ResendInterval is the wait between two codes to one number;
	// DailyLimit the codes one number may receive a day.
	ResendInterval time.Duration `koanf:"resend_interval"`
	DailyLimit     int64         `koanf:"daily_limit"`
	// IPLimit is the codes one client IP may ask for within IPWindow.
	IPLimit  int64         `koanf:"ip_limit"`
	IPWindow time.Duration `koanf:"ip_window"`
	// Template is passed to the sender, which picks the message by it.
	Template string `koanf:"template"`
	// Sender is how codes leave the gateway.
	Sender sms.Config `koanf:"sender"`
}

// Defaults are the values of keys a block leaves out.
func Defaults() Config {
	return Config{
		Issuer:          "authgate-mobile",
		AccessTTL:       2 * time.Hour,
		RefreshTTL:      30 * 24 * time.Hour,
		TokenHeader:     "Authorization",
		DeviceHeader:    "X-Device-Number",
		TimeLayout:      time.RFC3339,
		TimeZone:        "UTC",
		MobilePattern:   `^1[3-9][0-9]{9}$`,
		AutoRegister:    true,
		IDBase:          1_000_000,
		SingleDevice:    true,
		KickScope:       "user",
		LoginPath:       "/auth/mobile/login",
		SMSCodePath:     "/auth/mobile/sms-code",
		RefreshPath:     "/app/auth/token/refresh",
		LoginStatusPath: "/wx/pc/check-login-status",
		MaxBodyBytes:    dialects.DefaultMaxBody,
		SMS: SMSConfig{
			CodeTTL:        5 * time.Minute,
			MaxAttempts:    5,
			ResendInterval: 60 * time.Second,
			DailyLimit:     10,
			IPLimit:        30,
			IPWindow:       time.Hour,
			Template:       "login",
			Sender: sms.Config{
				SignatureHeader: "X-Authgate-Signature",
				Timeout:         5 * time.Second,
				MaxAttempts:     3,
				Backoff:         200 * time.Millisecond,
			},
		},
		Legacy: dialects.DefaultIntrospectedLegacy(),
	}
}

// users is what the dialect needs of the identity directory.
type users interface {
	ByMobile(ctx context.Context, mobile string) (identity.User, error)
}

// store is what the dialect keeps in the token store.
type store interface {
	tokenstore.Sessions
	tokenstore.Codes
	tokenstore.Counters
	tokenstore.Accounts
	tokenstore.Seats
}

// Dialect is one mobile instance.
type Dialect struct {
	name       string
	keys       dialects.Namespace
	cfg        Config
	access     *jwtkit.HS256
	codeSecret []byte
	loc        *time.Location
	mobile     *regexp.Regexp
	sender     sms.Sender
	store      store
	users      users
	now        func() time.Time
	log        *slog.Logger
	metrics    *dialects.Metrics
	m          *metrics
	// legacy is the legacy window; nil without a legacy block.
	legacy *dialects.Legacy
}

// New builds an instance from its config block.
func New(name string, block map[string]any, deps dialects.Deps) (dialects.Dialect, error) {
	cfg := Defaults()
	errs := dialects.DecodeBlock(block, &cfg)
	secret, previous, keyErrs := cfg.SigningKey.Resolve(deps, 32)
	errs = append(errs, keyErrs...)
	errs = append(errs, dialects.PositiveDurations(map[string]time.Duration{
		"access_ttl": cfg.AccessTTL, "refresh_ttl": cfg.RefreshTTL, "sms.code_ttl": cfg.SMS.CodeTTL,
		"sms.resend_interval": cfg.SMS.ResendInterval, "sms.ip_window": cfg.SMS.IPWindow,
	})...)
	if cfg.RefreshTTL > 0 && cfg.AccessTTL > cfg.RefreshTTL {
		errs = append(errs, fmt.Errorf("access_ttl: %v outlives refresh_ttl %v", cfg.AccessTTL, cfg.RefreshTTL))
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		errs = append(errs, fmt.Errorf("time_zone: %w", err))
	}
	if cfg.TimeLayout == "" {
		errs = append(errs, errors.New("time_layout: must not be empty"))
	}
	pattern, err := regexp.Compile(cfg.MobilePattern)
	if err != nil {
		errs = append(errs, fmt.Errorf("mobile_pattern: %w", err))
	}
	if cfg.KickScope != "user" && cfg.KickScope != "user_product" {
		errs = append(errs, fmt.Errorf("kick_scope: %q is not one of user, user_product", cfg.KickScope))
	}
	if cfg.Issuer == "" || cfg.TokenHeader == "" || cfg.DeviceHeader == "" {
		errs = append(errs, errors.New("issuer, token_header and device_header must not be empty"))
	}
	if cfg.SMS.MaxAttempts < 1 || cfg.SMS.DailyLimit < 1 || cfg.SMS.IPLimit < 1 {
		errs = append(errs, errors.New("sms.max_attempts, sms.daily_limit and sms.ip_limit must be at least 1"))
	}
	if cfg.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("max_body_bytes: must be positive"))
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	sender, warnings, err := sms.Open(cfg.SMS.Sender, deps.ConfigDir, deps.LookupEnv, log, deps.Now)
	for _, w := range warnings {
		deps.Warnf("sms.sender.%s", w)
	}
	errs = append(errs, dialects.Under("sms.sender.", err)...)
	legacy, legacyErrs := cfg.Legacy.Open(name, deps)
	errs = append(errs, legacyErrs...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("authgate mobile sms code key"))
	d := &Dialect{
		name: name, keys: dialects.NewNamespace(Type, name), cfg: cfg,
		access:     jwtkit.New(secret, cfg.Issuer, now, jwtkit.DefaultCacheSize).AcceptAlso(previous...),
		codeSecret: mac.Sum(nil), loc: loc, mobile: pattern, sender: sender,
		store: deps.Store, now: now, log: log, metrics: deps.Metrics,
		m: newMetrics(deps.Registerer), legacy: legacy,
	}
	// The series the alerts divide exist from the start: a sender that
	// fails from its first message still shows as a failure rate.
	d.m.codesSent.WithLabelValues(sender.Name())
	d.m.sendFailures.WithLabelValues(sender.Name())
	if deps.Users != nil {
		d.users = deps.Users
	}
	return d, nil
}

// Endpoints implements dialects.Dialect.
func (d *Dialect) Endpoints() []dialects.Endpoint {
	return []dialects.Endpoint{
		{Method: http.MethodPost, Path: d.cfg.SMSCodePath, Kind: "send_code", Handler: d.sendCode},
		{Method: http.MethodPost, Path: d.cfg.LoginPath, Kind: dialects.KindLogin, Handler: d.login},
		{Method: http.MethodPost, Path: d.cfg.RefreshPath, Kind: dialects.KindRefresh, Handler: d.refresh},
		{Method: http.MethodGet, Path: d.cfg.LoginStatusPath, Handler: d.loginStatus, Prefix: true},
	}
}

// CredentialHeaders implements dialects.Dialect.
func (d *Dialect) CredentialHeaders() []string { return []string{d.cfg.TokenHeader} }

func (d *Dialect) formatTime(t time.Time) string { return t.In(d.loc).Format(d.cfg.TimeLayout) }

// LegacyOpen implements dialects.LegacyWindowed.
func (d *Dialect) LegacyOpen() bool { return d.legacy.Open() }
