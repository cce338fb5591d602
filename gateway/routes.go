package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/upstream"
)

// defaultRouteTimeout bounds an upstream's wait for response headers when
// a route sets no timeout.
const defaultRouteTimeout = 30 * time.Second

// Default identity header names; a route's identity_headers renames them.
var defaultIdentityHeaders = map[string]string{
	"user_id":    "X-Auth-User-Id",
	"company_id": "X-Auth-Company-Id",
	"dialect":    "X-Auth-Dialect",
	"session_id": "X-Auth-Session-Id",
}

// route is one compiled entry of the route table.
type route struct {
	name     string
	host     string
	prefix   string
	methods  []string
	dialects []dialects.Dialect
	names    []string
	public   bool
	proxy    *upstream.Proxy
	// headers maps identity fields to header names for this route.
	headers map[string]string
	// strip holds lower-cased, dash-normalised names removed from every
	// forwarded request besides X-Auth-*: the route's identity header
	// names and its dialects' credential headers.
	strip map[string]bool
	// spell maps canonical header names to the exact spelling the route's
	// dialects want upstream.
	spell map[string]string
}

func (rt *route) matches(r *http.Request) bool {
	if rt.host != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !strings.EqualFold(host, rt.host) {
			return false
		}
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, rt.prefix) {
		return false
	}
	// Whole segments only: "/v1" matches "/v1" and "/v1/x", not "/v1x".
	return strings.HasSuffix(rt.prefix, "/") || len(p) == len(rt.prefix) || p[len(rt.prefix)] == '/'
}

// headerKey normalises a header name the way permissive backends do
// (CGI maps X_Auth_User and X-Auth-User to one variable), so spoofing by
// spelling is stripped too.
func headerKey(h string) string { return strings.ToLower(strings.ReplaceAll(h, "_", "-")) }

type ctxKey int

const (
	identityKey ctxKey = iota
	infoKey
)

// requestInfo collects what the access log and metrics report; handlers
// deeper in the chain fill it in.
type requestInfo struct {
	id       string
	route    string
	dialect  string
	subject  string
	clientIP string
	// trustedPeer: the direct peer is a trusted proxy, so its
	// X-Forwarded-For / -Proto are carried on.
	trustedPeer bool
}

