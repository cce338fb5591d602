// Package dialects defines what a token dialect is to the gateway: a unit
// that serves its own auth endpoints, turns a request's credentials into an
// Identity, and writes every error in its own wire envelope.
//
// A dialect type is a Factory in a Registry, in the manner of Caddy's
// modules: the gateway looks the type up by the config block's `type`,
// constructs an instance with the block and its Deps, and mounts it. The
// dialect never reaches Redis or an upstream itself; it gets the store
// roles it uses and a user Directory through Deps.
//
// The package also holds what the dialects share: errors and their
// classes (errors.go), request and response I/O (httpio.go), config
// decoding (config.go), rate limits (limits.go), refresh rotation
// (refresh.go), store key names (keys.go).
package dialects

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/tokenstore"
)

// Identity is who a request acts as, once a dialect has accepted its
// credentials. The gateway turns it into the upstream's identity headers.
type Identity struct {
	// Dialect is the name of the dialect instance that accepted the request.
	Dialect string
	// Subject is the user (or client) id.
	Subject string
	// Company is the tenant the request acts for, if any.
	Company string
	// SessionID is the store session behind the credentials.
	SessionID string
	// Attrs holds further facts under header-like names ("mobile",
	// "device"), sent upstream as X-Auth-<Name> unless a route renames them.
	Attrs map[string]string
}

// Endpoint is an auth endpoint a dialect serves itself (login, refresh).
// The gateway answers other methods on Path with ErrMethodNotAllowed in
// the dialect's envelope.
type Endpoint struct {
	Method string
	Path   string
	// Kind is the audit event of the endpoint (KindLogin, KindRefresh,
	// KindLogout, or another word); the gateway counts logins by result
	// and writes an audit line for every request of an endpoint with a
	// Kind. Empty for endpoints that are not audited.
	Kind string
	// Prefix also serves every path below Path (a path parameter the
	// handler reads from r.URL.Path itself).
	Prefix bool
	// Handler serves the endpoint; its error is answered in the
	// dialect's envelope by WriteError.
	Handler HandlerFunc
}

// Endpoint kinds the gateway treats specially (logins are counted).
const (
	KindLogin   = "login"
	KindRefresh = "refresh"
	KindLogout  = "logout"
)

// Dialect is one configured instance of a dialect type.
type Dialect interface {
	// Endpoints lists the auth endpoints the dialect serves.
	Endpoints() []Endpoint
	// Authenticate reads the request's credentials. Errors are the
	// dialect's own and are answered through its Answer; one that matches
	// ErrNotMine (see NotMine) says the request carries no credential of
	// this dialect's, and the gateway tries the route's next dialect.
	Authenticate(r *http.Request) (Identity, error)
	// Check decides r as Authenticate would and leaves no trace: no
	// token rotated, no nonce spent, no attempt, session or legacy token
	// counted. Shadow routes call it beside the legacy service, whose
	// own answer is the one that counts; the store the gateway hands
	// dialects also refuses every write under a shadow check
	// (tokenstore.ReadOnly), and the contract tests that Check never
	// tries one.
	Check(r *http.Request) (Identity, error)
	// Answerer renders errors in the dialect's envelope, for WriteError.
	Answerer
	// CredentialHeaders names the request headers that carry this
	// dialect's tokens; the gateway never forwards them upstream.
	CredentialHeaders() []string
}

// HeaderSpeller is implemented by dialects whose upstreams expect some
// request headers in their exact legacy spelling (XownerId): Go's server
// canonicalises names it reads (Xownerid), so the gateway restores these
// spellings on the way out. Header names are case-insensitive in HTTP;
// this is for backends that forgot.
type HeaderSpeller interface {
	HeaderSpellings() []string
}

// Metrics are the counters every dialect shares; the gateway registers them.
type Metrics struct {
	// TokensIssued counts token pairs issued, by dialect and reason
	// (login, refresh, change_company, ...).
	TokensIssued *prometheus.CounterVec
	// Refreshes counts refresh attempts by dialect and result.
	Refreshes *prometheus.CounterVec
	// LegacyTokens counts the legacy service's tokens presented, by
	// dialect, kind (access, refresh) and result (accepted, exchanged,
	// refused, retired, expired).
	LegacyTokens *prometheus.CounterVec
}

// Legacy adds n to the count of legacy tokens of kind that ended in
// result (n 0 makes the series exist).
func (m *Metrics) Legacy(dialect, kind, result string, n float64) {
	if m != nil {
		m.LegacyTokens.WithLabelValues(dialect, kind, result).Add(n)
	}
}

