package config

import (
	"time"

	"github.com/authgate/authgate/authz"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/identity/httpdir"
	"github.com/authgate/authgate/identity/sqldir"
	"github.com/authgate/authgate/idtoken"
)

// Server is the `server` block.
type Server struct {
	// Listen is the public listener; AdminListen serves /metrics,
	// /healthz and /readyz and should not be exposed publicly.
	Listen      string `koanf:"listen" reload:"restart"`
	AdminListen string `koanf:"admin_listen" reload:"restart"`
	// TrustedProxies are CIDRs (or single IPs) of load balancers whose
	// X-Forwarded-For and X-Forwarded-Proto are believed.
	TrustedProxies []string `koanf:"trusted_proxies"`
	// ReadHeaderTimeout is how long a request's head may take to arrive
	// (slowloris).
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout" reload:"restart"`
	// EndpointReadTimeout bounds reading a dialect endpoint's request body
	// (a login's credentials are a few hundred bytes): a client that
	// trickles it is answered as a bad request, in the dialect's envelope.
	EndpointReadTimeout time.Duration `koanf:"endpoint_read_timeout"`
	// IdleTimeout closes a keep-alive connection idle this long.
	IdleTimeout time.Duration `koanf:"idle_timeout" reload:"restart"`
	// HTTP2MaxConcurrentStreams bounds the streams one HTTP/2 client may
	// have open (TLS listener); Go's server also bounds streams reset
	// before their handler ran (rapid reset, CVE-2023-44487) by it.
	HTTP2MaxConcurrentStreams int `koanf:"http2_max_concurrent_streams" reload:"restart"`
	// ShutdownTimeout is how long in-flight requests get to finish after
	// the drain delay, before the process exits.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout" reload:"restart"`
	// DrainDelay is how long, after SIGTERM, /readyz answers 503 while the
	// public listener still serves, so load balancers stop sending before
	// the listener closes; then in-flight requests get ShutdownTimeout.
	DrainDelay time.Duration `koanf:"drain_delay" reload:"restart"`
	// MaxHeaderBytes bounds a request's head (request line and headers);
	// larger ones are answered 431.
	MaxHeaderBytes int `koanf:"max_header_bytes" reload:"restart"`
	// TLSCertFile and TLSKeyFile, both set, make the public listener
	// speak HTTPS (TLS 1.2+, HTTP/2); relative to the config file.
	TLSCertFile string `koanf:"tls_cert_file" reload:"onoff"`
	TLSKeyFile  string `koanf:"tls_key_file"`
	// ConfigWatchInterval, when set, reloads the config when it or a file
	// it names changes, checked this often; SIGHUP reloads in any case.
	ConfigWatchInterval time.Duration `koanf:"config_watch_interval" reload:"restart"`
}

// Store is the `store` block.
type Store struct {
	// Driver is "memory" (one process) or "redis" (shared by replicas).
	Driver string `koanf:"driver"`
	Redis  Redis  `koanf:"redis"`
	Cache  Cache  `koanf:"cache"`
}

// Cache is `store.cache`: each Redis-backed replica's cache of the
// sessions it saw live, kept coherent by invalidations over Redis pub/sub.
type Cache struct {
	// MaxAge is the longest a cached session is trusted without asking
	// Redis (the bound on staleness should an invalidation be lost); 0
	// turns the cache off.
	MaxAge time.Duration `koanf:"max_age"`
	// MaxEntries bounds the sessions cached per replica.
	MaxEntries int `koanf:"max_entries"`
}

// Redis is `store.redis`: one address is standalone, master_name
// selects Sentinel, several addresses without it are a Cluster.
type Redis struct {
	// Addrs are the Redis addresses: one is a standalone server, several
	// are a Cluster's seeds, or, with MasterName, the Sentinels'.
	Addrs []string `koanf:"addrs"`
	// MasterName is the Sentinel master's name; set, Addrs are Sentinels.
	MasterName string `koanf:"master_name"`
	// Username is the Redis ACL user; Password, PasswordEnv and
	// PasswordFile its password, inline, from the environment or a file
	// (at most one).
	Username     string `koanf:"username"`
	Password     string `koanf:"password"`
	PasswordEnv  string `koanf:"password_env"`
	PasswordFile string `koanf:"password_file"`
	// DB is the database number (standalone and Sentinel).
	DB int `koanf:"db"`
	// TLS speaks TLS 1.2+ to Redis; TLSServerName, when set, is the name
	// its certificate must hold.
	TLS           bool   `koanf:"tls"`
	TLSServerName string `koanf:"tls_server_name"`
	// DialTimeout, ReadTimeout and WriteTimeout bound each connection
	// and command: an outage fails closed in time.
	DialTimeout  time.Duration `koanf:"dial_timeout"`
	ReadTimeout  time.Duration `koanf:"read_timeout"`
	WriteTimeout time.Duration `koanf:"write_timeout"`
	// PoolSize is the connections per node; 0 is go-redis's default (10
	// per CPU).
	PoolSize int `koanf:"pool_size"`
	// MaxRetries is how often a failed command is retried; 0 means 1,
	// kept low so an outage fails closed fast.
	MaxRetries int `koanf:"max_retries"`
	// KeyPrefix starts every key, so gateways can share a Redis.
	KeyPrefix string `koanf:"key_prefix"`
	// WaitReplicas makes revocations wait for that many replicas (WAIT),
	// up to WaitTimeout, so a failover cannot undo a logout; 0 is off.
	WaitReplicas int           `koanf:"wait_replicas"`
	WaitTimeout  time.Duration `koanf:"wait_timeout"`
}

