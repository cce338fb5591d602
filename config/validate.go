package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/authgate/authgate/authz"

	"golang.org/x/net/http/httpguts"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/idtoken"
	"github.com/authgate/authgate/upstream"
)

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// problems collects a config's problems, each starting with its key path.
type problems []string

func (p *problems) add(format string, a ...any) { *p = append(*p, fmt.Sprintf(format, a...)) }

// validate checks what can be checked without building anything, block by
// block; dialect blocks are checked by their factories when built.
func (c *Config) validate() []string {
	var p problems
	c.validateServer(&p)
	c.validateStore(&p)
	c.validateLog(&p)
	c.validateAdmin(&p)
	c.validateIdentity(&p)
	c.validateDialects(&p)
	c.validateRoutes(&p)
	return p
}

func (c *Config) validateServer(p *problems) {
	s := c.Server
	if s.Listen == "" {
		p.add("server.listen: required")
	}
	if s.AdminListen == "" {
		p.add("server.admin_listen: required")
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		p.add("server.tls_cert_file: set both tls_cert_file and tls_key_file, or neither")
	} else if s.TLSCertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.Resolve(s.TLSCertFile), c.Resolve(s.TLSKeyFile)); err != nil {
			p.add("server.tls_cert_file: %v", err)
		}
	}
	for i, cidr := range s.TrustedProxies {
		if _, err := ParseCIDR(cidr); err != nil {
			p.add("server.trusted_proxies[%d]: %q is not an IP or CIDR", i, cidr)
		}
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"server.read_header_timeout", s.ReadHeaderTimeout}, {"server.endpoint_read_timeout", s.EndpointReadTimeout}, {"server.idle_timeout", s.IdleTimeout}, {"server.shutdown_timeout", s.ShutdownTimeout}} {
		if d.d <= 0 {
			p.add("%s: must be positive", d.key)
		}
	}
	if s.HTTP2MaxConcurrentStreams < 1 {
		p.add("server.http2_max_concurrent_streams: must be positive")
	}
	if s.ConfigWatchInterval < 0 {
		p.add("server.config_watch_interval: must not be negative (0 turns the watch off)")
	}
	if s.DrainDelay < 0 {
		p.add("server.drain_delay: must not be negative (0 closes the listener at once)")
	}
}

func (c *Config) validateStore(p *problems) {
	if c.Store.Cache.MaxAge < 0 {
		p.add("store.cache.max_age: must not be negative (0 turns the session cache off)")
	}
	if c.Store.Cache.MaxEntries <= 0 {
		p.add("store.cache.max_entries: must be positive")
	}
	switch c.Store.Driver {
	case "memory":
	case "redis":
		r := c.Store.Redis
		if len(r.Addrs) == 0 {
			p.add("store.redis.addrs: at least one address is required with store.driver redis")
		}
		set := 0
		for _, s := range []string{r.Password, r.PasswordEnv, r.PasswordFile} {
			if s != "" {
				set++
			}
		}
		if set > 1 {
			p.add("store.redis.password: set at most one of password, password_env, password_file")
		}
		if r.WaitReplicas < 0 || r.WaitTimeout <= 0 {
			p.add("store.redis.wait_replicas: must not be negative, and store.redis.wait_timeout positive")
		}
	default:
		p.add("store.driver: %q is not one of memory, redis", c.Store.Driver)
	}
}

func (c *Config) validateLog(p *problems) {
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
}

func (c *Config) validateAdmin(p *problems) {
	names := map[string]int{}
	for i, tok := range c.Admin.Tokens {
		if tok.Name == "" {
			p.add("admin.tokens[%d].name: required (the audit log names the caller by it)", i)
		} else if j, dup := names[tok.Name]; dup {
			p.add("admin.tokens[%d].name: %q is also the name of admin.tokens[%d]", i, tok.Name, j)
		}
		names[tok.Name] = i
		if identity.IsTokenDigest(tok.Hash) {
			continue
		}
		if err := identity.CheckHash(tok.Hash); err != nil {
			p.add("admin.tokens[%d].hash: %v; make a token and its sha256: digest with: gateway admin-token", i, err)
		}
	}
	if c.Admin.FailureLimit <= 0 || c.Admin.FailureWindow <= 0 {
		p.add("admin.failure_limit: failure_limit and failure_window must be positive")
	}
}