// Issued counts a token pair issued by dialect for reason; a nil Metrics
// counts nothing.
func (m *Metrics) Issued(dialect, reason string) {
	if m != nil {
		m.TokensIssued.WithLabelValues(dialect, reason).Inc()
	}
}

// Refreshed counts a refresh-token presentation by its result.
func (m *Metrics) Refreshed(dialect, result string) {
	if m != nil {
		m.Refreshes.WithLabelValues(dialect, result).Inc()
	}
}

// NewMetrics creates the shared dialect counters and registers them.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		TokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_tokens_issued_total",
			Help: "Token pairs issued, by dialect instance and reason.",
		}, []string{"dialect", "reason"}),
		Refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_token_refreshes_total",
			Help: "Refresh-token presentations, by dialect instance and result.",
		}, []string{"dialect", "result"}),
		LegacyTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_legacy_tokens_total",
			Help: "Tokens of the legacy service presented, by dialect instance, kind (access, refresh) and result (accepted, exchanged, refused, retired, expired, wrong_kind, undecided).",
		}, []string{"dialect", "kind", "result"}),
	}
	reg.MustRegister(m.TokensIssued, m.Refreshes, m.LegacyTokens)
	return m
}

// Deps is what the gateway hands a dialect at construction.
type Deps struct {
	// Store keeps sessions, refresh hashes, codes, nonces and counters;
	// each dialect keeps only the roles it uses.
	Store tokenstore.Store
	// Users checks accounts and passwords (the identity block's
	// directory); nil when none is set. Each dialect narrows it to what it
	// uses.
	Users identity.Directory
	// Now is the clock; tests inject one.
	Now func() time.Time
	// Logger is the dialect's logger, already tagged with its name.
	Logger *slog.Logger
	// Metrics are the shared counters.
	Metrics *Metrics
	// Registerer takes metrics of the dialect's own.
	Registerer prometheus.Registerer
	// LookupEnv reads secrets named by *_env keys.
	LookupEnv func(string) (string, bool)
	// ConfigDir resolves relative *_file paths.
	ConfigDir string
	// StoreKind names the store for wire formats that report it
	// ("redis" or "local").
	StoreKind string
	// VerifySecret checks a secret against a stored argon2id/bcrypt hash
	// (identity.VerifySecret unless a test counts the calls).
	VerifySecret identity.Verifier
	// Warn reports a value that works but is likely a mistake, as
	// "key: why" relative to the block; check-config prints it and serve
	// logs it. Nil drops warnings.
	Warn func(msg string)
}

// Warnf reports a config warning through Warn, if there is one.
func (d Deps) Warnf(format string, a ...any) {
	if d.Warn != nil {
		d.Warn(fmt.Sprintf(format, a...))
	}
}

// WarnGraceOutlivesAccess is the warning of a rotating dialect whose
// refresh_grace is not shorter than its access_ttl.
func (d Deps) WarnGraceOutlivesAccess(grace, access time.Duration) {
	if grace > 0 && grace >= access {
		d.Warnf("refresh_grace: %v is not shorter than access_ttl %v: a replay late in the grace window finds the successor's access token expired and gets a newly signed one; a grace of a few seconds is what lost responses need", grace, access)
	}
}

// Factory constructs instances of one dialect type.
type Factory struct {
	// Type is the name used in config (`type: mmm`).
	Type string
	// New builds an instance named name from its config block (the block
	// without `type`). Config errors name their key relative to the block.
	New func(name string, block map[string]any, deps Deps) (Dialect, error)
	// Defaults returns the block's config struct at its defaults (the
	// value New decodes the block over): the generated configuration
	// reference reads its keys, types, defaults and doc comments.
	Defaults func() any
}

// Registry maps type names to factories.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry builds a registry of the given factories.
func NewRegistry(fs ...Factory) *Registry {
	r := &Registry{factories: map[string]Factory{}}
	for _, f := range fs {
		if _, dup := r.factories[f.Type]; dup {
			panic("dialects: type registered twice: " + f.Type)
		}
		r.factories[f.Type] = f
	}
	return r
}

// Lookup returns the factory of a type.
func (r *Registry) Lookup(typ string) (Factory, bool) {
	f, ok := r.factories[typ]
	return f, ok
}

// Types lists the registered type names, sorted.
func (r *Registry) Types() []string {
	out := make([]string, 0, len(r.factories))
	for t := range r.factories {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

type ctxKey int

const clientIPKey ctxKey = iota

// WithClientIP records the client address the gateway worked out (from
// the connection, or X-Forwarded-For of a trusted proxy).
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientIPKey, ip)
}

// ClientIP is the client address for rate limits and logs.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey).(string); ok && ip != "" {
		return ip
	}
	return r.RemoteAddr
}
