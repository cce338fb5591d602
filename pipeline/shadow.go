package pipeline

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/tokenstore"
)

// Shadow mode: a route in `mode: shadow` forwards every request exactly
// as it came (credentials kept, no identity headers, the client's own
// X-Auth-* untouched) and checks its credentials on the side, comparing
// the verdict with what the upstream (the legacy service) answered.
//
// The check runs off the request path: a goroutine starts it while the
// request is forwarded, so the store round trip it costs is never added
// to the answer's latency; the comparison is made once both are done. At
// most shadowMaxChecks run at once; a request beyond that is forwarded
// unchecked and counted as skipped, so a slow store cannot pile up
// goroutines.
const (
	shadowMaxChecks = 512
	// shadowCheckTimeout bounds one check; one that runs out is a
	// store_unavailable verdict (inconclusive).
	shadowCheckTimeout = 2 * time.Second
	// shadowBodyBytes is how much of an upstream's answer is kept for a
	// dialect that reads its verdict from the body (mmm's code).
	shadowBodyBytes = 4 << 10
)

// shadowMetrics are the series of shadow mode.
type shadowMetrics struct {
	verdicts      *prometheus.CounterVec
	agreement     *prometheus.CounterVec
	disagreements *prometheus.CounterVec
	skipped       *prometheus.CounterVec
}

func newShadowMetrics(reg prometheus.Registerer) *shadowMetrics {
	m := &shadowMetrics{
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_shadow_verdicts_total",
			Help: "Shadow checks, by route, deciding dialect, the gateway's verdict (allow or the refusal's reason) and the upstream's answer (2xx, 401, 403, other, or the dialect's code).",
		}, []string{"route", "dialect", "gateway", "upstream"}),
		agreement: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_shadow_agreement_total",
			Help: "Shadow checks by route, deciding dialect and result: agree, disagree, or inconclusive (the upstream's answer or the store said nothing about the credentials).",
		}, []string{"route", "dialect", "result"}),
		disagreements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_shadow_disagreements_total",
			Help: "Shadow checks whose verdict the upstream's answer contradicts, by route, deciding dialect, the gateway's verdict and the upstream's answer.",
		}, []string{"route", "dialect", "gateway", "upstream"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_shadow_checks_skipped_total",
			Help: "Shadow-route requests forwarded without a check because too many checks were already running, by route.",
		}, []string{"route"}),
	}
	reg.MustRegister(m.verdicts, m.agreement, m.disagreements, m.skipped)
	return m
}

// agreementResults are the results of a shadow check.
var agreementResults = []string{"agree", "disagree", "inconclusive"}

// register makes the series of a shadow route exist from the start, so a
// dashboard or an alert on their rate sees the first check.
func (s *shadow) register(rt *route) {
	s.m.skipped.WithLabelValues(rt.name)
	for _, d := range rt.names {
		for _, r := range agreementResults {
			s.m.agreement.WithLabelValues(rt.name, d, r)
		}
	}
}

// shadow holds what the shadow routes share: the bound on checks running
// at once, the metrics and the log.
type shadow struct {
	slots chan struct{}
	m     *shadowMetrics
	log   *slog.Logger
}

func newShadow(reg prometheus.Registerer, log *slog.Logger) *shadow {
	return &shadow{slots: make(chan struct{}, shadowMaxChecks), m: newShadowMetrics(reg), log: log}
}

// verdict is one shadow check's outcome.
type verdict struct {
	dialect int
	reason  string
}

// serve forwards r on the shadow route rt and checks it on the side.
func (s *shadow) serve(w http.ResponseWriter, r *http.Request, rt *route) {
	if rt.isEndpoint(r.URL.Path) {
		rt.proxy.ServeHTTP(w, r)
		return
	}
	checked := s.check(r, rt)
	if checked == nil {
		rt.proxy.ServeHTTP(w, r)
		return
	}
	ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
	var body *headBuffer
	if rt.readsUpstream {
		body = &headBuffer{max: shadowBodyBytes}
		ww.Tee(body)
	}
	rt.proxy.ServeHTTP(ww, r)
	a := answer{status: ww.Status(), contentType: ww.Header().Get("Content-Type")}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if body != nil {
		a.body = body.b
	}
	// The check has usually finished by now (its store read is shorter
	// than the upstream's answer); if not, it is waited for elsewhere.
	select {
	case v := <-checked:
		s.record(r.Context(), rt, v, a)
	default:
		go func() { s.record(r.Context(), rt, <-checked, a) }()
	}
}

// answer is what the upstream answered a shadow route's request.
type answer struct {
	status      int
	contentType string
	// body is the answer's first shadowBodyBytes, kept only for a dialect
	// that reads its verdict from the body.
	body []byte
}

// check starts the credential check of r in a goroutine of its own, on a
// copy of the request under a shadow context (no store writes), detached
// from the request's cancellation; nil when no slot is free.
func (s *shadow) check(r *http.Request, rt *route) <-chan verdict {
	select {
	case s.slots <- struct{}{}:
	default:
		s.m.skipped.WithLabelValues(rt.name).Inc()
		return nil
	}
	// Check leaves no trace by the dialect contract; the store refuses
	// writes under the read-only context besides, should a dialect break it.
	ctx, cancel := context.WithTimeout(tokenstore.ReadOnly(context.WithoutCancel(r.Context())), shadowCheckTimeout)
	cr := r.Clone(ctx)
	cr.Body = http.NoBody
	out := make(chan verdict, 1)
	go func() {
		defer func() { <-s.slots }()
		defer cancel()
		i, id, err := rt.decide(cr, dialects.Dialect.Check)
		if err == nil {
			err = rt.authorize(cr, id)
		}
		out <- verdict{dialect: i, reason: dialects.Reason(err)}
	}()
	return out
}

// record counts a check's verdict against the upstream's answer; a
// disagreement is also logged (route, dialect, reason, status; never a
// credential).
func (s *shadow) record(ctx context.Context, rt *route, v verdict, a answer) {
	d := rt.dialects[v.dialect]
	var up dialects.UpstreamAnswer
	if ur, ok := d.(dialects.UpstreamReader); rt.legacyAnswers != nil {
		up = rt.legacyAnswers.Read(a.status, a.body)
	} else if ok {
		up = ur.ReadUpstream(a.status, http.Header{"Content-Type": {a.contentType}}, a.body)
	} else {
		up = dialects.StatusAnswer(a.status)
	}
	gw := v.reason
	if gw == "ok" {
		gw = "allow"
	}
	name := rt.names[v.dialect]
	s.m.verdicts.WithLabelValues(rt.name, name, gw, up.Label).Inc()
	result := dialects.Agreement(v.reason, up)
	s.m.agreement.WithLabelValues(rt.name, name, result).Inc()
	if result == "disagree" {
		s.m.disagreements.WithLabelValues(rt.name, name, gw, up.Label).Inc()
		s.log.LogAttrs(ctx, slog.LevelWarn, "shadow disagreement",
			slog.String("route", rt.name), slog.String("dialect", name),
			slog.String("reason", gw), slog.String("upstream", up.Label), slog.Int("status", a.status))
	}
}

// headBuffer keeps the first max bytes written to it and drops the rest.
type headBuffer struct {
	b   []byte
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