func info(r *http.Request) *requestInfo {
	if i, ok := r.Context().Value(infoKey).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

func (g *Gateway) buildHandler(instances map[string]dialects.Dialect, m *metrics, o Options) (http.Handler, error) {
	trusted := make([]*net.IPNet, 0, len(g.cfg.Server.TrustedProxies))
	for _, c := range g.cfg.Server.TrustedProxies {
		n, _ := parseCIDR(c)
		trusted = append(trusted, n)
	}

	table := make([]*route, 0, len(g.cfg.Routes))
	for i, rc := range g.cfg.Routes {
		rt, err := g.compileRoute(rc, instances, m)
		if err != nil {
			return nil, &ConfigError{Problems: []string{fmt.Sprintf("routes[%d]: %v", i, err)}}
		}
		table = append(table, rt)
	}
	// Host-specific routes first, then the longest prefix: the most
	// specific route wins whatever the order in the file.
	sort.SliceStable(table, func(i, j int) bool {
		if (table[i].host != "") != (table[j].host != "") {
			return table[i].host != ""
		}
		return len(table[i].prefix) > len(table[j].prefix)
	})

	r := chi.NewRouter()
	r.Use(recoverer(g.log), withRequestInfo(trusted), accessLog(g.log, m), canonicalPath)
	mounted := map[string]string{}
	names := make([]string, 0, len(instances))
	for name := range instances {
		names = append(names, name)
	}
	sort.Strings(names)
	var problems []string
	for _, name := range names {
		d := instances[name]
		byPath := map[string][]dialects.Endpoint{}
		for _, ep := range d.Endpoints() {
			if other, dup := mounted[ep.Path]; dup && other != name {
				problems = append(problems, fmt.Sprintf("dialects.%s: endpoint %s is also served by dialect %s", name, ep.Path, other))
				continue
			}
			mounted[ep.Path] = name
			byPath[ep.Path] = append(byPath[ep.Path], ep)
		}
		for path, eps := range byPath {
			h := endpointHandler(name, d, eps)
			r.HandleFunc(path, h)
			if slices.ContainsFunc(eps, func(ep dialects.Endpoint) bool { return ep.Prefix }) {
				r.HandleFunc(strings.TrimSuffix(path, "/")+"/*", h)
			}
		}
	}
	if len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	r.NotFound(g.routeTable(table, m))
	r.MethodNotAllowed(g.routeTable(table, m))
	return r, nil
}

// endpointHandler serves a dialect's auth endpoint, answering other
// methods in the dialect's envelope.
func endpointHandler(name string, d dialects.Dialect, eps []dialects.Endpoint) http.HandlerFunc {
	allow := make([]string, 0, len(eps))
	for _, ep := range eps {
		allow = append(allow, ep.Method)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		in := info(r)
		in.route = "auth:" + name
		in.dialect = name
		for _, ep := range eps {
			if r.Method == ep.Method {
				ep.Handler(w, r)
				return
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		d.WriteError(w, r, dialects.ErrMethodNotAllowed)
	}
}

func (g *Gateway) compileRoute(rc RouteConfig, instances map[string]dialects.Dialect, m *metrics) (*route, error) {
	rt := &route{
		name: rc.Name, host: rc.Host, prefix: rc.PathPrefix, methods: rc.Methods,
		names: rc.Dialects, public: rc.Public,
		headers: map[string]string{}, strip: map[string]bool{}, spell: map[string]string{},
	}
	if rt.name == "" {
		rt.name = rc.PathPrefix
	}
	for k, v := range defaultIdentityHeaders {
		rt.headers[k] = v
	}
	for k, v := range rc.IdentityHeaders {
		rt.headers[k] = http.CanonicalHeaderKey(v)
	}
	for _, h := range rt.headers {
		rt.strip[headerKey(h)] = true
	}
	for _, n := range rc.Dialects {
		d := instances[n]
		rt.dialects = append(rt.dialects, d)
		for _, h := range d.CredentialHeaders() {
			rt.strip[headerKey(h)] = true
		}
		if sp, ok := d.(dialects.HeaderSpeller); ok {
			for _, h := range sp.HeaderSpellings() {
				rt.spell[http.CanonicalHeaderKey(h)] = h
			}
		}
	}
	timeout := rc.Timeout
	if timeout == 0 {
		timeout = defaultRouteTimeout
	}
	var transport http.RoundTripper
	if rc.Upstream == "echo" {
		transport = upstream.Echo{}
	} else {
		transport = upstream.NewTransport(timeout)
	}
	p, err := upstream.New(rc.Upstream, upstream.Options{
		StripPrefix:  rc.StripPrefix,
		Rewrite:      rt.rewrite,
		ErrorHandler: rt.upstreamError,
		Transport:    timedTransport{next: transport, hist: m.upstreamDuration.WithLabelValues(rt.name)},
	})
	if err != nil {
		return nil, err
	}
	rt.proxy = p
	return rt, nil
}

// rewrite prepares the outbound request: identity headers are the
// gateway's alone, and tokens never reach the backend.
func (rt *route) rewrite(pr *httputil.ProxyRequest) {
	for k := range pr.Out.Header {
		hk := headerKey(k)
		if strings.HasPrefix(hk, "x-auth-") || rt.strip[hk] {
			delete(pr.Out.Header, k)
		}
	}
	for canon, spelled := range rt.spell {
		if v, ok := pr.Out.Header[canon]; ok && canon != spelled {
			delete(pr.Out.Header, canon)
			pr.Out.Header[spelled] = v
		}
	}
	in := info(pr.In)
	if in.trustedPeer {
		// SetXForwarded saw only the peer; keep the trusted chain before it.
		if prior := pr.In.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			pr.Out.Header.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+pr.Out.Header.Get("X-Forwarded-For"))
		}
		if proto := pr.In.Header.Get("X-Forwarded-Proto"); proto == "http" || proto == "https" {
			pr.Out.Header.Set("X-Forwarded-Proto", proto)
		}
	}
	pr.Out.Header.Set("X-Request-Id", in.id)
	id, ok := pr.In.Context().Value(identityKey).(dialects.Identity)
	if !ok {
		return
	}
	set := func(field, value string) {
		if value != "" {
			pr.Out.Header[rt.headers[field]] = []string{value}
		}
	}
	set("user_id", id.Subject)
	set("company_id", id.Company)
	set("dialect", id.Dialect)
	set("session_id", id.SessionID)
	for k, v := range id.Attrs {
		name, ok := rt.headers[k]
		if !ok {
			name = http.CanonicalHeaderKey("X-Auth-" + strings.ReplaceAll(k, "_", "-"))
		}
		if v != "" {
			pr.Out.Header[name] = []string{v}
		}
	}
}

// upstreamError answers a failed forward in the envelope of the dialect
// that authenticated the request (or the route's first one).
func (rt *route) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	var wireErr error
	status := http.StatusBadGateway
	switch {
	case errors.Is(err, upstream.ErrClientGone):
		// Nobody is listening; 499 is what the access log records.
		w.WriteHeader(499)
		return
	case errors.Is(err, upstream.ErrTimeout):
		wireErr, status = dialects.ErrUpstreamTimeout, http.StatusGatewayTimeout
	default:
		wireErr = dialects.ErrUpstreamUnavailable
	}
	if d := rt.dialectFor(r); d != nil {
		d.WriteError(w, r, fmt.Errorf("route %s: %w: %w", rt.name, wireErr, err))
		return
	}
	writePlainJSON(w, status, map[string]string{"error": wireErr.Error()})
}

