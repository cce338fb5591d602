package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authgate/authgate/authz"
	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/idtoken"
	"github.com/authgate/authgate/tokenstore"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/upstream"
)

// route is one compiled entry of the route table.
type route struct {
	name     string
	host     string
	prefix   string
	methods  []string
	dialects []dialects.Dialect
	names    []string
	// log logs the server errors answered in a dialect's envelope.
	log    *slog.Logger
	public bool
	// shadow: forward as received, check credentials on the side.
	shadow bool
	// endpoints are the auth endpoints of a shadow route's dialects (path,
	// and whether paths below it count): the legacy service's to answer,
	// forwarded unchecked, since they carry no credential to compare.
	endpoints map[string]bool
	// readsUpstream: a dialect of the shadow route reads its verdict from
	// the upstream's body (dialects.UpstreamReader), or legacyAnswers
	// does, which is then kept.
	readsUpstream bool
	// legacyAnswers, when set, reads the shadow route's upstream answers
	// instead of its dialects.
	legacyAnswers *dialects.LegacyAnswers
	proxy         *upstream.Proxy
	// headers maps identity fields to header names for this route.
	headers map[string]string
	// strip holds lower-cased, dash-normalised names removed from every
	// forwarded request besides X-Auth-*: the route's identity header
	// names and its dialects' credential headers.
	strip map[string]bool
	// spell maps canonical header names to the exact spelling the route's
	// dialects want upstream.
	spell map[string]string
	// upstreamErrors counts the route's failed forwards by kind.
	upstreamErrors *prometheus.CounterVec
	// maxBody bounds a forwarded body (0: unbounded); tooLarge counts the
	// refusals.
	maxBody  int64
	tooLarge prometheus.Counter
	// token, when set, is the route's signed identity token.
	token *routeToken
	// rules, when set, decide who may pass (authorize).
	rules *authz.Rules
	// limit, when set, is the route's rate limit.
	limit *routeLimit
}

// routeLimit is a route's rate limit: burst requests per window, per key.
type routeLimit struct {
	window time.Duration
	burst  int64
	// key is subject, app_id, client_ip, or a header's canonical name.
	key, header string
	store       tokenstore.Counters
	now         func() time.Time
	refused     prometheus.Counter
}

// routeToken is how a route sends its upstream a signed identity token.
type routeToken struct {
	header   string
	audience string
	ttl      time.Duration
	// only: the token instead of the X-Auth-* identity headers.
	only   bool
	signer *idtoken.Signer
}

// forward sends r upstream, its body bounded by the route's
// max_body_bytes: a declared length over it is refused before anything
// is sent, a body that grows past it is cut and answered 413 (the
// upstream's request fails).
func (rt *route) forward(w http.ResponseWriter, r *http.Request) {
	if rt.maxBody > 0 && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > rt.maxBody {
			rt.bodyTooLarge(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, rt.maxBody)
	}
	rt.proxy.ServeHTTP(w, r)
}

