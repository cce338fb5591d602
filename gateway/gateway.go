// Package gateway assembles authgate: it loads the configuration, builds
// the identity directory and the dialect instances on the token store it
// is handed, and serves the route table (dialect auth endpoints, then
// authenticated reverse-proxy routes) with the admin listener beside it.
//
// The concrete stores are opened outside (internal/openstore, called by
// cmd/gateway), so this package depends on the tokenstore interface only
// and tests can hand it a store that fails on purpose.
//
// Files: config.go and validate.go (loading and checking the config),
// handler.go (the router and dialect endpoints), routes.go (the route
// table), authenticate.go (which of a route's dialects decides),
// forward.go (what reaches the upstream), upstream_errors.go, middleware.go
// and metrics.go.
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
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/identity"
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
	// the caller (internal/openstore); required. The gateway owns it from
	// here on: Close (and a failing New) closes it.
	Store tokenstore.Store
}

// Gateway is a built gateway, ready to serve.
type Gateway struct {
	// closers are dialects and directories holding resources (file
	// watchers, database pools).
	closers []io.Closer
	cfg     *Config
	log     *slog.Logger
	store   tokenstore.Store
	reg     *prometheus.Registry
	handler http.Handler
	admin   http.Handler
	// shadow checks the credentials of shadow routes on the side.
	shadow *shadow
	// draining is set from SIGTERM on: /readyz answers 503.
	draining atomic.Bool
	// warnings are the config's likely mistakes, each naming its key.
	warnings []string
	// now and verify are the clock and the (bounded) secret check the
	// dialects were given, which the admin API uses too.
	now    func() time.Time
	verify func(hash, secret string) (bool, error)
}

// New builds a gateway from a loaded config. Problems with dialect blocks
// (a missing secret, a bad TTL) come back together in a *ConfigError.
func New(cfg *Config, o Options) (*Gateway, error) {
	g, m, instances, problems, err := assemble(cfg, o)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		_ = g.Close()
		return nil, &ConfigError{Problems: problems}
	}

	h, err := g.buildHandler(instances, m)
	if err != nil {
		_ = g.Close()
		return nil, err
	}
	g.handler = h
	g.admin = g.buildAdmin(instances)
	return g, nil
}

// assemble builds what New needs before the route table: the store's
// observer, the users file and the dialect instances, with every problem
// of theirs listed rather than the first.
func assemble(cfg *Config, o Options) (*Gateway, *metrics, map[string]dialects.Dialect, []string, error) {
	if o.Registry == nil {
		return nil, nil, nil, nil, errors.New("gateway: no dialect registry")
	}
	if o.Store == nil {
		return nil, nil, nil, nil, errors.New("gateway: no token store")
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
	slots := cfg.Identity.MaxConcurrentChecks
	if slots == 0 {
		slots = runtime.NumCPU()
	}
	o.VerifySecret = identity.Bounded(o.VerifySecret, slots, cfg.Identity.CheckWait)
	g := &Gateway{cfg: cfg, log: o.Logger, reg: prometheus.NewRegistry(), now: o.Now, verify: o.VerifySecret}
	m := newMetrics(g.reg, cfg.longestRouteTimeout())
	g.shadow = newShadow(g.reg, o.Logger)

	var problems []string
	g.store = o.Store
	if obs, ok := g.store.(tokenstore.Observable); ok {
		obs.SetObserver(m.observeStore(cfg.Store.Driver))
	}
	if cr, ok := g.store.(tokenstore.CacheReporter); ok {
		registerCache(g.reg, cr)
	}

	users, dirProblems := g.openDirectory(o, m)
	problems = append(problems, dirProblems...)

	shared := dialects.NewMetrics(g.reg)
	instances := map[string]dialects.Dialect{}
	names := make([]string, 0, len(cfg.Dialects))
	for name := range cfg.Dialects {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		typ, block := cfg.dialectBlock(name)
		f, ok := o.Registry.Lookup(typ)
		if !ok {
			problems = append(problems, fmt.Sprintf("dialects.%s.type: %q is not one of %s", name, typ, strings.Join(o.Registry.Types(), ", ")))
			continue
		}
		d, err := f.New(name, block, dialects.Deps{
			// Guarded: a shadow check's writes are refused.
			Store: tokenstore.Guard{Store: g.store}, Users: users, Now: o.Now,
			Logger:  o.Logger.With("dialect", name),
			Metrics: shared, Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"dialect": name}, g.reg),
			LookupEnv: o.LookupEnv, ConfigDir: cfg.dir, StoreKind: storeKind(cfg.Store.Driver),
			VerifySecret: o.VerifySecret,
			Warn:         func(msg string) { g.warnings = append(g.warnings, "dialects."+name+"."+msg) },
		})
		if err != nil {
			for line := range strings.SplitSeq(err.Error(), "\n") {
				problems = append(problems, fmt.Sprintf("dialects.%s.%s", name, line))
			}
			continue
		}
		instances[name] = d
		if c, ok := d.(io.Closer); ok {
			g.closers = append(g.closers, c)
		}
	}
	return g, m, instances, problems, nil
}

