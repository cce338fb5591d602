package pipeline

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/idtoken"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/tokenstore"
)

// The admin API (admin block, deploy/admin-openapi.yaml): an operator ends
// sessions the gateway issued, on the admin listener, with a bearer token
// whose hash is in the config. Every call is audited (who, what, result)
// and counted. The store is the replicas' shared one, and every ending is
// published to the other replicas' session caches, so a change made here
// holds on every replica.

// adminActions are the admin API's own actions, for the metric's label;
// the dialects' calls (dialects.AdminRouter) add theirs when mounted.
var adminActions = []string{"list_sessions", "revoke_session", "revoke_subject", "kick_device"}

// newAdminCalls registers the admin API's counter, every action's ok and
// the refusals from the start.
func newAdminCalls(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_admin_requests_total",
		Help: "Admin API calls by action and result (ok, not_found, store_unavailable, error; action any, result unauthorized: no valid token, rate_limited: too many failures from the address, store_unavailable).",
	}, []string{"action", "result"})
	reg.MustRegister(c)
	c.WithLabelValues("any", "unauthorized")
	c.WithLabelValues("any", "rate_limited")
	for _, a := range adminActions {
		c.WithLabelValues(a, "ok")
	}
	return c
}

// adminAPI serves /admin/v1/.
type adminAPI struct {
	tokens   []config.AdminToken
	verify   identity.Verifier
	store    tokenstore.Store
	dialects map[string]bool
	// calls are the dialects' own admin calls, by method and path (under
	// /dialects/{dialect}), then by instance name.
	dialectCalls map[string]map[string]dialects.AdminRoute
	now          func() time.Time
	log          *slog.Logger
	calls        *prometheus.CounterVec
	// failureLimit failed authentications per client address per
	// failureWindow; then 429.
	failureLimit  int64
	failureWindow time.Duration
}

type adminCallerKey struct{}

// mount adds the admin API's routes to r.
func (a *adminAPI) mount(r chi.Router) {
	r.Route("/admin/v1", func(r chi.Router) {
		r.Use(a.authenticate)
		r.Get("/dialects/{dialect}/subjects/{subject}/sessions", a.listSessions)
		r.Delete("/dialects/{dialect}/subjects/{subject}/sessions", a.revokeSubject)
		r.Delete("/dialects/{dialect}/subjects/{subject}/devices/{device}", a.kickDevice)
		r.Delete("/dialects/{dialect}/sessions/{id}", a.revokeSession)
		for key := range a.dialectCalls {
			method, path, _ := strings.Cut(key, " ")
			r.Method(method, "/dialects/{dialect}"+path, a.dialectCall(key))
		}
	})
}

// authenticate admits a request whose bearer token matches a configured
// digest (or, of the old form, hash), and names its caller; others get
// 401, audited and counted. Each attempt is counted against its client
// address first, as logins are, and taken back when it succeeds: past
// failure_limit failures in failure_window an address gets 429 with
// Retry-After, before any hash is checked.
func (a *adminAPI) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		counted, err := dialects.CountAttempt(ctx, a.store, a.log, a.now(), dialects.Limit{
			Key: "admin:fail:" + clientAddr(r), Window: a.failureWindow, Max: a.failureLimit,
		})
		var limited *dialects.RateLimited
		switch {
		case errors.As(err, &limited):
			a.done(r, "unauthorized", "rate_limited", "", "")
			w.Header().Set("Retry-After", dialects.RetryAfter(limited.Wait))
			writePlainJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many failed admin authentications from this address; retry later"})
			return
		case err != nil:
			a.done(r, "unauthorized", "store_unavailable", "", "")
			writePlainJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the token store does not answer"})
			return
		}
		token, ok := dialects.BearerToken(r, "Authorization")
		name := ""
		if ok && token != "" {
			name = a.caller(r.Context(), token)
		}
		if name == "" {
			a.done(r, "unauthorized", "", "", "")
			w.Header().Set("WWW-Authenticate", `Bearer realm="authgate admin"`)
			writePlainJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid admin bearer token is required"})
			return
		}
		counted.Release(ctx, a.log)
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, adminCallerKey{}, name)))
	})
}

// caller is the name of the admin token matching token, or "". Digests
// are compared first, every one of them, in constant time; a token of the
// old hash form costs a slow check, under the shared bound (a busy bound
// is no match).
func (a *adminAPI) caller(ctx context.Context, token string) string {
	name, digest := "", []byte(identity.DigestToken(token))
	for _, t := range a.tokens {
		if identity.IsTokenDigest(t.Hash) && subtle.ConstantTimeCompare([]byte(t.Hash), digest) == 1 && name == "" {
			name = t.Name
		}
	}
	if name != "" {
		return name
	}
	for _, t := range a.tokens {
		if identity.IsTokenDigest(t.Hash) {
			continue
		}
		if match, err := a.verify(ctx, t.Hash, token); err == nil && match {
			return t.Name
		}
	}
	return ""
}