func (rt *route) dialectFor(r *http.Request) dialects.Dialect {
	if id, ok := r.Context().Value(identityKey).(dialects.Identity); ok {
		for i, n := range rt.names {
			if n == id.Dialect {
				return rt.dialects[i]
			}
		}
	}
	if len(rt.dialects) > 0 {
		return rt.dialects[0]
	}
	return nil
}

// authenticate asks the route's dialects in order; the first that claims
// the request (answers anything but dialects.ErrNotMine) decides it. When
// none does, the first dialect's refusal stands, so a request with no
// credential at all is answered as the route's first dialect would.
func (rt *route) authenticate(r *http.Request) (int, dialects.Identity, error) {
	var first error
	for i, d := range rt.dialects {
		id, err := d.Authenticate(r)
		if !errors.Is(err, dialects.ErrNotMine) {
			return i, id, err
		}
		if i == 0 {
			first = err
		}
	}
	return 0, dialects.Identity{}, first
}

// routeTable serves everything that is not a dialect endpoint.
func (g *Gateway) routeTable(table []*route, m *metrics) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var rt *route
		for _, cand := range table {
			if cand.matches(r) {
				rt = cand
				break
			}
		}
		if rt == nil {
			writePlainJSON(w, http.StatusNotFound, map[string]string{"error": "no route for this path"})
			return
		}
		in := info(r)
		in.route = rt.name
		if len(rt.methods) > 0 && !slices.Contains(rt.methods, r.Method) {
			w.Header().Set("Allow", strings.Join(rt.methods, ", "))
			if d := rt.dialectFor(r); d != nil {
				d.WriteError(w, r, dialects.ErrMethodNotAllowed)
			} else {
				writePlainJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
			}
			return
		}
		if rt.public {
			rt.proxy.ServeHTTP(w, r)
			return
		}
		i, id, err := rt.authenticate(r)
		in.dialect = rt.names[i]
		m.authDecisions.WithLabelValues(rt.names[i], dialects.Reason(err)).Inc()
		if err != nil {
			rt.dialects[i].WriteError(w, r, err)
			return
		}
		in.subject = id.Subject
		rt.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey, id)))
	}
}

// timedTransport observes the time to the upstream's response headers.
type timedTransport struct {
	next http.RoundTripper
	hist interface{ Observe(float64) }
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.hist.Observe(time.Since(start).Seconds())
	return resp, err
}

func writePlainJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
