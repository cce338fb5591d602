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
// Files: gateway.go (New, the admin router), generation.go (what one
// config builds), serve.go (the listeners, Serve and drain),
// handler.go (the router and dialect endpoints), routes.go (the route
// table), authenticate.go (which of a route's dialects decides),
// forward.go (what reaches the upstream), shadow.go (shadow routes),
// admin.go (the admin API), reload.go (reloads and the config watch),
// upstream_errors.go, middleware.go and metrics.go.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/config"

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
		gen := g.acquire()
		defer gen.inflight.Add(-1)
		gen.handler.ServeHTTP(w, r)
	})
	g.admin = adminHandler{g}
	return g, nil
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
		api.dialectCalls = map[string]map[string]dialects.AdminRoute{}
		for name, d := range instances {
			api.dialects[name] = true
			if ar, ok := d.(dialects.AdminRouter); ok {
				api.addDialectCalls(name, ar.AdminRoutes())
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