// clientAddr is the host of the admin request's peer: the admin listener
// is private, so no forwarded header is believed there.
func clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// done counts and audits one call: action (one of adminActions, or
// unauthorized), its result, and what it was about.
func (a *adminAPI) done(r *http.Request, action, result, dialect, subject string, attrs ...slog.Attr) {
	caller, _ := r.Context().Value(adminCallerKey{}).(string)
	if action == "unauthorized" {
		action = "any"
		if result == "" {
			result = "unauthorized"
		}
	}
	a.calls.WithLabelValues(action, result).Inc()
	attrs = append(attrs, slog.String("admin", caller), slog.String("dialect", dialect))
	dialects.Audit(r.Context(), a.log, "admin."+action, subject, r.RemoteAddr, result, attrs...)
}

// target reads the path's dialect (which must be configured) and subject.
func (a *adminAPI) target(w http.ResponseWriter, r *http.Request, action string) (dialect, subject string, ok bool) {
	dialect, subject = chi.URLParam(r, "dialect"), chi.URLParam(r, "subject")
	if !a.dialects[dialect] {
		a.done(r, action, "not_found", dialect, subject)
		writePlainJSON(w, http.StatusNotFound, map[string]string{"error": "no dialect instance named " + dialect})
		return "", "", false
	}
	return dialect, subject, true
}

// failed answers a store error: 503 when the store did not answer.
func (a *adminAPI) failed(w http.ResponseWriter, r *http.Request, action, dialect, subject string, err error) {
	result, status := "error", http.StatusInternalServerError
	if errors.Is(err, tokenstore.ErrUnavailable) {
		result, status = "store_unavailable", http.StatusServiceUnavailable
	}
	a.done(r, action, result, dialect, subject)
	a.log.ErrorContext(r.Context(), "admin call failed", "action", action, "err", err)
	writePlainJSON(w, status, map[string]string{"error": strings.ReplaceAll(result, "_", " ")})
}

