package pipeline

import (
	"bytes"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"

	"github.com/authgate/authgate/tracing"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Default identity header names; a route's identity_headers renames them.
var defaultIdentityHeaders = map[string]string{
	"user_id":    "X-Auth-User-Id",
	"company_id": "X-Auth-Company-Id",
	"dialect":    "X-Auth-Dialect",
	"session_id": "X-Auth-Session-Id",
}

// headerKey normalises a header name the way permissive backends do
// (CGI maps X_Auth_User and X-Auth-User to one variable), so spoofing by
// spelling is stripped too.
func headerKey(h string) string { return string(appendHeaderKey(nil, h)) }

// appendHeaderKey appends headerKey(h) to buf: on the hot path into a
// buffer on the stack, since every header of every request is looked at
// (header names are ASCII tokens; net/http refuses others).
func appendHeaderKey(buf []byte, h string) []byte {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf
}

// rewrite prepares the outbound request: identity headers are the
// gateway's alone, and tokens never reach the backend.
func (rt *route) rewrite(pr *httputil.ProxyRequest) {
	var buf [64]byte
	for k := range pr.Out.Header {
		hk := appendHeaderKey(buf[:0], k)
		if bytes.HasPrefix(hk, []byte("x-auth-")) || rt.strip[string(hk)] {
			delete(pr.Out.Header, k)
		}
	}
	for canon, spelled := range rt.spell {
		if v, ok := pr.Out.Header[canon]; ok && canon != spelled {
			delete(pr.Out.Header, canon)
			pr.Out.Header[spelled] = v
		}
	}
	forwarded(pr)
	in := info(pr.In)
	if !in.authenticated {
		return
	}
	id := &in.identity
	if rt.token != nil {
		pr.Out.Header[rt.token.header] = []string{in.idToken}
		if rt.token.only {
			return
		}
	}
	// One backing array for the identity headers' values, each header a
	// one-element slice of it (capped, so an Add cannot run into the next).
	vals := make([]string, 0, 4+len(id.Attrs))
	one := func(v string) []string {
		vals = append(vals, v)
		n := len(vals)
		return vals[n-1 : n : n]
	}
	set := func(field, value string) {
		if value != "" {
			pr.Out.Header[rt.headers[field]] = one(value)
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
			pr.Out.Header[name] = one(v)
		}
	}
}

// traceHeaders are the W3C trace context headers; with tracing on, the
// upstream receives the gateway's, never a client's.
var traceHeaders = []string{"Traceparent", "Tracestate", "Baggage"}

// setByGateway are the forwarding headers httputil's SetXForwarded sets
// on every forward (from the peer, or the trusted chain).
var setByGateway = map[string]bool{"X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true}

// forwarded sets what every forward carries, on enforce and shadow routes
// alike: the trusted X-Forwarded-* chain and the request id. It is all a
// shadow route adds to a request.
func forwarded(pr *httputil.ProxyRequest) {
	in := info(pr.In)
	// Forwarding headers are the gateway's to set: any other (X-Forwarded-
	// Prefix, -Uri, -Port, Forwarded, X-Real-Ip), and any spelling of them
	// (X_Forwarded_For, which CGI and WSGI backends read as
	// X-Forwarded-For: GHSA-vjrc-mh2v-45x6), does not reach the upstream,
	// whoever sent it: a trusted proxy passes on what its own client sent
	// as often as not (CVE-2026-35051). The trusted chain of
	// X-Forwarded-For and -Proto is rebuilt below.
	var buf [64]byte
	for k := range pr.Out.Header {
		hk := appendHeaderKey(buf[:0], k)
		if (bytes.HasPrefix(hk, []byte("x-forwarded-")) || string(hk) == "forwarded" || string(hk) == "x-real-ip") && !setByGateway[k] {
			delete(pr.Out.Header, k)
		}
	}
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
}

// timedTransport observes the time to the upstream's response headers
// and, with tracing on, is the upstream round trip's client span, whose
// trace context the upstream receives (traceparent), so a backend's spans
// join the gateway's.
type timedTransport struct {
	next    http.RoundTripper
	hist    interface{ Observe(float64) }
	tracing *tracing.Tracing
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	var span trace.Span
	if t.tracing.Enabled() {
		ctx := r.Context()
		if trace.SpanFromContext(ctx).IsRecording() {
			ctx, span = t.tracing.Tracer.Start(ctx, "upstream", trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("server.address", r.URL.Host)))
			r = r.WithContext(ctx)
		}
		// Only the gateway's trace context reaches the upstream (the
		// upstream span's, or an unsampled request's own): a client's own
		// is dropped, a trusted proxy's is its parent.
		for _, h := range traceHeaders {
			delete(r.Header, h)
		}
		t.tracing.Propagator.Inject(ctx, propagation.HeaderCarrier(r.Header))
	}
	resp, err := t.next.RoundTrip(r)
	t.hist.Observe(time.Since(start).Seconds())
	if span != nil {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		} else {
			span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		}
		span.End()
	}
	return resp, err
}
