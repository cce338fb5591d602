package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/identity/httpdir"
	"github.com/authgate/authgate/identity/sqldir"
	"github.com/authgate/authgate/internal/confdecode"
)

// EnvPrefix starts every environment override: AUTHGATE_CFG__SERVER__LISTEN
// sets server.listen ("__" separates levels, since key names contain "_").
// It is a prefix of its own so that nothing else in a pod's environment
// can look like config: Kubernetes injects <SERVICE>_PORT, <SERVICE>_SERVICE_HOST,
// ... for every Service, and with the earlier prefix GATEWAY_ a Service
// named gateway made start-up fail ("unknown key port"). Under the prefix
// every name must be a config path; an unknown one is refused.
const EnvPrefix = "AUTHGATE_CFG__"

// oldEnvPrefix is the prefix before EnvPrefix. A variable under it whose
// first part names a config block (AUTHGATE_CFG__STORE__DRIVER) is refused with
// its new name, so an upgrade cannot silently drop an override (a store
// driver falling back to memory would split the replicas' sessions);
// anything else under it (a service link's GATEWAY_PORT) is not config.
const oldEnvPrefix = "GATEWAY_"

// Config is the whole gateway configuration (config.yaml).
type Config struct {
	Server   Server                    `koanf:"server"`
	Store    Store                     `koanf:"store" reload:"restart"`
	Identity Identity                  `koanf:"identity"`
	Log      Log                       `koanf:"log"`
	Admin    Admin                     `koanf:"admin"`
	Dialects map[string]map[string]any `koanf:"dialects"`
	Routes   []Route                   `koanf:"routes"`

	// dir is the config file's folder; relative paths resolve against it.
	dir string
}

// ServerConfig is the `server` block.
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

// StoreConfig is the `store` block.
type Store struct {
	// Driver is "memory" (one process) or "redis" (shared by replicas).
	Driver string `koanf:"driver"`
	Redis  Redis  `koanf:"redis"`
	Cache  Cache  `koanf:"cache"`
}

// CacheConfig is `store.cache`: each Redis-backed replica's cache of the
// sessions it saw live, kept coherent by invalidations over Redis pub/sub.
type Cache struct {
	// MaxAge is the longest a cached session is trusted without asking
	// Redis (the bound on staleness should an invalidation be lost); 0
	// turns the cache off.
	MaxAge time.Duration `koanf:"max_age"`
	// MaxEntries bounds the sessions cached per replica.
	MaxEntries int `koanf:"max_entries"`
}

// RedisConfig is `store.redis`: one address is standalone, master_name
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

// IdentityConfig is the `identity` block.
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

// AdminConfig is the `admin` block: the admin API under /admin/v1/ on
// server.admin_listen. Without tokens it is off (its paths answer 404).
type Admin struct {
	// Tokens are the bearer tokens that may call it, each with a name the
	// audit log records; only their hashes are in the config.
	Tokens []AdminToken `koanf:"tokens"`
	// FailureLimit is how many failed authentications one client address
	// may make within FailureWindow; further calls answer 429.
	FailureLimit  int64         `koanf:"failure_limit"`
	FailureWindow time.Duration `koanf:"failure_window"`
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

// LogConfig is the `log` block.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `koanf:"level" reload:"restart"`
}

// RouteConfig is one entry of `routes`.
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
}

// DefaultRouteTimeout bounds an upstream's wait for response headers when
// a route sets no timeout.
const DefaultRouteTimeout = 30 * time.Second

// Route modes.
const (
	ModeEnforce = "enforce"
	ModeShadow  = "shadow"
)

// defaults are the values of keys the file and environment leave out.
func defaults() map[string]any {
	return map[string]any{
		"server.listen":                       ":8080",
		"server.admin_listen":                 "127.0.0.1:9090",
		"server.read_header_timeout":          "10s",
		"server.endpoint_read_timeout":        "10s",
		"server.http2_max_concurrent_streams": 100,
		"server.idle_timeout":                 "120s",
		"server.shutdown_timeout":             "20s",
		"server.drain_delay":                  "5s",
		"server.max_header_bytes":             64 << 10,
		"store.driver":                        "memory",
		"store.cache.max_age":                 "2s",
		"store.cache.max_entries":             100000,
		"identity.check_wait":                 "200ms",
		"identity.type":                       "file",
		"store.redis.dial_timeout":            "2s",
		"store.redis.read_timeout":            "1s",
		"store.redis.write_timeout":           "1s",
		"store.redis.key_prefix":              "authgate:",
		"store.redis.wait_timeout":            "100ms",
		"log.level":                           "info",
		"admin.failure_limit":                 10,
		"admin.failure_window":                "1m",
	}
}

// listPaths are the keys whose environment value is a comma-separated list.
var listPaths = map[string]bool{
	"store.redis.addrs":      true,
	"server.trusted_proxies": true,
}

// ConfigError lists every problem found in a configuration, each naming
// its key path.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