// bodyTooLarge answers 413 in the route's envelope.
func (rt *route) bodyTooLarge(w http.ResponseWriter, r *http.Request) {
	rt.tooLarge.Inc()
	err := fmt.Errorf("route %s: body over max_body_bytes %d: %w", rt.name, rt.maxBody, dialects.ErrBodyTooLarge)
	if rt.answer(w, r, err) {
		return
	}
	writePlainJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body too large"})
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

// isEndpoint reports whether path is one of a shadow route's dialect
// endpoints.
func (rt *route) isEndpoint(path string) bool {
	if _, ok := rt.endpoints[path]; ok {
		return true
	}
	for p, prefix := range rt.endpoints {
		if prefix && strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

func (g *Builder) compileRoute(rc config.Route, instances map[string]dialects.Dialect, m *metrics, signer *idtoken.Signer) (*route, error) {
	rt := &route{
		name: rc.Name, host: rc.Host, prefix: rc.PathPrefix, methods: rc.Methods,
		names: rc.Dialects, public: rc.Public, shadow: rc.Mode == config.ModeShadow, legacyAnswers: rc.LegacyAnswers, maxBody: rc.MaxBodyBytes,
		headers: map[string]string{}, strip: map[string]bool{}, spell: map[string]string{}, log: g.log,
	}
	if rt.name == "" {
		rt.name = rc.PathPrefix
	}
	rules, problems := authz.Compile(rc.Authorize)
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	rt.rules = rules
	if l := rc.RateLimit; l != nil {
		burst := l.Burst
		if burst == 0 {
			burst = int64(math.Ceil(l.Rate))
		}
		rt.limit = &routeLimit{window: time.Duration(float64(burst) / l.Rate * float64(time.Second)), burst: burst,
			key: l.Key, store: g.store, now: g.o.Now, refused: m.limits.WithLabelValues("route_rate_limit")}
		if rt.limit.key == "" {
			rt.limit.key = "subject"
		}
		if h, ok := strings.CutPrefix(l.Key, "header:"); ok {
			rt.limit.key, rt.limit.header = "header", http.CanonicalHeaderKey(h)
		}
	}
	rt.upstreamErrors = m.upstreamErrors.MustCurryWith(prometheus.Labels{"route": rt.name})
	rt.tooLarge = m.limits.WithLabelValues("route_body_too_large")
	// Both kinds exist from the start, so an alert on their rate sees the
	// first failure.
	rt.upstreamErrors.WithLabelValues("unavailable")
	rt.upstreamErrors.WithLabelValues("timeout")
	for k, v := range defaultIdentityHeaders {
		rt.headers[k] = v
	}
	for k, v := range rc.IdentityHeaders {
		rt.headers[k] = http.CanonicalHeaderKey(v)
	}
	for _, h := range rt.headers {
		rt.strip[headerKey(h)] = true
	}
	if t := rc.IdentityToken; t != nil && signer.Enabled() {
		rt.token = &routeToken{header: http.CanonicalHeaderKey(t.Header), audience: t.Audience, ttl: t.TTL, only: t.Only, signer: signer}
		if rt.token.audience == "" {
			rt.token.audience = rt.name
		}
		if rt.token.ttl == 0 {
			rt.token.ttl = defaultTokenTTL
		}
		rt.strip[headerKey(t.Header)] = true
	}
	if rt.shadow {
		rt.endpoints = map[string]bool{}
		rt.readsUpstream = rt.legacyAnswers != nil && rt.legacyAnswers.Reads()
	}
	for _, n := range rc.Dialects {
		d := instances[n]
		rt.dialects = append(rt.dialects, d)
		if rt.shadow {
			for _, ep := range d.Endpoints() {
				rt.endpoints[ep.Path] = rt.endpoints[ep.Path] || ep.Prefix
			}
			if _, ok := d.(dialects.UpstreamReader); ok && rt.legacyAnswers == nil {
				rt.readsUpstream = true
			}
		}
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
		timeout = config.DefaultRouteTimeout
	}
	var transport http.RoundTripper
	if rc.Upstream == "echo" {
		transport = upstream.Echo{}
	} else {
		transport = upstream.NewTransport(timeout)
	}
	rewrite := rt.rewrite
	if rt.shadow {
		rewrite = forwarded
	}
	p, err := upstream.New(rc.Upstream, upstream.Options{
		StripPrefix:  rc.StripPrefix,
		Rewrite:      rewrite,
		ErrorHandler: rt.upstreamError,
		Transport:    timedTransport{next: transport, hist: m.upstreamDuration.WithLabelValues(rt.name), tracing: g.o.Tracing},
	})
	if err != nil {
		return nil, err
	}
	rt.proxy = p
	if rt.shadow {
		g.shadow.register(rt)
	}
	return rt, nil
}

// routeTable serves everything that is not a dialect endpoint.
func (g *Builder) routeTable(table []*route, m *metrics) http.HandlerFunc {
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
		if rt.shadow {
			g.shadow.serve(w, r, rt)
			return
		}
		if len(rt.methods) > 0 && !slices.Contains(rt.methods, r.Method) {
			w.Header().Set("Allow", strings.Join(rt.methods, ", "))
			if !rt.answer(w, r, dialects.ErrMethodNotAllowed) {
				writePlainJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
			}
			return
		}
		if rt.public {
			if err := rt.limited(r, dialects.Identity{}); err != nil {
				// A public route has no dialect and so no envelope.
				dialects.SetRetryAfter(w, err)
				writePlainJSON(w, dialects.Classify(err).Status(), map[string]string{"error": "too many requests"})
				return
			}
			rt.forward(w, r)
			return
		}
		// The decision is a span of its own beside the upstream's, both
		// children of the request's.
		ar := r
		var span trace.Span
		if g.o.Tracing.Enabled() && trace.SpanFromContext(r.Context()).IsRecording() {
			// Only within a sampled trace: an unsampled request costs
			// its one non-recording span and nothing more.
			var ctx context.Context
			ctx, span = g.o.Tracing.Tracer.Start(r.Context(), "authgate.authenticate")
			ar = r.WithContext(ctx)
		}
		i, id, err := rt.authenticate(ar)
		if err == nil {
			err = rt.authorize(ar, id)
		}
		if span != nil {
			// The decision, never a token.
			span.SetAttributes(attribute.String("authgate.dialect", rt.names[i]), attribute.String("authgate.result", dialects.Reason(err)))
			span.End()
		}
		in.dialect = rt.names[i]
		m.authDecisions.WithLabelValues(rt.names[i], dialects.Reason(err)).Inc()
		if dialects.Reason(err) == dialects.ReasonRefreshed {
			// The mmm 10026 answer: a refresh on a protected route.
			dialects.Audit(r.Context(), g.log.With("dialect", rt.names[i]), dialects.KindRefresh, "", in.clientIP, "ok", slog.String("via", "expired access token"))
		}
		if err != nil {
			rt.refuse(w, r, i, err)
			return
		}
		in.subject = id.Subject
		if err := rt.limited(r, id); err != nil {
			rt.refuse(w, r, i, err)
			return
		}
		if field, ok := sendable(id); !ok {
			// A directory value no header can carry (a line break in a
			// role): refused, never cut into a header of its own upstream.
			g.log.ErrorContext(r.Context(), "identity value cannot be sent as a header; request refused", "field", field, "dialect", rt.names[i])
			rt.refuse(w, r, i, fmt.Errorf("route %s: identity field %s is not a valid header value", rt.name, field))
			return
		}
		in.identity, in.authenticated = id, true
		if rt.token != nil {
			tok, err := rt.token.signer.Token(idtoken.Identity{Subject: id.Subject, Dialect: id.Dialect, SessionID: id.SessionID, Company: id.Company, Attrs: id.Attrs},
				rt.token.audience, rt.token.ttl)
			if err != nil {
				rt.refuse(w, r, i, fmt.Errorf("route %s: identity token: %w", rt.name, err))
				return
			}
			in.idToken = tok
		}
		rt.forward(w, r)
	}
}

// defaultTokenTTL is a route's identity token life when it sets none.
const defaultTokenTTL = 60 * time.Second

// sendable reports whether every identity value can be sent as a header
// value (RFC 9110 field-value: no CR, LF or NUL), and else which field
// cannot.
func sendable(id dialects.Identity) (string, bool) {
	// Fields one by one, not a map: this runs on every proxied request.
	for _, f := range [...]struct{ field, v string }{{"user_id", id.Subject}, {"company_id", id.Company}, {"session_id", id.SessionID}, {"dialect", id.Dialect}} {
		if !httpguts.ValidHeaderFieldValue(f.v) {
			return f.field, false
		}
	}
	for field, v := range id.Attrs {
		if !httpguts.ValidHeaderFieldValue(v) {
			return field, false
		}
	}
	return "", true
}

// authorize applies the route's rules to a request its dialect let pass:
// a refusal names the rule, in the log and (ReasonForbidden) in the
// decision metrics.
func (rt *route) authorize(r *http.Request, id dialects.Identity) error {
	if rt.rules == nil {
		return nil
	}
	ok, rule := rt.rules.Allow(authz.Input{Subject: id.Subject, Dialect: id.Dialect, Company: id.Company, Attrs: id.Attrs, Method: r.Method, Path: r.URL.Path})
	if ok {
		return nil
	}
	rt.log.InfoContext(r.Context(), "request refused by an authorization rule", "route", rt.name, "rule", rule, "dialect", id.Dialect)
	return dialects.Forbidden(rule)
}

// limited counts the request against the route's rate limit (nil when it
// has none, or the key is empty): a *dialects.RateLimited when the key is
// over it, answered 429 with Retry-After in the deciding dialect's
// envelope; a store that does not answer fails closed. A refused request
// is taken back, so a client hammering a limit does not stretch it.
func (rt *route) limited(r *http.Request, id dialects.Identity) error {
	l := rt.limit
	if l == nil {
		return nil
	}
	var key string
	switch l.key {
	case "subject":
		key = id.Dialect + ":" + id.Subject
	case "app_id":
		key = id.Attrs["app_id"]
	case "client_ip":
		key = dialects.ClientIP(r)
	case "header":
		key = r.Header.Get(l.header)
	}
	if key == "" {
		return nil
	}
	_, err := dialects.CountAttempt(r.Context(), l.store, rt.log, l.now(), dialects.Limit{
		Key: "route:" + rt.name + ":" + key, Window: l.window, Max: l.burst})
	var over *dialects.RateLimited
	if errors.As(err, &over) {
		l.refused.Inc()
		return fmt.Errorf("route %s: %w: %w", rt.name, dialects.ErrRouteRateLimited, err)
	}
	return err
}
