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

	"github.com/authgate/authgate/identity/httpdir"
	"github.com/authgate/authgate/identity/sqldir"
	"github.com/authgate/authgate/idtoken"
	"github.com/authgate/authgate/internal/confdecode"
	"github.com/authgate/authgate/tracing"
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
	// IdentityToken holds the keys that sign the identity tokens routes
	// send their upstreams (routes[].identity_token); off without keys.
	IdentityToken idtoken.Config `koanf:"identity_token"`
	// Tracing exports OpenTelemetry traces to a collector; off without an
	// endpoint. Read at start.
	Tracing tracing.Config `koanf:"tracing" reload:"restart"`
	Routes  []Route        `koanf:"routes"`

	// dir is the config file's folder; relative paths resolve against it.
	dir string
}

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
	cfg.IdentityToken = idtoken.Defaults()
	cfg.Tracing = tracing.Defaults()
	dc := confdecode.Config(&cfg, mapstructure.StringToSliceHookFunc(","))
	err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf", DecoderConfig: dc})
	return cfg, confdecode.Problems(err, "config.Config")
}

// blocks are the top-level config keys, the first part of every path.
var blocks = map[string]bool{"server": true, "store": true, "identity": true, "log": true, "admin": true, "dialects": true, "routes": true, "identity_token": true, "tracing": true}

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

// Resolve is p relative to the config file's folder (absolute and empty
// paths as they are).
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// ParseCIDR reads a trusted_proxies entry: a CIDR, or one IP as a /32
// (IPv4) or /128 (IPv6).
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
