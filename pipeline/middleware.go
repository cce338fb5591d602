package pipeline

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/tracing"
	"github.com/authgate/authgate/upstream"
)

// recoverer turns a handler panic into a 500 and a log line, instead of
// a dropped connection and a crashed goroutine's stack on stderr.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error("panic serving request", "panic", v, "stack", string(debug.Stack()))
					writePlainJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// trustedPrefixes reads server.trusted_proxies (validated: addresses and
// CIDRs) as netip prefixes, so a peer's address is read and matched
// without an allocation, once per request. A 4in6 prefix becomes the IPv4
// one it covers and addresses are unmapped, as net.IPNet.Contains matched.
func trustedPrefixes(cidrs []string) []netip.Prefix {
	prefixes := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		n, _ := config.ParseCIDR(c)
		addr, _ := netip.AddrFromSlice(n.IP)
		ones, _ := n.Mask.Size()
		if addr.Is4In6() && len(n.Mask) == net.IPv6len {
			ones = max(ones-96, 0)
		}
		prefixes = append(prefixes, netip.PrefixFrom(addr.Unmap(), ones).Masked())
	}
	return prefixes
}

// withRequestInfo starts the request's info: its id (the client's
// X-Request-Id when it is short and plain, else a new one) and its client
// address, read from X-Forwarded-For only behind a trusted proxy.
func withRequestInfo(trusted []netip.Prefix) func(http.Handler) http.Handler {
	isTrusted := func(s string) bool {
		addr, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		addr = addr.Unmap()
		for _, p := range trusted {
			if p.Contains(addr) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.TLS == nil {
				// A guarded HTTP/1.1 connection over TLS (framing.TLSListener).
				if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
					r.TLS = st
				}
			}
			in := &requestInfo{id: r.Header.Get("X-Request-Id")}
			if !plainID(in.id) {
				in.id = dialects.NewID()
			}
			peer, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				peer = r.RemoteAddr
			}
			in.clientIP = peer
			if isTrusted(peer) {
				in.trustedPeer = true
				// The client is the rightmost address not of a trusted proxy.
				hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
				for i := len(hops) - 1; i >= 0; i-- {
					hop := strings.TrimSpace(hops[i])
					if hop == "" {
						continue
					}
					if addr, err := netip.ParseAddr(hop); err != nil || addr.Zone() != "" {
						break
					}
					in.clientIP = hop
					if !isTrusted(hop) {
						break
					}
				}
			}
			w.Header().Set("X-Request-Id", in.id)
			ctx := context.WithValue(r.Context(), infoKey, in)
			ctx = dialects.WithClientIP(ctx, in.clientIP)
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

func plainID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// accessLog writes one JSON line per request and counts it. It logs the
// path without its query (a query may carry a token) and never a header.
func accessLog(log *slog.Logger, m *metrics, tr *tracing.Tracing) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			var span trace.Span
			if tr.Enabled() {
				r, span = startRequestSpan(tr, r)
			}
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			in := info(r)
			logged := log.Enabled(r.Context(), slog.LevelInfo)
			traceID := ""
			if span != nil {
				endRequestSpan(span, in, status)
				if logged || span.SpanContext().IsSampled() {
					traceID = span.SpanContext().TraceID().String()
				}
			}
			d := time.Since(start)
			route := in.route
			if route == "" {
				route = "none"
			}
			m.requests.WithLabelValues(route, in.dialect, statusLabel(status)).Inc()
			obs := m.requestDuration.WithLabelValues(route)
			if eo, ok := obs.(prometheus.ExemplarObserver); ok && span != nil && span.SpanContext().IsSampled() {
				// The trace of a slow request, one click from the
				// histogram's bucket (OpenMetrics exemplars).
				eo.ObserveWithExemplar(d.Seconds(), prometheus.Labels{"trace_id": traceID})
			} else {
				obs.Observe(d.Seconds())
			}
			if !logged {
				return
			}
			log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("request_id", in.id),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", route),
				slog.String("dialect", in.dialect),
				slog.String("subject", in.subject),
				slog.String("client_ip", in.clientIP),
				slog.Int("status", status),
				slog.Int("bytes", ww.BytesWritten()),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000),
				slog.String("trace_id", traceID),
			)
		})
	}
}

// canonicalPath replaces the request path with its canonical form before
// anything matches on it, so "/v1/%2e%2e/admin" is "/admin" to the route
// table and to the upstream alike; paths that cannot be read one way only
// are refused.
func canonicalPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		canon, err := upstream.Canonicalize(r.URL.EscapedPath())
		if err != nil {
			writePlainJSON(w, http.StatusBadRequest, map[string]string{"error": "request path refused: encoded separators, control characters, double encoding or a climb above the root"})
			return
		}
		r.URL.Path = canon
		r.URL.RawPath = ""
		next.ServeHTTP(w, r)
	})
}

// requestIDHandler adds the request id to every log record made with a
// request's context (a dialect's error line, a store warning), so an
// operator can find the access-log line and the error of one request
// together.
type requestIDHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if in, ok := ctx.Value(infoKey).(*requestInfo); ok && in.id != "" && rec.Message != "request" {
		rec.AddAttrs(slog.String("request_id", in.id))
	}
	return h.Handler.Handle(ctx, rec)
}

// WithAttrs implements slog.Handler.
func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

type tlsStateKey struct{}

// WithTLSState keeps the TLS state of a connection that the framing guard
// wraps (the server sees no *tls.Conn there), for withRequestInfo to give
// the request back its r.TLS.
func WithTLSState(ctx context.Context, c net.Conn) context.Context {
	if s, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		if _, isTLS := c.(*tls.Conn); !isTLS {
			st := s.ConnectionState()
			return context.WithValue(ctx, tlsStateKey{}, &st)
		}
	}
	return ctx
}

// startRequestSpan starts the request's server span: the child of a
// trusted proxy's trace context (the same trust rule as X-Forwarded-*),
// else a new trace's root; a client's own traceparent is never believed.
// Its attributes are set only on a span that records: at 1 % sampling the
// other 99 % of requests would build them for nothing.
func startRequestSpan(tr *tracing.Tracing, r *http.Request) (*http.Request, trace.Span) {
	ctx := r.Context()
	if info(r).trustedPeer {
		ctx = tr.Propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	ctx, span := tr.Tracer.Start(ctx, spanName(r.Method), serverSpan)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path))
	}
	return r.WithContext(ctx), span
}

// serverSpan is the request span's kind as a start option, made once (as
// an interface value it was an allocation per request).
var serverSpan trace.SpanStartOption = trace.WithSpanKind(trace.SpanKindServer)

// spanNames are the request spans' names of the common methods, made once.
var spanNames = map[string]string{"GET": "HTTP GET", "HEAD": "HTTP HEAD", "POST": "HTTP POST", "PUT": "HTTP PUT",
	"PATCH": "HTTP PATCH", "DELETE": "HTTP DELETE", "OPTIONS": "HTTP OPTIONS"}

func spanName(method string) string {
	if n, ok := spanNames[method]; ok {
		return n
	}
	return "HTTP " + method
}

// endRequestSpan records what the request came to: its route, deciding
// dialect and status (never a credential or a subject).
func endRequestSpan(span trace.Span, in *requestInfo, status int) {
	if span.IsRecording() {
		span.SetAttributes(attribute.String("http.route", in.route), attribute.String("authgate.dialect", in.dialect),
			attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
	}
	span.End()
}
