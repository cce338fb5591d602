package pipeline

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/backend"
	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/idtoken"
	"github.com/authgate/authgate/internal/confdecode"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/tokenstore"
)

// Generation is everything one config builds: requests that started on
// it finish on it, and it is closed once they have after a reload.
type Generation struct {
	cfg      *config.Config
	handler  http.Handler
	admin    chi.Router
	cert     *tls.Certificate
	closers  []io.Closer
	warnings []string
	// inflight counts the requests serving from this Generation (acquire);
	// it turns negative (retired) once the Generation is replaced and
	// drained.
	inflight atomic.Int64
	// legacyWindows are the dialect instances that may take a legacy
	// service's tokens; set once built, before the Generation serves.
	legacyWindows []dialects.LegacyWindowed
	// verify checks secrets against slow hashes, at most
	// identity.max_concurrent_checks at once: logins, app secrets and
	// admin tokens of the old hash form share the bound.
	verify identity.Verifier
}

// closerFunc adapts a close function to io.Closer.
type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// legacyOpen reports whether a dialect instance of gen still takes a
// legacy service's tokens: a rollback to it is possible, so the user
// directory holds its password-hash upgrades.
func (gen *Generation) legacyOpen() bool {
	for _, l := range gen.legacyWindows {
		if l.LegacyOpen() {
			return true
		}
	}
	return false
}

// Close releases what the generation opened (a database pool, the
// dialects' background work).
func (gen *Generation) Close() error {
	var errs []error
	for _, c := range gen.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Build makes a Generation of cfg: the directory, the dialect instances,
// the route table and the admin API, every problem listed.
func (g *Builder) Build(cfg *config.Config) (*Generation, error) {
	gen := &Generation{cfg: cfg}
	instances, problems := g.assemble(cfg, gen)
	if cfg.Server.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Resolve(cfg.Server.TLSCertFile), cfg.Resolve(cfg.Server.TLSKeyFile))
		if err != nil {
			problems = append(problems, "server.tls_cert_file: "+err.Error())
		}
		gen.cert = &cert
	}
	signer, err := idtoken.Open(cfg.IdentityToken, cfg.Dir(), g.o.LookupEnv, g.o.Now)
	problems = append(problems, confdecode.Under("identity_token.", err)...)
	if len(problems) > 0 {
		_ = gen.Close()
		return nil, &config.ConfigError{Problems: problems}
	}
	h, err := g.buildHandler(cfg, instances, signer)
	if err != nil {
		_ = gen.Close()
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
	gen.admin = g.buildAdmin(cfg, instances, gen.verify, signer)
	return gen, nil
}

// assemble opens cfg's user directory and dialect instances (their
// resources go to gen's closers, their warnings to gen's), listing every
// problem rather than the first.
func (g *Builder) assemble(cfg *config.Config, gen *Generation) (map[string]dialects.Dialect, []string) {
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
			// new instance takes them over (dialects.Register).
			Metrics: g.shared, Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"dialect": name}, g.reg),
			LookupEnv: o.LookupEnv, ConfigDir: cfg.Dir(), StoreKind: storeKind(cfg.Store.Driver),
			VerifySecret: verify,
			Warn:         func(msg string) { gen.warnings = append(gen.warnings, "dialects."+name+"."+msg) },
		})
		if err != nil {
			problems = append(problems, confdecode.Under("dialects."+name+".", err)...)
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

// storeKind is the store's name as wire formats report it.
func storeKind(driver string) string {
	if driver == "redis" {
		return "redis"
	}
	return "local"
}

// retired is added to a generation's in-flight count when it is retired:
// from then on the count is negative, and a request that loaded the
// generation just before the swap sees that and takes the new one.
const retired = -1 << 40

// Enter counts a request in, and reports false when the generation has
// been retired meanwhile (the caller takes the running one instead). A
// request that entered serves from the generation to its end, then Leaves.
func (gen *Generation) Enter() bool {
	if gen.inflight.Add(1) > 0 {
		return true
	}
	gen.inflight.Add(-1)
	return false
}

// Leave counts a request out.
func (gen *Generation) Leave() { gen.inflight.Add(-1) }

// Retire waits until no request is in flight and marks the generation
// retired at that very moment, so none can enter after the check and use
// what Close releases; past deadline it is retired anyway. The caller has
// swapped the generation out before.
func (gen *Generation) Retire(deadline time.Time) {
	for !gen.inflight.CompareAndSwap(0, retired) {
		if time.Now().After(deadline) {
			gen.inflight.Add(retired)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Config is the config the generation was built from.
func (gen *Generation) Config() *config.Config { return gen.cfg }

// Handler serves the generation's routes.
func (gen *Generation) Handler() http.Handler { return gen.handler }

// Admin is the generation's admin router.
func (gen *Generation) Admin() chi.Router { return gen.admin }

// Certificate is the public listener's certificate of the generation's
// config (nil without TLS).
func (gen *Generation) Certificate() *tls.Certificate { return gen.cert }

// Warnings are the generation's config values that work but are likely
// mistakes, each starting with its key path.
func (gen *Generation) Warnings() []string { return gen.warnings }
