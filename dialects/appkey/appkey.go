// Package appkey speaks the appId/appKey/appSecret client-credentials
// dialect (seeds/appkey-base-token.md), a Spring Boot service's API: a
// partner logs in with its app credentials, receives the Token object,
// refreshes it with a rotating refresh token, and is told by plain HTTP
// statuses (401, 403) when something is wrong. Apps live in a YAML file,
// or in a table of the user directory's database, re-read when they
// change.
package appkey

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/dialects/jwtkit"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/tokenstore"
)

// Type is the dialect type name used in config.
const Type = "appkey"

// Factory registers the dialect type.
var Factory = dialects.Factory{Type: Type, New: New, Defaults: func() any { return Defaults() }}

var (
	_ dialects.Dialect = (*Dialect)(nil)
	_ io.Closer        = (*Dialect)(nil)
)

// Config is a dialect instance's block under dialects.<name>.
type Config struct {
	// Secret signs access tokens; one of secret, secret_env, secret_file.
	dialects.SigningKey `koanf:",squash"`
	// Issuer is the iss claim, distinct per dialect so tokens do not cross.
	Issuer string `koanf:"issuer"`
	// AppsFile is the apps registry, relative to the config file.
	AppsFile string `koanf:"apps_file"`
	// AppsQuery reads the registry from the sql user directory's database
	// instead (columns AppColumns); exactly one of the two is set.
	AppsQuery string `koanf:"apps_query"`
	// ReloadInterval is how often the apps source is checked for changes.
	ReloadInterval time.Duration `koanf:"reload_interval"`
	// AccessTTL and RefreshTTL are the access and refresh tokens' lives.
	AccessTTL  time.Duration `koanf:"access_ttl"`
	RefreshTTL time.Duration `koanf:"refresh_ttl"`
	// RefreshGrace lets a just-rotated refresh token receive the same new
	// Token (a lost response); 0, the default, makes any reuse a 401 that
	// also ends the session.
	RefreshGrace time.Duration `koanf:"refresh_grace"`
	// TimeLayout and TimeZone format expiresTime.
	TimeLayout string `koanf:"time_layout"`
	TimeZone   string `koanf:"time_zone"`
	// TokenHeader carries the access token (Bearer).
	TokenHeader string `koanf:"token_header"`
	// LoginPath and RefreshPath are the auth endpoints' paths.
	LoginPath   string `koanf:"login_path"`
	RefreshPath string `koanf:"refresh_path"`
	// MaxBodyBytes bounds login bodies.
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// FailureLimit failed logins per appId and per client IP within
	// FailureWindow, then 429.
	FailureLimit  int64         `koanf:"failure_limit"`
	FailureWindow time.Duration `koanf:"failure_window"`
	// Legacy exchanges the refresh tokens of the service the gateway
	// replaces, introspected there; the answer's subject is the appId.
	Legacy dialects.IntrospectedLegacy `koanf:"legacy"`
}

// Defaults are the values of keys a block leaves out.
func Defaults() Config {
	return Config{
		Issuer: "authgate-appkey", ReloadInterval: 2 * time.Second,
		AccessTTL: 2 * time.Hour, RefreshTTL: 7 * 24 * time.Hour,
		TimeLayout: time.RFC3339, TimeZone: "UTC", TokenHeader: "Authorization",
		LoginPath: "/api/base/token/login", RefreshPath: "/api/base/token/refresh",
		MaxBodyBytes: dialects.DefaultMaxBody, FailureLimit: 10, FailureWindow: 15 * time.Minute,
		Legacy: dialects.DefaultIntrospectedLegacy(),
	}
}

// store is what the dialect keeps in the token store.
type store interface {
	tokenstore.Sessions
	tokenstore.Counters
	tokenstore.Overrides
}

// Dialect is one appkey instance.
type Dialect struct {
	name    string
	keys    dialects.Namespace
	cfg     Config
	access  *jwtkit.HS256
	loc     *time.Location
	store   store
	now     func() time.Time
	log     *slog.Logger
	metrics *dialects.Metrics
	verify  identity.Verifier
	// legacy is the legacy window; nil without a legacy block.
	legacy *dialects.Legacy

	src  appsSource
	from string // the source for logs: the file as configured, or "apps_query"
	apps atomic.Pointer[Apps]
	// disabled are the apps switched off from the admin API (admin.go).
	disabled atomic.Pointer[map[string]bool]

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	m *metrics
}

