// Package gateway is one generation of authgate and its request
// pipeline: from a loaded configuration (package config) it builds the
// user directory and the dialect instances on the token store it is
// handed (package backend opens both), and serves the route table
// (dialect auth endpoints, then authenticated reverse-proxy routes) with
// the admin listener beside it; a reload builds the next generation and
// swaps it in.
//
// The concrete stores are opened outside (backend.OpenStore, called by
// cmd/gateway), so this package depends on the tokenstore interface only
// and tests can hand it a store that fails on purpose.
//
// Files: gateway.go (New, a generation's assembly, Serve and drain),
// handler.go (the router and dialect endpoints), routes.go (the route
// table), authenticate.go (which of a route's dialects decides),
// forward.go (what reaches the upstream), shadow.go (shadow routes),
// admin.go (the admin API), reload.go (reloads and the config watch),
// upstream_errors.go, middleware.go and metrics.go.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/backend"
	"github.com/authgate/authgate/config"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/internal/framing"
	"github.com/authgate/authgate/tokenstore"
)

// Options are the parts of a gateway that do not come from config.
type Options struct {
	// Registry holds the dialect types; required.
	Registry *dialects.Registry
	// Now is the clock (time.Now when nil); tests inject one.
	Now func() time.Time
	// Logger receives the access log and events (slog.Default when nil).
	Logger *slog.Logger
	// LookupEnv reads *_env secrets (os.LookupEnv when nil).
	LookupEnv func(string) (string, bool)
	// VerifySecret checks passwords and app secrets against their hashes
	// (identity.VerifySecret when nil); tests count calls through it.
	VerifySecret func(hash, secret string) (bool, error)
	// Store is the token store the config's store block names, opened by
	// the caller (backend.OpenStore); required. The gateway owns it from
	// here on: Close (and a failing New) closes it.
	Store tokenstore.Store
}

// Gateway is a built gateway, ready to serve.
type Gateway struct {
	// cfg is the config the gateway started with: the listeners, the
	// store and the server's timeouts come from it and cannot change live
	// (Reload refuses a config that changes them).
	cfg   *config.Config
	o     Options
	log   *slog.Logger
	store tokenstore.Store
	reg   *prometheus.Registry
	// What lives as long as the process, across reloads: the metrics,
	// shadow mode's bound and series, the admin API's counter.
	m          *metrics
	shared     *dialects.Metrics
	shadow     *shadow
	adminCalls *prometheus.CounterVec
	reloads    *reloadMetrics
	// current is what serves: the routes, dialect instances, directory
	// and admin API of the config last loaded; Reload swaps it.
	current  atomic.Pointer[generation]
	reloadMu sync.Mutex
	handler  http.Handler
	admin    http.Handler
	// draining is set from SIGTERM on: /readyz answers 503.
	draining atomic.Bool
}

// generation is everything one config builds: requests that started on
// it finish on it, and it is closed once they have after a reload.
type generation struct {
	cfg      *config.Config
	handler  http.Handler
	admin    chi.Router
	cert     *tls.Certificate
	closers  []io.Closer
	warnings []string
	inflight atomic.Int64
	// legacyWindows are the dialect instances that may take a legacy
	// service's tokens; set once built, before the generation serves.
	legacyWindows []dialects.LegacyWindowed
	// verify checks secrets against slow hashes, at most
	// identity.max_concurrent_checks at once: logins, app secrets and
	// admin tokens of the old hash form share the bound.
	verify func(hash, secret string) (bool, error)
}

// closerFunc adapts a close function to io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// legacyOpen reports whether a dialect instance of gen still takes a
// legacy service's tokens: a rollback to it is possible, so the user
// directory holds its password-hash upgrades.
func (gen *generation) legacyOpen() bool {
	for _, l := range gen.legacyWindows {
		if l.LegacyOpen() {
			return true
		}
	}
	return false
}