func (c *Config) validateIdentity(p *problems) {
	switch id := c.Identity; id.Type {
	case "file":
	case "sql", "http":
		if id.UsersFile != "" {
			p.add("identity.users_file: not read with identity.type %s; remove it, or use identity.type file", id.Type)
		}
		if id.Type == "sql" && (id.SQL.DSNEnv == "") == (id.SQL.DSNFile == "") {
			p.add("identity.sql.dsn_env: set exactly one of dsn_env, dsn_file (the DSN holds the database password: never inline)")
		}
	default:
		p.add("identity.type: %q is not one of file, sql, http", id.Type)
	}
	if c.Identity.MaxConcurrentChecks < 0 {
		p.add("identity.max_concurrent_checks: must not be negative (0 means the CPU count)")
	}
	if c.Identity.CheckWait < 0 {
		p.add("identity.check_wait: must not be negative")
	}
	if c.Identity.UsersFile != "" {
		if _, err := os.Stat(c.Resolve(c.Identity.UsersFile)); err != nil {
			p.add("identity.users_file: %v", errors.Unwrap(err))
		}
	}
}

func (c *Config) validateDialects(p *problems) {
	names := make([]string, 0, len(c.Dialects))
	for name := range c.Dialects {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := c.Dialects[name]["type"].(string); !ok {
			p.add("dialects.%s.type: required (one of the dialect types)", name)
		}
	}
}

func (c *Config) validateRoutes(p *problems) {
	if len(c.Routes) == 0 {
		p.add("routes: at least one route is required")
	}
	seen := map[string]int{}
	// A dialect instance is enforced or shadowed, never both: its auth
	// endpoints are either the gateway's or the legacy service's.
	enforcedBy := map[string]int{}
	for i, r := range c.Routes {
		for _, d := range r.Dialects {
			if _, ok := enforcedBy[d]; !ok && r.Mode != ModeShadow {
				enforcedBy[d] = i
			}
		}
	}
	for i, r := range c.Routes {
		for _, d := range r.Dialects {
			if j, ok := enforcedBy[d]; ok && r.Mode == ModeShadow {
				p.add("routes[%d].dialects: dialect %s is also on enforce route routes[%d]: its auth endpoints would be the gateway's while this route still sends clients the legacy service's tokens; give shadow routes a dialect instance of their own (its endpoints are not mounted), or switch all of the dialect's routes together", i, d, j)
			}
		}
	}
	c.validateOverlaps(p)
	for i, r := range c.Routes {
		name := r.Name
		if name == "" {
			name = r.PathPrefix
		}
		if j, dup := seen[name]; dup {
			p.add("routes[%d].name: %q is also the name of routes[%d]", i, name, j)
		}
		seen[name] = i
		c.validateRoute(p, fmt.Sprintf("routes[%d]", i), r)
	}
}