// New builds an instance from its config block, reads the apps source and
// starts watching it.
func New(name string, block map[string]any, deps dialects.Deps) (dialects.Dialect, error) {
	cfg := Defaults()
	errs := dialects.DecodeBlock(block, &cfg)
	secret, previous, keyErrs := cfg.SigningKey.Resolve(deps, 32)
	errs = append(errs, keyErrs...)
	errs = append(errs, dialects.PositiveDurations(map[string]time.Duration{"access_ttl": cfg.AccessTTL, "refresh_ttl": cfg.RefreshTTL,
		"reload_interval": cfg.ReloadInterval, "failure_window": cfg.FailureWindow})...)
	if cfg.RefreshGrace < 0 {
		errs = append(errs, errors.New("refresh_grace: must not be negative"))
	}
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		errs = append(errs, fmt.Errorf("time_zone: %w", err))
	}
	if cfg.FailureLimit < 1 || cfg.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("failure_limit and max_body_bytes must be positive"))
	}
	legacy, legacyErrs := cfg.Legacy.Open(name, deps)
	errs = append(errs, legacyErrs...)
	src, from, err := newSource(cfg, deps)
	var apps *Apps
	var rejected []error
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		apps, rejected, err = src.load(ctx, nil)
		cancel()
		if errors.Is(err, identity.ErrUnavailable) {
			// The database does not answer: start without the apps (their
			// logins and requests answer unavailable) and load them once it
			// does; the other routes need not wait for it.
			deps.Warnf("%s: the apps could not be read (%v): logins and requests of this instance answer unavailable until they are", from, err)
			apps, err = &Apps{pending: err, byID: map[string]App{}}, nil
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", from, err)
		}
	}
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	deps.WarnGraceOutlivesAccess(cfg.RefreshGrace, cfg.AccessTTL)
	verify := deps.VerifySecret
	if verify == nil {
		verify = identity.Unbounded(identity.VerifySecret)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	d := &Dialect{
		name: name, keys: dialects.NewNamespace(Type, name), cfg: cfg, access: jwtkit.New(secret, cfg.Issuer, now, jwtkit.DefaultCacheSize).AcceptAlso(previous...), loc: loc,
		store: deps.Store, now: now, log: log, metrics: deps.Metrics, verify: verify, legacy: legacy,
		src: src, from: from, stop: make(chan struct{}), done: make(chan struct{}),
		m: newMetrics(deps.Registerer),
	}
	d.apps.Store(apps)
	d.disabled.Store(&map[string]bool{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	d.loadOverrides(ctx)
	cancel()
	if apps.pending != nil {
		d.m.sourceBroken.Set(1)
	}
	d.m.appsLoaded.Set(float64(len(apps.byID)))
	d.m.appsRejected.Set(float64(len(rejected)))
	for _, r := range rejected {
		deps.Warnf("apps_query: row left out (that app cannot log in): %v", r)
	}
	if apps.demo {
		deps.Warnf("%s: DEMO APPS LOADED: the apps file holds published demo credentials; never run it in production", from)
	}
	go d.watch()
	return d, nil
}

// newSource is the configured apps source and the key that names it.
func newSource(cfg Config, deps dialects.Deps) (appsSource, string, error) {
	switch {
	case cfg.AppsFile != "" && cfg.AppsQuery != "":
		return nil, "", errors.New("apps_file, apps_query: set one, not both")
	case cfg.AppsQuery != "":
		db, ok := deps.Users.(identity.TableReader)
		if !ok {
			return nil, "", errors.New("apps_query: needs identity.type sql (the query runs on the user directory's database); use apps_file otherwise")
		}
		return tableSource{db: db, query: cfg.AppsQuery}, "apps_query", nil
	case cfg.AppsFile != "":
		path := cfg.AppsFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(deps.ConfigDir, path)
		}
		return fileSource{path: path}, "apps_file: " + cfg.AppsFile, nil
	default:
		return nil, "", errors.New("apps_file: required (or apps_query, with identity.type sql)")
	}
}

// watch re-reads the apps source every ReloadInterval. The file is polled
// (by content digest) rather than watched with inotify, because config
// maps and editors replace files by renaming, which loses inotify
// watches; a table has no change feed both databases share.
func (d *Dialect) watch() {
	defer close(d.done)
	t := time.NewTicker(d.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.reload()
		}
	}
}

// reload swaps in a changed, valid apps set and ends the sessions of apps
// it deleted, disabled or re-keyed. A broken file, or a database that
// cannot answer, keeps the last good set, says why in the log, and raises
// the broken gauge; table rows that do not read are left out (their apps
// cannot log in) and logged.
func (d *Dialect) reload() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.loadOverrides(ctx)
	cur := d.apps.Load()
	next, rejected, err := d.src.load(ctx, cur)
	if err != nil {
		d.m.sourceBroken.Set(1)
		d.m.reloads.WithLabelValues("error").Inc()
		d.log.Error("apps source broken; keeping the last good apps", "source", d.from, "err", err)
		return
	}
	d.m.sourceBroken.Set(0)
	if next == cur {
		return
	}
	// Sessions end before the new set is visible, so nobody sees an app
	// disabled while its sessions still refresh.
	for _, id := range cur.ended(next) {
		n, err := d.store.RevokeSubject(ctx, d.name, id, d.now())
		if err != nil {
			d.log.Error("revoke sessions of an ended app", "app_id", id, "err", err)
			continue
		}
		d.log.Info("ended the sessions of a deleted, disabled or re-keyed app", "app_id", id, "sessions", n)
	}
	d.apps.Store(next)
	for _, r := range rejected {
		d.log.Warn("apps_query: row left out; that app cannot log in", "err", r)
	}
	d.m.appsRejected.Set(float64(len(rejected)))
	d.m.appsLoaded.Set(float64(len(next.byID)))
	d.m.reloads.WithLabelValues("ok").Inc()
	d.log.Info("apps reloaded", "source", d.from, "apps", len(next.byID))
}

// Close stops watching the apps source.
func (d *Dialect) Close() error {
	d.stopOnce.Do(func() { close(d.stop) })
	<-d.done
	return nil
}

// Endpoints implements dialects.Dialect.
func (d *Dialect) Endpoints() []dialects.Endpoint {
	return []dialects.Endpoint{
		{Method: http.MethodPost, Path: d.cfg.LoginPath, Kind: dialects.KindLogin, Handler: d.login},
		{Method: http.MethodPost, Path: d.cfg.RefreshPath, Kind: dialects.KindRefresh, Handler: d.refresh},
	}
}

// CredentialHeaders implements dialects.Dialect.
func (d *Dialect) CredentialHeaders() []string { return []string{d.cfg.TokenHeader} }

// LegacyOpen implements dialects.LegacyWindowed.
func (d *Dialect) LegacyOpen() bool { return d.legacy.Open() }