// CheckDialects lists the problems of cfg's users file and dialect
// blocks, for check-config on a config whose other blocks failed to load
// (Load returns what it could decode with its ConfigError), so one run
// lists every problem. o.Store is any store (the dialects only hold it).
func CheckDialects(cfg *Config, o Options) []string {
	g, _, _, problems, err := assemble(cfg, o)
	if err != nil {
		return []string{err.Error()}
	}
	_ = g.Close()
	return problems
}

// storeKind is the store's name as wire formats report it.
func storeKind(driver string) string {
	if driver == "redis" {
		return "redis"
	}
	return "local"
}

// Warnings are the config's values that work but are likely mistakes,
// each starting with its key path; check-config prints them, serve logs
// them.
func (g *Gateway) Warnings() []string { return g.warnings }

// Handler is the public HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// AdminHandler serves /metrics, /healthz, /readyz and, with admin tokens
// configured, the admin API under /admin/v1/.
func (g *Gateway) AdminHandler() http.Handler { return g.admin }

// Close stops the dialects' background work and releases the store.
func (g *Gateway) Close() error {
	var errs []error
	for _, c := range g.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(append(errs, g.store.Close())...)
}

func (g *Gateway) buildAdmin(instances map[string]dialects.Dialect) http.Handler {
	r := chi.NewRouter()
	if len(g.cfg.Admin.Tokens) > 0 {
		api := &adminAPI{tokens: g.cfg.Admin.Tokens, verify: g.verify, store: g.store, dialects: map[string]bool{},
			now: g.now, log: g.log.With("component", "admin"), calls: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "authgate_admin_requests_total",
				Help: "Admin API calls by action and result (ok, not_found, store_unavailable, error; action any, result unauthorized: no valid token).",
			}, []string{"action", "result"})}
		for name := range instances {
			api.dialects[name] = true
		}
		g.reg.MustRegister(api.calls)
		api.calls.WithLabelValues("any", "unauthorized")
		for _, a := range adminActions {
			api.calls.WithLabelValues(a, "ok")
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

// Serve is Run on listeners the caller opened.
func (g *Gateway) Serve(ctx context.Context, ln, adminLn net.Listener) error {
	s := g.cfg.Server
	public := &http.Server{
		Handler: g.handler, ReadHeaderTimeout: s.ReadHeaderTimeout, IdleTimeout: s.IdleTimeout,
		MaxHeaderBytes: s.MaxHeaderBytes, ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	admin := &http.Server{Handler: g.admin, ReadHeaderTimeout: s.ReadHeaderTimeout}
	errc := make(chan error, 2)
	if s.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(g.cfg.resolve(s.TLSCertFile), g.cfg.resolve(s.TLSKeyFile))
		if err != nil {
			_ = ln.Close()
			_ = adminLn.Close()
			return fmt.Errorf("gateway: tls: %w", err)
		}
		public.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		go func() { errc <- public.ServeTLS(ln, "", "") }()
	} else {
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