func (gen *generation) close() error {
	var errs []error
	for _, c := range gen.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// New builds a gateway from a loaded config. Problems with dialect blocks
// (a missing secret, a bad TTL) come back together in a *ConfigError.
func New(cfg *config.Config, o Options) (*Gateway, error) {
	g, err := newGateway(cfg, o)
	if err != nil {
		return nil, err
	}
	gen, err := g.build(cfg)
	if err != nil {
		_ = g.store.Close()
		return nil, err
	}
	g.current.Store(gen)
	return g, nil
}

// newGateway sets up what outlives reloads: options, registry, metrics,
// the store's observer.
func newGateway(cfg *config.Config, o Options) (*Gateway, error) {
	if o.Registry == nil {
		return nil, errors.New("gateway: no dialect registry")
	}
	if o.Store == nil {
		return nil, errors.New("gateway: no token store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = slog.New(requestIDHandler{o.Logger.Handler()})
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.VerifySecret == nil {
		o.VerifySecret = identity.VerifySecret
	}
	g := &Gateway{cfg: cfg, o: o, log: o.Logger, reg: prometheus.NewRegistry(), store: o.Store}
	g.m = newMetrics(g.reg, cfg.LongestRouteTimeout())
	g.shadow = newShadow(g.reg, o.Logger)
	g.shared = dialects.NewMetrics(g.reg)
	g.adminCalls = newAdminCalls(g.reg)
	g.reloads = newReloadMetrics(g.reg, o.Now())
	if obs, ok := g.store.(tokenstore.Observable); ok {
		obs.SetObserver(g.m.observeStore(cfg.Store.Driver))
	}
	if cr, ok := g.store.(tokenstore.CacheReporter); ok {
		registerCache(g.reg, cr)
	}
	g.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gen := g.current.Load()
		gen.inflight.Add(1)
		defer gen.inflight.Add(-1)
		gen.handler.ServeHTTP(w, r)
	})
	g.admin = adminHandler{g}
	return g, nil
}

// build makes a generation of cfg: the directory, the dialect instances,
// the route table and the admin API, every problem listed.
func (g *Gateway) build(cfg *config.Config) (*generation, error) {
	gen := &generation{cfg: cfg}
	instances, problems := g.assemble(cfg, gen)
	if cfg.Server.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Resolve(cfg.Server.TLSCertFile), cfg.Resolve(cfg.Server.TLSKeyFile))
		if err != nil {
			problems = append(problems, "server.tls_cert_file: "+err.Error())
		}
		gen.cert = &cert
	}
	if len(problems) > 0 {
		_ = gen.close()
		return nil, &config.ConfigError{Problems: problems}
	}
	h, err := g.buildHandler(cfg, instances)
	if err != nil {
		_ = gen.close()
		return nil, err
	}
	gen.handler = h
	gen.warnings = append(gen.warnings, cfg.Warnings()...)
	if sql := cfg.Identity.SQL; cfg.Identity.Type == "sql" && sql.UpgradeHashes && !sql.UpgradeBeside && gen.legacyOpen() {
		var open []string
		for name, d := range instances {
			if l, ok := d.(dialects.LegacyWindowed); ok && l.LegacyOpen() {
				open = append(open, "dialects."+name+".legacy")
			}
		}
		sort.Strings(open)
		gen.warnings = append(gen.warnings, "identity.sql.upgrade_hashes: held while a legacy window is open ("+strings.Join(open, ", ")+
			"): a rollback to the legacy service must find every user's digest where it was, so no login rewrites one until legacy.until has passed "+
			"(counted as authgate_password_hash_upgrades_total{result=\"held\"}); to upgrade meanwhile, write the argon2id hash to a column of its own and set upgrade_beside: true")
	}
	gen.admin = g.buildAdmin(cfg, instances, gen.verify)
	return gen, nil
}

// assemble opens cfg's user directory and dialect instances (their
// resources go to gen's closers, their warnings to gen's), listing every
// problem rather than the first.
func (g *Gateway) assemble(cfg *config.Config, gen *generation) (map[string]dialects.Dialect, []string) {
	o := g.o
	slots := cfg.Identity.MaxConcurrentChecks
	if slots == 0 {
		slots = runtime.NumCPU()
	}
	verify := identity.Bounded(o.VerifySecret, slots, cfg.Identity.CheckWait)
	gen.verify = verify
	dir := backend.OpenDirectory(cfg, backend.DirectoryOptions{
		Verify: verify, LookupEnv: o.LookupEnv, Logger: o.Logger,
		Upgraded:     func(result string) { g.m.hashUpgrades.WithLabelValues(result).Inc() },
		HoldUpgrades: gen.legacyOpen,
		State:        g.m.directoryState,
	})
	gen.closers = append(gen.closers, closerFunc(dir.Close))
	gen.warnings = append(gen.warnings, dir.Warnings...)
	users, problems := dir.Users, dir.Problems
	instances := map[string]dialects.Dialect{}
	names := make([]string, 0, len(cfg.Dialects))
	for name := range cfg.Dialects {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		typ, block := cfg.DialectBlock(name)
		f, ok := o.Registry.Lookup(typ)
		if !ok {
			problems = append(problems, fmt.Sprintf("dialects.%s.type: %q is not one of %s", name, typ, strings.Join(o.Registry.Types(), ", ")))
			continue
		}
		d, err := f.New(name, block, dialects.Deps{
			// Guarded: a shadow check's writes are refused.
			Store: tokenstore.Guard{Store: g.store}, Users: users, Now: o.Now,
			Logger: o.Logger.With("dialect", name),
			// A reload builds instances whose metrics already exist: the
			// new instance's replace the old one's.
			Metrics: g.shared, Registerer: replacingRegisterer{prometheus.WrapRegistererWith(prometheus.Labels{"dialect": name}, g.reg)},
			LookupEnv: o.LookupEnv, ConfigDir: cfg.Dir(), StoreKind: storeKind(cfg.Store.Driver),
			VerifySecret: verify,
			Warn:         func(msg string) { gen.warnings = append(gen.warnings, "dialects."+name+"."+msg) },
		})
		if err != nil {
			for line := range strings.SplitSeq(err.Error(), "\n") {
				problems = append(problems, fmt.Sprintf("dialects.%s.%s", name, line))
			}
			continue
		}
		instances[name] = d
		if l, ok := d.(dialects.LegacyWindowed); ok {
			gen.legacyWindows = append(gen.legacyWindows, l)
		}
		if c, ok := d.(io.Closer); ok {
			gen.closers = append(gen.closers, c)
		}
	}
	return instances, problems
}

