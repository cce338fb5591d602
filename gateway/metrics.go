package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/authgate/authgate/tokenstore"
)

// metrics are the gateway's Prometheus series. They live on a registry of
// the gateway's own, so several gateways in one test process do not clash.
type metrics struct {
	requests         *prometheus.CounterVec
	requestDuration  *prometheus.HistogramVec
	upstreamDuration *prometheus.HistogramVec
	authDecisions    *prometheus.CounterVec
	storeDuration    *prometheus.HistogramVec
	storeErrors      *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_http_requests_total",
			Help: "Requests served, by route, dialect instance and status class (2xx, 4xx, ...).",
		}, []string{"route", "dialect", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authgate_http_request_duration_seconds",
			Help:    "Time from request to response end, by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authgate_upstream_request_duration_seconds",
			Help:    "Time until the upstream's response headers, by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		authDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_auth_decisions_total",
			Help: "Credential checks on protected routes, by dialect instance and result (ok, missing, expired, ...).",
		}, []string{"dialect", "result"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authgate_store_operation_duration_seconds",
			Help:    "Token store operation latency, by store driver and operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"store", "op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_store_errors_total",
			Help: "Token store operations that failed (the store did not answer), by driver and operation.",
		}, []string{"store", "op"}),
	}
	reg.MustRegister(m.requests, m.requestDuration, m.upstreamDuration, m.authDecisions, m.storeDuration, m.storeErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func statusClass(code int) string {
	switch {
	case code < 200:
		return "1xx"
	case code < 300:
		return "2xx"
	case code < 400:
		return "3xx"
	case code < 500:
		return "4xx"
	default:
		return "5xx"
	}
}

// instrumentedStore times every store operation and counts failures.
// A verdict (not found, reused, invalid) is an answer, not a failure.
type instrumentedStore struct {
	tokenstore.Store
	driver string
	m      *metrics
}

func (s instrumentedStore) observe(op string, start time.Time, err error) {
	s.m.storeDuration.WithLabelValues(s.driver, op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, tokenstore.ErrNotFound) && !errors.Is(err, tokenstore.ErrReused) && !errors.Is(err, tokenstore.ErrInvalid) {
		s.m.storeErrors.WithLabelValues(s.driver, op).Inc()
	}
}

func (s instrumentedStore) CreateSession(ctx context.Context, sess tokenstore.Session, now time.Time) error {
	start := time.Now()
	err := s.Store.CreateSession(ctx, sess, now)
	s.observe("create_session", start, err)
	return err
}

func (s instrumentedStore) Session(ctx context.Context, id string, now time.Time) (tokenstore.Session, error) {
	start := time.Now()
	sess, err := s.Store.Session(ctx, id, now)
	s.observe("session", start, err)
	return sess, err
}

func (s instrumentedStore) RotateRefresh(ctx context.Context, r tokenstore.Rotation) (tokenstore.RotateResult, error) {
	start := time.Now()
	res, err := s.Store.RotateRefresh(ctx, r)
	s.observe("rotate_refresh", start, err)
	return res, err
}

func (s instrumentedStore) ReissueRefresh(ctx context.Context, r tokenstore.Reissue) (tokenstore.Session, error) {
	start := time.Now()
	sess, err := s.Store.ReissueRefresh(ctx, r)
	s.observe("reissue_refresh", start, err)
	return sess, err
}

func (s instrumentedStore) RevokeSession(ctx context.Context, id string) error {
	start := time.Now()
	err := s.Store.RevokeSession(ctx, id)
	s.observe("revoke_session", start, err)
	return err
}

func (s instrumentedStore) RevokeSubject(ctx context.Context, dialect, subject string, now time.Time) (int, error) {
	start := time.Now()
	n, err := s.Store.RevokeSubject(ctx, dialect, subject, now)
	s.observe("revoke_subject", start, err)
	return n, err
}

func (s instrumentedStore) PutCode(ctx context.Context, key string, c tokenstore.Code, now time.Time) error {
	start := time.Now()
	err := s.Store.PutCode(ctx, key, c, now)
	s.observe("put_code", start, err)
	return err
}

func (s instrumentedStore) VerifyCode(ctx context.Context, key, hash string, now time.Time) (tokenstore.CodeResult, error) {
	start := time.Now()
	r, err := s.Store.VerifyCode(ctx, key, hash, now)
	s.observe("verify_code", start, err)
	return r, err
}

func (s instrumentedStore) UseNonce(ctx context.Context, nonce string, ttl time.Duration, now time.Time) (bool, error) {
	start := time.Now()
	fresh, err := s.Store.UseNonce(ctx, nonce, ttl, now)
	s.observe("use_nonce", start, err)
	return fresh, err
}

func (s instrumentedStore) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Duration, error) {
	start := time.Now()
	n, reset, err := s.Store.Hit(ctx, key, window, now)
	s.observe("hit", start, err)
	return n, reset, err
}

func (s instrumentedStore) Release(ctx context.Context, key string, now time.Time) error {
	start := time.Now()
	err := s.Store.Release(ctx, key, now)
	s.observe("release", start, err)
	return err
}

func (s instrumentedStore) EnsureAccount(ctx context.Context, key string, attrs map[string]string, idBase int64, now time.Time) (tokenstore.Account, bool, error) {
	start := time.Now()
	a, created, err := s.Store.EnsureAccount(ctx, key, attrs, idBase, now)
	s.observe("ensure_account", start, err)
	return a, created, err
}

func (s instrumentedStore) Account(ctx context.Context, key string) (tokenstore.Account, error) {
	start := time.Now()
	a, err := s.Store.Account(ctx, key)
	s.observe("account", start, err)
	return a, err
}

func (s instrumentedStore) ClaimSeat(ctx context.Context, c tokenstore.SeatClaim) (tokenstore.Seat, error) {
	start := time.Now()
	prev, err := s.Store.ClaimSeat(ctx, c)
	s.observe("claim_seat", start, err)
	return prev, err
}

func (s instrumentedStore) SeatState(ctx context.Context, key, device string, now time.Time) (tokenstore.SeatState, error) {
	start := time.Now()
	st, err := s.Store.SeatState(ctx, key, device, now)
	s.observe("seat_state", start, err)
	return st, err
}

func (s instrumentedStore) Ping(ctx context.Context) error {
	start := time.Now()
	err := s.Store.Ping(ctx)
	s.observe("ping", start, err)
	return err
}