// Load reads the YAML file at path, applies AUTHGATE_CFG__ overrides from
// environ (os.Environ() form) and validates the result. Every problem found
// is reported at once, in a *ConfigError; with it comes the config as far
// as it could be decoded (never to serve from: for CheckDialects).
func Load(path string, environ []string) (*Config, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaults(), "."), nil); err != nil {
		return nil, err
	}
	if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
		return nil, &ConfigError{Problems: []string{fmt.Sprintf("%s: %v", path, err)}}
	}
	env, envProblems := envOverrides(environ)
	if err := k.Load(confmap.Provider(env, "."), nil); err != nil {
		return nil, err
	}
	cfg, decodeProblems := decode(k)
	problems := append(envProblems, decodeProblems...)
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cfg.dir = filepath.Dir(abs)
	problems = append(problems, withoutKeysOf(cfg.validate(), problems)...)
	if len(problems) > 0 {
		// What could be decoded comes back too, so check-config can go on
		// to check the dialect blocks (CheckDialects).
		return &cfg, &ConfigError{Problems: problems}
	}
	return &cfg, nil
}

// Default is the configuration of an empty file: every key at its
// default (for the generated configuration reference).
func Default() *Config {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaults(), "."), nil); err != nil {
		panic(err) // the defaults are a literal map: cannot fail
	}
	cfg, problems := decode(k)
	if len(problems) > 0 {
		panic(strings.Join(problems, "; ")) // a default that does not decode is a bug
	}
	return &cfg
}

// decode decodes what k holds over the defaults of the blocks that have
// their own (the user directories'). The decoder fills every field it can
// before it reports unknown keys or bad values, so validation still runs
// and every problem is listed.
func decode(k *koanf.Koanf) (Config, []string) {
	var cfg Config
	cfg.Identity.SQL, cfg.Identity.HTTP = sqldir.Defaults(), httpdir.Defaults()
	dc := confdecode.Config(&cfg, mapstructure.StringToSliceHookFunc(","))
	err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf", DecoderConfig: dc})
	return cfg, confdecode.Problems(err, "config.Config")
}

// blocks are the top-level config keys, the first part of every path.
var blocks = map[string]bool{"server": true, "store": true, "identity": true, "log": true, "admin": true, "dialects": true, "routes": true}

// envOverrides turns AUTHGATE_CFG__A__B_C=v into {"a.b_c": v}, and refuses
// overrides still under the old prefix.
func envOverrides(environ []string) (map[string]any, []string) {
	out := map[string]any{}
	var problems []string
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if rest, old := strings.CutPrefix(k, oldEnvPrefix); old {
			if first, _, _ := strings.Cut(rest, "__"); blocks[strings.ToLower(first)] && strings.Contains(rest, "__") {
				problems = append(problems, fmt.Sprintf("%s: the environment prefix is now %s; rename it %s%s", k, EnvPrefix, EnvPrefix, rest))
			}
			continue
		}
		rest, ok := strings.CutPrefix(k, EnvPrefix)
		if !ok {
			continue
		}
		key := strings.ToLower(strings.ReplaceAll(rest, "__", "."))
		if key == "" {
			continue
		}
		if listPaths[key] {
			var items []any
			for item := range strings.SplitSeq(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					items = append(items, item)
				}
			}
			out[key] = items
			continue
		}
		out[key] = v
	}
	return out, problems
}

// shadowed reports whether a dialect instance is on a shadow route.
func (c *Config) Shadowed(dialect string) bool {
	for _, r := range c.Routes {
		if r.Mode == ModeShadow && slices.Contains(r.Dialects, dialect) {
			return true
		}
	}
	return false
}

// longestRouteTimeout is the longest wait of any route for its upstream.
func (c *Config) LongestRouteTimeout() time.Duration {
	longest := DefaultRouteTimeout
	for _, r := range c.Routes {
		longest = max(longest, r.Timeout)
	}
	return longest
}

// withoutKeysOf drops the problems of keys that already have one: a key
// that failed to decode keeps its zero value, and "must be positive"
// after "is a bare number, not a duration" says nothing new.
func withoutKeysOf(problems, reported []string) []string {
	seen := map[string]bool{}
	for _, p := range reported {
		key, _, _ := strings.Cut(p, ": ")
		seen[key] = true
	}
	var out []string
	for _, p := range problems {
		if key, _, _ := strings.Cut(p, ": "); !seen[key] {
			out = append(out, p)
		}
	}
	return out
}

// Dir is the folder relative paths in the config resolve against.
func (c *Config) Dir() string { return c.dir }

func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

func ParseCIDR(s string) (*net.IPNet, error) {
	if !strings.Contains(s, "/") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, errors.New("bad ip")
		}
		bits := 32
		if ip.To4() == nil {
			bits = 128
		}
		return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
	}
	_, n, err := net.ParseCIDR(s)
	return n, err
}

// dialectBlock splits a dialect's config block into its type and the rest.
func (c *Config) DialectBlock(name string) (typ string, block map[string]any) {
	raw := c.Dialects[name]
	block = make(map[string]any, len(raw))
	for k, v := range raw {
		if k != "type" {
			block[k] = v
		}
	}
	typ, _ = raw["type"].(string)
	return typ, block
}