// replacingRegisterer registers a collector over an existing one of the
// same description (a reloaded dialect's metrics over the old
// instance's), which plain Register refuses. It wraps the registerer that
// adds the dialect label: the existing collector the registry reports is
// the unwrapped one, which only the wrapping registerer can unregister.
type replacingRegisterer struct{ prometheus.Registerer }

// Register implements prometheus.Registerer.
func (r replacingRegisterer) Register(c prometheus.Collector) error {
	err := r.Registerer.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		r.Registerer.Unregister(are.ExistingCollector)
		return r.Registerer.Register(c)
	}
	return err
}

// MustRegister implements prometheus.Registerer.
func (r replacingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// CheckDialects lists the problems of cfg's users file and dialect
// blocks, for check-config on a config whose other blocks failed to load
// (Load returns what it could decode with its ConfigError), so one run
// lists every problem. o.Store is any store (the dialects only hold it).
func CheckDialects(cfg *config.Config, o Options) []string {
	g, err := newGateway(cfg, o)
	if err != nil {
		return []string{err.Error()}
	}
	gen := &generation{cfg: cfg}
	_, problems := g.assemble(cfg, gen)
	_ = gen.close()
	return problems
}

// storeKind is the store's name as wire formats report it.
func storeKind(driver string) string {
	if driver == "redis" {
		return "redis"
	}
	return "local"
}

// Warnings are the running config's values that work but are likely
// mistakes, each starting with its key path; check-config prints them,
// serve logs them.
func (g *Gateway) Warnings() []string { return g.current.Load().warnings }

// Handler is the public HTTP handler: the running config's routes.
func (g *Gateway) Handler() http.Handler { return g.handler }

// AdminHandler serves /metrics, /healthz, /readyz and, with admin tokens
// configured, the admin API under /admin/v1/.
func (g *Gateway) AdminHandler() http.Handler { return g.admin }

// Close stops the dialects' background work and releases the store.
func (g *Gateway) Close() error {
	return errors.Join(g.current.Load().close(), g.store.Close())
}

// adminHandler serves the admin listener from the running config; it is a
// chi.Routes, so its routes can be listed (chi.Walk), as the admin API's
// OpenAPI document is checked against them.
type adminHandler struct{ g *Gateway }

func (a adminHandler) router() chi.Router { return a.g.current.Load().admin }

func (a adminHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.router().ServeHTTP(w, r) }

// Routes implements chi.Routes.
func (a adminHandler) Routes() []chi.Route { return a.router().Routes() }

// Middlewares implements chi.Routes.
func (a adminHandler) Middlewares() chi.Middlewares { return a.router().Middlewares() }

// Match implements chi.Routes.
func (a adminHandler) Match(rctx *chi.Context, method, path string) bool {
	return a.router().Match(rctx, method, path)
}

// Find implements chi.Routes.
func (a adminHandler) Find(rctx *chi.Context, method, path string) string {
	return a.router().Find(rctx, method, path)
}

func (g *Gateway) buildAdmin(cfg *config.Config, instances map[string]dialects.Dialect, verify func(hash, secret string) (bool, error)) chi.Router {
	r := chi.NewRouter()
	if len(cfg.Admin.Tokens) > 0 {
		api := &adminAPI{tokens: cfg.Admin.Tokens, verify: verify, store: g.store, dialects: map[string]bool{},
			now: g.o.Now, log: g.log.With("component", "admin"), calls: g.adminCalls,
			failureLimit: cfg.Admin.FailureLimit, failureWindow: cfg.Admin.FailureWindow}
		api.apps = map[string]dialects.AppAdmin{}
		for name, d := range instances {
			api.dialects[name] = true
			if aa, ok := d.(dialects.AppAdmin); ok {
				api.apps[name] = aa
			}
		}
		api.mount(r)
	}
	r.Handle("/metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{}))
	getOrHead := func(path string, h http.HandlerFunc) {
		r.Get(path, h)
		r.Head(path, h)
	}
	getOrHead("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writePlainJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	getOrHead("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if g.draining.Load() {
			writePlainJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining", "store": g.cfg.Store.Driver})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := g.store.Ping(ctx); err != nil {
			g.log.Warn("readiness: store unreachable", "err", err)
			writePlainJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "store": g.cfg.Store.Driver})
			return
		}
		writePlainJSON(w, http.StatusOK, map[string]string{"status": "ready", "store": g.cfg.Store.Driver})
	})
	return r
}

