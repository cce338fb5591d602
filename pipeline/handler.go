package pipeline

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/idtoken"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authgate/authgate/dialects"
)

// jwksPath serves the identity tokens' public keys (a JWKS).
const jwksPath = "/.well-known/jwks.json"

type ctxKey int

// infoKey holds a request's *requestInfo.
const infoKey ctxKey = 0

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
	// idToken is the signed identity token the route sends upstream.
	idToken string
	// identity is who the route's dialect authenticated (authenticated
	// says whether one did): kept here rather than in a context value of
	// its own, which cost a copy of the request each.
	identity      dialects.Identity
	authenticated bool
}

func info(r *http.Request) *requestInfo {
	if i, ok := r.Context().Value(infoKey).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

func (g *Builder) buildHandler(cfg *config.Config, instances map[string]dialects.Dialect, signer *idtoken.Signer) (http.Handler, error) {
	m := g.m
	trusted := trustedPrefixes(cfg.Server.TrustedProxies)

	table := make([]*route, 0, len(cfg.Routes))
	for i, rc := range cfg.Routes {
		rt, err := g.compileRoute(rc, instances, m, signer)
		if err != nil {
			return nil, &config.ConfigError{Problems: []string{fmt.Sprintf("routes[%d]: %v", i, err)}}
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
	r.Use(recoverer(g.log), withRequestInfo(trusted), accessLog(g.log, m, g.o.Tracing), canonicalPath)
	mounted := map[string]string{}
	if signer.Enabled() {
		// The identity tokens' public keys, for the upstreams (and the
		// admin listener); no route can take the path.
		r.Handle(jwksPath, signer.JWKS())
		mounted[jwksPath] = "identity_token"
	}
	names := make([]string, 0, len(instances))
	for name := range instances {
		// The endpoints of a dialect on shadow routes are the legacy
		// service's: they pass through to it (validation keeps such a
		// dialect off enforce routes).
		if !cfg.Shadowed(name) {
			names = append(names, name)
		}
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
			if ep.Kind == dialects.KindLogin {
				// Every result's series exists from the start, so an alert
				// on a rate sees the first failure.
				for _, result := range dialects.LoginResults {
					m.logins.WithLabelValues(name, result)
				}
			}
		}
		for path, eps := range byPath {
			h := g.endpointHandler(name, d, eps, m, cfg.Server.EndpointReadTimeout)
			r.HandleFunc(path, h)
			if slices.ContainsFunc(eps, func(ep dialects.Endpoint) bool { return ep.Prefix }) {
				r.HandleFunc(strings.TrimSuffix(path, "/")+"/*", h)
			}
		}
	}
	if len(problems) > 0 {
		return nil, &config.ConfigError{Problems: problems}
	}
	r.NotFound(g.routeTable(table, m))
	r.MethodNotAllowed(g.routeTable(table, m))
	return r, nil
}

// endpointHandler serves a dialect's auth endpoint, answering other
// methods in the dialect's envelope. An endpoint with a Kind is audited:
// its outcome (noted by the dialect) is counted for logins and written as
// one audit line.
func (g *Builder) endpointHandler(name string, d dialects.Dialect, eps []dialects.Endpoint, m *metrics, readTimeout time.Duration) http.HandlerFunc {
	log := g.log.With("dialect", name)
	allow := make([]string, 0, len(eps))
	serve := make([]http.HandlerFunc, len(eps))
	for i, ep := range eps {
		allow = append(allow, ep.Method)
		serve[i] = dialects.Serve(d, log, ep.Handler)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		// The body must arrive within readTimeout; once read, the
		// connection's deadline is lifted again.
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(readTimeout)) == nil {
			r.Body = &deadlineBody{ReadCloser: r.Body, lift: func() { _ = rc.SetReadDeadline(time.Time{}) }, timedOut: m.limits.WithLabelValues("endpoint_read_timeout")}
		}
		in := info(r)
		in.route = "auth:" + name
		in.dialect = name
		for i, ep := range eps {
			if r.Method != ep.Method {
				continue
			}
			h := serve[i]
			if ep.Kind == "" {
				h(w, r)
				return
			}
			ctx, out := dialects.WithOutcome(r.Context())
			h(w, r.WithContext(ctx))
			result := dialects.Result(out.Err)
			if ep.Kind == dialects.KindLogin {
				m.logins.WithLabelValues(name, result).Inc()
			}
			in.subject = out.Subject
			dialects.Audit(r.Context(), g.log.With("dialect", name), ep.Kind, out.Subject, in.clientIP, result)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		dialects.WriteError(w, r, d, log, dialects.ErrMethodNotAllowed)
	}
}

// deadlineBody lifts the connection's read deadline once the body has
// been read whole, and counts a body that did not arrive in time. A body
// left unread keeps the deadline: the server discards what is left of it
// before it answers, and a client trickling it must not hold the answer
// (and the connection) for longer than the deadline.
type deadlineBody struct {
	io.ReadCloser
	lift     func()
	timedOut prometheus.Counter
	once     sync.Once
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		b.once.Do(b.lift)
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.timedOut.Inc()
	}
	return n, err
}
