// Package pipeline is one generation of authgate — what one config
// builds: the user directory and the dialect instances on the token store
// (package backend opens both), the route table, the admin router — and
// the request pipeline through it: routing, the deciding dialect,
// forwarding with identity headers, shadow checks, the access log and the
// metrics. Package gateway is the process around it: it keeps what
// outlives a generation (the store, the metrics registry, the listeners),
// swaps generations on reload and drains on shutdown.
//
// Files: builder.go (what outlives generations), generation.go (what one
// config builds, and its lifecycle), handler.go (the router and dialect
// endpoints), routes.go (the route table), authenticate.go (which of a
// route's dialects decides), forward.go (what reaches the upstream),
// shadow.go (shadow routes), admin.go (the admin API and the admin
// listener's router), upstream_errors.go, middleware.go and metrics.go.
package pipeline

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/tokenstore"
	"github.com/authgate/authgate/tracing"
)

// Deps are what building a generation needs that does not come from
// config; the gateway fills in their defaults.
type Deps struct {
	// Registry holds the dialect types.
	Registry *dialects.Registry
	// Now is the clock.
	Now func() time.Time
	// Logger receives the access log and events.
	Logger *slog.Logger
	// LookupEnv reads *_env secrets.
	LookupEnv func(string) (string, bool)
	// VerifySecret checks passwords and app secrets against their hashes.
	VerifySecret func(hash, secret string) (bool, error)
	// Tracing records and exports spans (a no-op one when off).
	Tracing *tracing.Tracing
}

// Builder builds generations and holds what they share and outlive: the
// store, the metrics and their registry, shadow mode's bound and series,
// the admin API's counter, whether the process is draining.
type Builder struct {
	store       tokenstore.Store
	o           Deps
	log         *slog.Logger
	reg         *prometheus.Registry
	m           *metrics
	shared      *dialects.Metrics
	shadow      *shadow
	adminCalls  *prometheus.CounterVec
	draining    *atomic.Bool
	storeDriver string
}

// NewBuilder sets up what outlives generations on reg for the config the
// process started with (its store driver and longest route timeout size
// the series): the metrics, the store's observer. draining is read by
// /readyz.
func NewBuilder(cfg *config.Config, store tokenstore.Store, reg *prometheus.Registry, d Deps, draining *atomic.Bool) *Builder {
	b := &Builder{store: store, o: d, log: d.Logger, reg: reg, draining: draining, storeDriver: cfg.Store.Driver}
	b.m = newMetrics(reg, cfg.LongestRouteTimeout())
	b.shadow = newShadow(reg, d.Logger)
	b.shared = dialects.NewMetrics(reg)
	b.adminCalls = newAdminCalls(reg)
	if obs, ok := store.(tokenstore.Observable); ok {
		obs.SetObserver(b.m.observeStore(cfg.Store.Driver))
	}
	if cr, ok := store.(tokenstore.CacheReporter); ok {
		registerCache(reg, cr)
	}
	return b
}

// Check lists the problems of cfg's users file and dialect blocks without
// serving them, for check-config on a config whose other blocks failed to
// load, so one run lists every problem.
func (g *Builder) Check(cfg *config.Config) []string {
	gen := &Generation{cfg: cfg}
	_, problems := g.assemble(cfg, gen)
	_ = gen.Close()
	return problems
}

// FramingRefused counts and logs a request refused for its framing on
// listener (public or admin); never its bytes.
func (g *Builder) FramingRefused(listener string) func(reason string) {
	return func(reason string) {
		g.m.framingRefused.WithLabelValues(listener, reason).Inc()
		g.log.Warn("malformed HTTP/1.1 request refused; connection closed", "listener", listener, "reason", reason)
	}
}

// WithRequestIDs is l whose records carry the request id of the request
// they are logged for.
func WithRequestIDs(l *slog.Logger) *slog.Logger { return slog.New(requestIDHandler{l.Handler()}) }