// Run listens on server.listen and server.admin_listen and serves until
// ctx is done, then shuts down gracefully: /readyz turns 503 at once, the
// public listener keeps serving for server.drain_delay (load balancers
// take the replica out meanwhile), then the listeners close and in-flight
// requests get server.shutdown_timeout to finish.
func (g *Gateway) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", g.cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", g.cfg.Server.Listen, err)
	}
	adminLn, err := net.Listen("tcp", g.cfg.Server.AdminListen)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("gateway: admin listen %s: %w", g.cfg.Server.AdminListen, err)
	}
	return g.Serve(ctx, ln, adminLn)
}

// framingRefused counts and logs a request refused for its framing on
// listener (public or admin); never its bytes.
func (g *Gateway) framingRefused(listener string) func(reason string) {
	return func(reason string) {
		g.m.framingRefused.WithLabelValues(listener, reason).Inc()
		g.log.Warn("malformed HTTP/1.1 request refused; connection closed", "listener", listener, "reason", reason)
	}
}

// Serve is Run on listeners the caller opened.
func (g *Gateway) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	s := g.cfg.Server
	public := &http.Server{
		Handler: g.handler, ReadHeaderTimeout: s.ReadHeaderTimeout, IdleTimeout: s.IdleTimeout,
		MaxHeaderBytes: s.MaxHeaderBytes, ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: s.HTTP2MaxConcurrentStreams},
	}
	admin := &http.Server{Handler: g.admin, ReadHeaderTimeout: s.ReadHeaderTimeout}
	errc := make(chan error, 2)
	// Ambiguous HTTP/1.1 framing is refused before Go's parser reads it
	// (internal/framing), on every listener; with TLS the guard terminates
	// TLS itself and reads HTTP/1.1 on the plaintext (HTTP/2 connections
	// go to the server untouched), and the request still knows its TLS
	// state (tlsState).
	adminLn = framing.Listener(adminLn, s.MaxHeaderBytes+4096, g.framingRefused("admin"))
	if s.TLSCertFile != "" {
		// The running config's certificate: a reload brings a renewed one.
		public.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"},
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return g.current.Load().cert, nil
			}}
		public.ConnContext = withTLSState
		ln = framing.TLSListener(ln, public.TLSConfig, s.ReadHeaderTimeout, s.MaxHeaderBytes+4096, g.framingRefused("public"))
		go func() { errc <- public.Serve(ln) }()
	} else {
		ln = framing.Listener(ln, s.MaxHeaderBytes+4096, g.framingRefused("public"))
		go func() { errc <- public.Serve(ln) }()
	}
	go func() { errc <- admin.Serve(adminLn) }()
	g.log.Info("authgate listening", "listen", ln.Addr().String(), "admin_listen", adminLn.Addr().String(), "store", g.cfg.Store.Driver)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	g.draining.Store(true)
	if serveErr == nil && s.DrainDelay > 0 {
		g.log.Info("draining: readiness answers 503, still serving until load balancers stop sending", "drain_delay", s.DrainDelay.String())
		drain := time.NewTimer(s.DrainDelay)
		select {
		case <-drain.C:
		case serveErr = <-errc:
			drain.Stop()
		}
	}
	g.log.Info("shutting down; finishing in-flight requests", "timeout", s.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	err := errors.Join(public.Shutdown(sctx), admin.Shutdown(sctx))
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(serveErr, err)
	}
	return err
}