func (c *Config) validateRoute(p *problems, at string, r Route) {
	if r.PathPrefix == "" || r.PathPrefix[0] != '/' {
		p.add("%s.path_prefix: must start with /", at)
	} else if canon, err := upstream.Canonicalize(r.PathPrefix); err != nil || canon != r.PathPrefix {
		p.add("%s.path_prefix: %q is not a canonical path", at, r.PathPrefix)
	}
	for _, m := range r.Methods {
		if !slices.Contains(methods, m) {
			p.add("%s.methods: %q is not one of %s", at, m, strings.Join(methods, ", "))
		}
	}
	c.validateRouteToken(p, at, r)
	validateRateLimit(p, at, r)
	if len(r.Authorize) > 0 {
		if r.Public {
			p.add("%s.authorize: a public route has no identity to authorize", at)
		}
		_, problems := authz.Compile(r.Authorize)
		for _, pr := range problems {
			p.add("%s.%s", at, pr)
		}
	}
	if len(r.Dialects) == 0 && !r.Public {
		p.add("%s.dialects: required; a route without authentication must say `public: true`", at)
	}
	if len(r.Dialects) > 0 && r.Public {
		p.add("%s.public: a public route takes no dialects", at)
	}
	switch r.Mode {
	case "", ModeEnforce:
	case ModeShadow:
		if r.Public {
			p.add("%s.mode: a public route checks no credentials to shadow; remove mode or public", at)
		}
		if len(r.Methods) > 0 {
			p.add("%s.methods: a shadow route forwards every method as received; remove methods or mode: shadow", at)
		}
	default:
		p.add("%s.mode: %q is not one of enforce, shadow", at, r.Mode)
	}
	if r.LegacyAnswers != nil {
		if r.Mode != ModeShadow {
			p.add("%s.legacy_answers: only on a shadow route (mode: shadow), where the legacy service answers", at)
		}
		for _, err := range r.LegacyAnswers.Check(at + ".legacy_answers") {
			p.add("%v", err)
		}
	}
	for _, d := range r.Dialects {
		if _, ok := c.Dialects[d]; !ok {
			p.add("%s.dialects: no dialect instance named %q under dialects", at, d)
		}
	}
	if r.Upstream == "" {
		p.add("%s.upstream: required (\"echo\" or an http(s) URL)", at)
	} else if r.Upstream != "echo" {
		if u, err := url.Parse(r.Upstream); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("%s.upstream: %q is not \"echo\" or an http(s) URL", at, r.Upstream)
		}
	}
	if r.StripPrefix != "" && !strings.HasPrefix(r.PathPrefix, r.StripPrefix) {
		p.add("%s.strip_prefix: %q is not a prefix of path_prefix %q", at, r.StripPrefix, r.PathPrefix)
	}
	if r.Timeout < 0 {
		p.add("%s.timeout: must not be negative", at)
	}
	if r.MaxBodyBytes < 0 {
		p.add("%s.max_body_bytes: must not be negative (0 forwards any size)", at)
	}
	for k, h := range r.IdentityHeaders {
		if h == "" || strings.ContainsAny(h, " :\r\n") {
			p.add("%s.identity_headers.%s: %q is not a header name", at, k, h)
		}
	}
}

// validateOverlaps refuses routes that overlap so that which one serves a
// request is an accident of the file's order or a hole: two routes on the
// same host and prefix (the first listed would win, silently), and a
// shadow route sharing an upstream with an enforce route (the shadow route
// forwards the client's own X-Auth-* headers as received, and that
// upstream believes them from the enforce route).
func (c *Config) validateOverlaps(p *problems) {
	for i, a := range c.Routes {
		for j := i + 1; j < len(c.Routes); j++ {
			b := c.Routes[j]
			if strings.EqualFold(a.Host, b.Host) && a.PathPrefix == b.PathPrefix {
				p.add("routes[%d].path_prefix: %q on host %q is also routes[%d]'s: only one of them could ever serve it; remove one, or give one another host or prefix", j, b.PathPrefix, b.Host, i)
			}
		}
	}
	for i, s := range c.Routes {
		if s.Mode != ModeShadow {
			continue
		}
		for j, e := range c.Routes {
			if e.Mode == ModeShadow || e.Public || !hostsOverlap(s.Host, e.Host) {
				continue
			}
			if sameUpstream(s.Upstream, e.Upstream) {
				p.add("routes[%d].upstream: shadow route shares upstream %s with enforce route routes[%d]: a shadow route forwards the client's own X-Auth-* headers as received, and that upstream believes them; a shadow route's upstream is the legacy service, never a backend behind the gateway", i, s.Upstream, j)
			}
		}
	}
}

// warnings are what in c works but is likely a mistake, each starting
// with its key path.
func (c *Config) Warnings() []string {
	out := c.routeWarnings()
	for i, tok := range c.Admin.Tokens {
		if !identity.IsTokenDigest(tok.Hash) {
			out = append(out, fmt.Sprintf("admin.tokens[%d].hash: a password hash: every wrong admin token costs a slow check of it (bounded by identity.max_concurrent_checks); admin tokens are random, so store their digest instead: echo -n TOKEN | gateway hash-secret -token, or a new one from gateway admin-token", i))
		}
	}
	return out
}