// Identity is the `identity` block.
type Identity struct {
	// Type is the user directory: file (the users file), sql (the legacy
	// service's own user tables) or http (the legacy service asked).
	Type string `koanf:"type"`
	// UsersFile is the YAML users file, relative to the config file.
	UsersFile string `koanf:"users_file"`
	// SQL and HTTP are the sql and http directories' blocks.
	SQL  sqldir.Config  `koanf:"sql"`
	HTTP httpdir.Config `koanf:"http"`
	// MaxConcurrentChecks bounds the password and app-secret checks that
	// run at once (argon2id holds ~19 MiB each); 0 means the CPU count.
	MaxConcurrentChecks int `koanf:"max_concurrent_checks"`
	// CheckWait is how long a check waits for a free slot before the
	// login is answered as rate limited (Retry-After: 1).
	CheckWait time.Duration `koanf:"check_wait"`
}

// Admin is the `admin` block: the admin API under /admin/v1/ on
// server.admin_listen. Without tokens it is off (its paths answer 404).
type Admin struct {
	// Tokens are the bearer tokens that may call it, each with a name the
	// audit log records; only their hashes are in the config.
	Tokens []AdminToken `koanf:"tokens"`
	// FailureLimit is how many failed authentications one client address
	// may make within FailureWindow; further calls answer 429.
	FailureLimit  int64         `koanf:"failure_limit"`
	FailureWindow time.Duration `koanf:"failure_window"`
	// Pprof serves Go's runtime profiles (net/http/pprof) at
	// /debug/pprof/ on the admin listener, for an operator asking where a
	// replica's CPU or memory goes. Off by default: like /metrics it is
	// not behind the admin tokens, so the admin listener must be private,
	// and a CPU profile costs a few percent while it is taken.
	Pprof bool `koanf:"pprof"`
}

// AdminToken is one admin caller.
type AdminToken struct {
	// Name identifies the caller in the audit log and metrics.
	Name string `koanf:"name"`
	// Hash is the token's digest, sha256:<hex> (gateway admin-token); an
	// argon2id or bcrypt hash of earlier versions still works, each check
	// under identity.max_concurrent_checks, with a warning to convert.
	Hash string `koanf:"hash"`
}

// Log is the `log` block.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `koanf:"level" reload:"restart"`
}

// Route is one entry of `routes`.
type Route struct {
	// Name labels the route in metrics and logs; default the path prefix.
	Name string `koanf:"name"`
	// Host, when set, must equal the request's host (port ignored).
	Host string `koanf:"host"`
	// PathPrefix matches whole segments: "/v1/" matches "/v1/x", "/v1"
	// matches "/v1" and "/v1/x" but not "/v1x".
	PathPrefix string `koanf:"path_prefix"`
	// Methods allowed; empty allows all.
	Methods []string `koanf:"methods"`
	// Dialects that may authenticate the route, by instance name.
	Dialects []string `koanf:"dialects"`
	// Public must be set, deliberately, for a route with no dialect.
	Public bool `koanf:"public"`
	// Mode is enforce (the default: credentials checked, identity headers
	// set) or shadow (forwarded as received, credentials checked on the
	// side and compared with the upstream's answer).
	Mode string `koanf:"mode"`
	// Upstream is "echo" or an http(s) URL.
	Upstream string `koanf:"upstream"`
	// StripPrefix is removed from the path before forwarding (the
	// canonical path, whole segments).
	StripPrefix string `koanf:"strip_prefix"`
	// Timeout bounds the wait for the upstream's response headers; past it
	// the answer is 504 in the route's envelope. 0 is 30s.
	Timeout time.Duration `koanf:"timeout"`
	// IdentityHeaders renames identity headers: user_id, company_id,
	// dialect, session_id, or a dialect attribute, to a header name.
	IdentityHeaders map[string]string `koanf:"identity_headers"`
	// MaxBodyBytes bounds a forwarded request's body; 0 forwards any size.
	// Past it the answer is 413 in the route's envelope.
	MaxBodyBytes int64 `koanf:"max_body_bytes"`
	// LegacyAnswers, on a shadow route, is how the legacy service answers
	// allowed, refused and expired when its codes are not the dialect's.
	LegacyAnswers *dialects.LegacyAnswers `koanf:"legacy_answers"`
	// IdentityToken, set, sends the upstream a signed identity token
	// (keys: the top-level identity_token block) beside or instead of the
	// X-Auth-* headers.
	IdentityToken *idtoken.RouteConfig `koanf:"identity_token"`
	// Authorize are rules who may pass, every one must hold: CEL
	// expressions over the identity and the request (docs/authorization.md);
	// a refusal is the deciding dialect's forbidden answer.
	Authorize []authz.Rule `koanf:"authorize"`
	// RateLimit, set, limits how often each key (subject, app, client
	// address or a header's value) may call the route.
	RateLimit *RateLimit `koanf:"rate_limit"`
}

// DefaultRouteTimeout bounds an upstream's wait for response headers when
// a route sets no timeout.
const DefaultRouteTimeout = 30 * time.Second

// RateLimit is a route's rate_limit block: each key may make Burst
// requests, replenished at Rate per second — counted in a window of
// Burst/Rate seconds from the key's first request, shared by every
// replica through the store (docs/rate-limits.md).
type RateLimit struct {
	// Rate is the sustained requests per second of one key.
	Rate float64 `koanf:"rate"`
	// Burst is the requests one key may make at once; default Rate
	// (rounded up).
	Burst int64 `koanf:"burst"`
	// Key is what is limited: subject (default: the caller's identity),
	// app_id, client_ip, or header:<Name> (that header's value).
	Key string `koanf:"key"`
}
