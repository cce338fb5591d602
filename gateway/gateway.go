// Package gateway is the authgate process around the running generation:
// it holds what outlives a config — the token store it is handed, the
// metrics registry, the reload metrics, the listeners — builds the first
// generation (package pipeline) from a loaded configuration (package
// config), serves it on the public and admin listeners behind the framing
// guard, swaps in the next one on Reload (refusing the keys that need a
// restart) or when the config watch sees a change, retires the replaced
// one once no request is left on it, and drains on shutdown.
//
// The concrete stores are opened outside (backend.OpenStore, called by
// cmd/gateway), so this package depends on the tokenstore interface only
// and tests can hand it a store that fails on purpose.
//
// Files: gateway.go (New, Options, the handlers that follow the running
// generation), serve.go (the listeners, Serve and drain), reload.go
// (reloads, the config watch, retiring a generation).
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
	"github.com/authgate/authgate/internal/confdecode"
	"github.com/authgate/authgate/pipeline"
	"github.com/authgate/authgate/tracing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

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

// Gateway is a built gateway, ready to serve: the process around the
// running generation (package pipeline).
type Gateway struct {
	// cfg is the config the gateway started with: the listeners, the
	// store and the server's timeouts come from it and cannot change live
	// (Reload refuses a config that changes them).
	cfg   *config.Config
	o     Options
	log   *slog.Logger
	store tokenstore.Store
	reg   *prometheus.Registry
	// b builds generations and holds what outlives them: the metrics,
	// shadow mode's bound and series, the admin API's counter.
	b       *pipeline.Builder
	reloads *reloadMetrics
	// current is what serves: the routes, dialect instances, directory
	// and admin API of the config last loaded; Reload swaps it.
	current  atomic.Pointer[pipeline.Generation]
	reloadMu sync.Mutex
	handler  http.Handler
	admin    http.Handler
	// draining is set from SIGTERM on: /readyz answers 503.
	draining atomic.Bool
	// tracing exports the spans (no-op when off); closed with the gateway.
	tracing *tracing.Tracing
}

// New builds a gateway from a loaded config. Problems with dialect blocks
// (a missing secret, a bad TTL) come back together in a *ConfigError.
func New(cfg *config.Config, o Options) (*Gateway, error) {
	g, err := newGateway(cfg, o)
	if err != nil {
		return nil, err
	}
	gen, err := g.b.Build(cfg)
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
	o.Logger = pipeline.WithRequestIDs(o.Logger)
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.VerifySecret == nil {
		o.VerifySecret = identity.VerifySecret
	}
	tr, err := tracing.Open(cfg.Tracing)
	if err != nil {
		return nil, &config.ConfigError{Problems: confdecode.Under("tracing.", err)}
	}
	g := &Gateway{cfg: cfg, o: o, log: o.Logger, reg: prometheus.NewRegistry(), store: o.Store, tracing: tr}
	g.b = pipeline.NewBuilder(cfg, g.store, g.reg, pipeline.Deps{
		Registry: o.Registry, Now: o.Now, Logger: o.Logger, LookupEnv: o.LookupEnv, VerifySecret: o.VerifySecret, Tracing: tr,
	}, &g.draining)
	g.reloads = newReloadMetrics(g.reg, o.Now())
	g.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gen := g.acquire()
		defer gen.Leave()
		gen.Handler().ServeHTTP(w, r)
	})
	g.admin = adminHandler{g}
	return g, nil
}

// CheckDialects lists the problems of cfg's users file and dialect
// blocks, for check-config on a config whose other blocks failed to load
// (Load returns what it could decode with its ConfigError), so one run
// lists every problem. o.Store is any store (the dialects only hold it).
func CheckDialects(cfg *config.Config, o Options) []string {
	// The tracing block's problems are listed beside the dialects', which
	// are checked without tracing (nothing of it is started here).
	var problems []string
	if err := tracing.Validate(cfg.Tracing); err != nil {
		problems = confdecode.Under("tracing.", err)
	}
	untraced := *cfg
	untraced.Tracing.Endpoint = ""
	g, err := newGateway(&untraced, o)
	if err != nil {
		return append(problems, err.Error())
	}
	return append(problems, g.b.Check(&untraced)...)
}

// Warnings are the running config's values that work but are likely
// mistakes, each starting with its key path; check-config prints them,
// serve logs them.
func (g *Gateway) Warnings() []string { return g.current.Load().Warnings() }

// Handler is the public HTTP handler: the running config's routes.
func (g *Gateway) Handler() http.Handler { return g.handler }

// AdminHandler serves /metrics, /healthz, /readyz and, with admin tokens
// configured, the admin API under /admin/v1/.
func (g *Gateway) AdminHandler() http.Handler { return g.admin }

// Close stops the dialects' background work and releases the store.
func (g *Gateway) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(g.current.Load().Close(), g.store.Close(), g.tracing.Close(ctx))
}

// adminHandler serves the admin listener from the running config; it is a
// chi.Routes, so its routes can be listed (chi.Walk), as the admin API's
// OpenAPI document is checked against them.
type adminHandler struct{ g *Gateway }

func (a adminHandler) router() chi.Router { return a.g.current.Load().Admin() }

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