// routeWarnings are the route table's legitimate but risky shapes: a
// shadow route whose prefix lies under or over an enforce route's on the
// same host (moving one path at a time is a real use; a mistake is as
// likely).
func (c *Config) routeWarnings() []string {
	var out []string
	for i, s := range c.Routes {
		if s.Mode != ModeShadow {
			continue
		}
		for j, e := range c.Routes {
			if e.Mode == ModeShadow || !hostsOverlap(s.Host, e.Host) || s.PathPrefix == e.PathPrefix {
				continue
			}
			switch {
			case prefixUnder(s.PathPrefix, e.PathPrefix):
				out = append(out, fmt.Sprintf("routes[%d].path_prefix: shadow route %q lies under enforce route routes[%d] %q: requests under it reach the legacy service unchecked, with the client's own X-Auth-* headers; fine while that path still belongs to the legacy service, a hole otherwise", i, s.PathPrefix, j, e.PathPrefix))
			case prefixUnder(e.PathPrefix, s.PathPrefix):
				out = append(out, fmt.Sprintf("routes[%d].path_prefix: shadow route %q holds enforce route routes[%d] %q: only that path is enforced, the rest of %q reaches the legacy service unchecked; fine while moving one path at a time", i, s.PathPrefix, j, e.PathPrefix, s.PathPrefix))
			}
		}
	}
	return out
}

// hostsOverlap reports whether two routes' hosts can match one request:
// the same host, or either route host-less.
func hostsOverlap(a, b string) bool {
	return a == "" || b == "" || strings.EqualFold(a, b)
}

// prefixUnder reports whether path prefix a lies within b's whole
// segments (as route matching reads them).
func prefixUnder(a, b string) bool {
	if !strings.HasPrefix(a, b) {
		return false
	}
	return strings.HasSuffix(b, "/") || len(a) == len(b) || a[len(b)] == '/'
}

// sameUpstream reports whether two upstream URLs are one server (scheme
// and host, whatever their base paths); the built-in echo is no server.
func sameUpstream(a, b string) bool {
	if a == "echo" || b == "echo" {
		return false
	}
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	return errA == nil && errB == nil && strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host)
}

// validateRouteToken checks a route's identity_token block: a header no
// client can also send as an identity header, a life of at most
// idtoken.MaxTTL, on a route that has an identity to sign, and keys to
// sign it with.
func (c *Config) validateRouteToken(p *problems, at string, r Route) {
	t := r.IdentityToken
	if t == nil {
		return
	}
	at += ".identity_token"
	if !httpguts.ValidHeaderFieldName(t.Header) {
		p.add("%s.header: %q is not a header name (X-Auth-Token, say)", at, t.Header)
	}
	if t.TTL < 0 || t.TTL > idtoken.MaxTTL {
		p.add("%s.ttl: %v; between 1s and %v (unset: 60s)", at, t.TTL, idtoken.MaxTTL)
	}
	if r.Public || r.Mode == ModeShadow {
		p.add("%s: only an enforce route with dialects has an identity to sign", at)
	}
	if len(c.IdentityToken.Keys) == 0 {
		p.add("%s: no keys to sign with: add identity_token.keys (one with signs: true)", at)
	}
}

// validateRateLimit checks a route's rate_limit block: a positive rate, a
// burst of at least one, a key the route knows (an identity's on a route
// with dialects only).
func validateRateLimit(p *problems, at string, r Route) {
	l := r.RateLimit
	if l == nil {
		return
	}
	at += ".rate_limit"
	if l.Rate <= 0 {
		p.add("%s.rate: must be positive (requests per second of one key)", at)
	}
	if l.Burst < 0 {
		p.add("%s.burst: must not be negative (unset: the rate)", at)
	}
	switch key := l.Key; {
	case key == "" || key == "subject" || key == "app_id":
		if r.Public {
			p.add("%s.key: a public route has no identity; limit it by client_ip or header:<Name>", at)
		}
	case key == "client_ip":
	case strings.HasPrefix(key, "header:") && httpguts.ValidHeaderFieldName(strings.TrimPrefix(key, "header:")):
	default:
		p.add("%s.key: %q is not one of subject, app_id, client_ip, header:<Name>", at, key)
	}
	if r.Mode == ModeShadow {
		p.add("%s: a shadow route forwards as received; limit the enforce route instead", at)
	}
}