// adminSession is a session as the admin API shows it: never a token.
type adminSession struct {
	ID        string    `json:"id"`
	Device    string    `json:"device"`
	Company   string    `json:"company"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	ExpiresAt time.Time `json:"expires_at"`
}

// listSessions is GET .../subjects/{subject}/sessions.
func (a *adminAPI) listSessions(w http.ResponseWriter, r *http.Request) {
	dialect, subject, ok := a.target(w, r, "list_sessions")
	if !ok {
		return
	}
	sessions, err := a.store.SubjectSessions(r.Context(), dialect, subject, a.now())
	if err != nil {
		a.failed(w, r, "list_sessions", dialect, subject, err)
		return
	}
	out := make([]adminSession, 0, len(sessions))
	for _, s := range sessions {
		out = append(out, adminSession{ID: s.ID, Device: s.Device, Company: s.Company,
			CreatedAt: s.CreatedAt.UTC(), LastSeen: s.LastSeen.UTC(), ExpiresAt: s.ExpiresAt.UTC()})
	}
	a.done(r, "list_sessions", "ok", dialect, subject)
	writePlainJSON(w, http.StatusOK, map[string]any{"dialect": dialect, "subject": subject, "sessions": out})
}

// revokeSubject is DELETE .../subjects/{subject}/sessions: logout
// everywhere.
func (a *adminAPI) revokeSubject(w http.ResponseWriter, r *http.Request) {
	dialect, subject, ok := a.target(w, r, "revoke_subject")
	if !ok {
		return
	}
	n, err := a.store.RevokeSubject(r.Context(), dialect, subject, a.now())
	if err != nil {
		a.failed(w, r, "revoke_subject", dialect, subject, err)
		return
	}
	a.done(r, "revoke_subject", "ok", dialect, subject, slog.Int("revoked", n))
	writePlainJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// kickDevice is DELETE .../subjects/{subject}/devices/{device}: every
// session of the subject on that device ends.
func (a *adminAPI) kickDevice(w http.ResponseWriter, r *http.Request) {
	dialect, subject, ok := a.target(w, r, "kick_device")
	if !ok {
		return
	}
	device := chi.URLParam(r, "device")
	sessions, err := a.store.SubjectSessions(r.Context(), dialect, subject, a.now())
	if err != nil {
		a.failed(w, r, "kick_device", dialect, subject, err)
		return
	}
	n := 0
	for _, s := range sessions {
		if s.Device != device {
			continue
		}
		if err := a.store.RevokeSession(r.Context(), s.ID); err != nil {
			a.failed(w, r, "kick_device", dialect, subject, err)
			return
		}
		n++
	}
	a.done(r, "kick_device", "ok", dialect, subject, slog.String("device", device), slog.Int("revoked", n))
	writePlainJSON(w, http.StatusOK, map[string]int{"revoked": n})
}

// revokeSession is DELETE .../sessions/{id}: one session of the dialect
// ends; 404 when the dialect has no such live session.
func (a *adminAPI) revokeSession(w http.ResponseWriter, r *http.Request) {
	dialect, _, ok := a.target(w, r, "revoke_session")
	if !ok {
		return
	}
	id := chi.URLParam(r, "id")
	s, err := a.store.Session(r.Context(), id, a.now())
	if errors.Is(err, tokenstore.ErrNotFound) || (err == nil && s.Dialect != dialect) {
		a.done(r, "revoke_session", "not_found", dialect, "", slog.String("session", id))
		writePlainJSON(w, http.StatusNotFound, map[string]string{"error": "no live session " + id + " of dialect " + dialect})
		return
	}
	if err == nil {
		err = a.store.RevokeSession(r.Context(), id)
	}
	if err != nil {
		a.failed(w, r, "revoke_session", dialect, s.Subject, err)
		return
	}
	a.done(r, "revoke_session", "ok", dialect, s.Subject, slog.String("session", id))
	writePlainJSON(w, http.StatusOK, map[string]int{"revoked": 1})
}

// addDialectCalls takes the admin calls of instance name (a
// dialects.AdminRouter) and makes their series exist from the start.
func (a *adminAPI) addDialectCalls(name string, routes []dialects.AdminRoute) {
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		if a.dialectCalls[key] == nil {
			a.dialectCalls[key] = map[string]dialects.AdminRoute{}
		}
		a.dialectCalls[key][name] = rt
		a.calls.WithLabelValues(rt.Action, "ok")
	}
}

// dialectCall serves a dialect's own admin call (method and path in key)
// for the path's dialect instance: 404 for an instance without it; the
// dialect's answer, audited and counted, otherwise.
func (a *adminAPI) dialectCall(key string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		dialect := chi.URLParam(r, "dialect")
		rt, ok := a.dialectCalls[key][dialect]
		if !ok {
			action := ""
			for _, other := range a.dialectCalls[key] {
				action = other.Action
			}
			a.done(r, action, "not_found", dialect, "")
			writePlainJSON(w, http.StatusNotFound, map[string]string{"error": "no dialect instance named " + dialect + " serves this call"})
			return
		}
		ans := rt.Serve(r)
		if ans.Err != nil {
			a.failed(w, r, rt.Action, dialect, ans.Target, ans.Err)
			return
		}
		a.done(r, rt.Action, ans.Result, dialect, ans.Target, ans.Attrs...)
		writePlainJSON(w, ans.Status, ans.Body)
	}
}

func (g *Builder) buildAdmin(cfg *config.Config, instances map[string]dialects.Dialect, verify identity.Verifier, signer *idtoken.Signer) chi.Router {
	r := chi.NewRouter()
	if len(cfg.Admin.Tokens) > 0 {
		api := &adminAPI{tokens: cfg.Admin.Tokens, verify: verify, store: g.store, dialects: map[string]bool{},
			now: g.o.Now, log: g.log.With("component", "admin"), calls: g.adminCalls,
			failureLimit: cfg.Admin.FailureLimit, failureWindow: cfg.Admin.FailureWindow}
		api.dialectCalls = map[string]map[string]dialects.AdminRoute{}
		for name, d := range instances {
			api.dialects[name] = true
			if ar, ok := d.(dialects.AdminRouter); ok {
				api.addDialectCalls(name, ar.AdminRoutes())
			}
		}
		api.mount(r)
	}
	// OpenMetrics when the scraper asks for it: the latency histograms'
	// exemplars (trace ids) travel only there.
	r.Handle("/metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	if signer.Enabled() {
		r.Handle(jwksPath, signer.JWKS())
	}
	if cfg.Admin.Pprof {
		r.Mount("/debug", middleware.Profiler())
	}
	getOrHead := func(path string, h http.HandlerFunc) {
		r.Get(path, h)
		r.Head(path, h)
	}
	getOrHead("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writePlainJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	getOrHead("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if g.draining.Load() {
			writePlainJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining", "store": g.storeDriver})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := g.store.Ping(ctx); err != nil {
			g.log.Warn("readiness: store unreachable", "err", err)
			writePlainJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "store": g.storeDriver})
			return
		}
		writePlainJSON(w, http.StatusOK, map[string]string{"status": "ready", "store": g.storeDriver})
	})
	return r
}
