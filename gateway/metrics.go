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

// timed runs one store operation, observing its latency and counting it
// as an error when the store did not answer.
func timed[T any](s instrumentedStore, op string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	s.m.storeDuration.WithLabelValues(s.driver, op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, tokenstore.ErrNotFound) && !errors.Is(err, tokenstore.ErrReused) && !errors.Is(err, tokenstore.ErrInvalid) {
		s.m.storeErrors.WithLabelValues(s.driver, op).Inc()
	}
	return v, err
}

// none adapts an operation that returns only an error to timed.
func none(f func() error) func() (struct{}, error) {
	return func() (struct{}, error) { return struct{}{}, f() }
}

func (s instrumentedStore) CreateSession(ctx context.Context, sess tokenstore.Session, now time.Time) error {
	_, err := timed(s, "create_session", none(func() error { return s.Store.CreateSession(ctx, sess, now) }))
	return err
}

func (s instrumentedStore) Session(ctx context.Context, id string, now time.Time) (tokenstore.Session, error) {
	return timed(s, "session", func() (tokenstore.Session, error) { return s.Store.Session(ctx, id, now) })
}

func (s instrumentedStore) RotateRefresh(ctx context.Context, r tokenstore.Rotation) (tokenstore.RotateResult, error) {
	return timed(s, "rotate_refresh", func() (tokenstore.RotateResult, error) { return s.Store.RotateRefresh(ctx, r) })
}

func (s instrumentedStore) ReissueRefresh(ctx context.Context, r tokenstore.Reissue) (tokenstore.Session, error) {
	return timed(s, "reissue_refresh", func() (tokenstore.Session, error) { return s.Store.ReissueRefresh(ctx, r) })
}

func (s instrumentedStore) RevokeSession(ctx context.Context, id string) error {
	_, err := timed(s, "revoke_session", none(func() error { return s.Store.RevokeSession(ctx, id) }))
	return err
}

func (s instrumentedStore) RevokeSubject(ctx context.Context, dialect, subject string, now time.Time) (int, error) {
	return timed(s, "revoke_subject", func() (int, error) { return s.Store.RevokeSubject(ctx, dialect, subject, now) })
}

func (s instrumentedStore) PutCode(ctx context.Context, key string, c tokenstore.Code, now time.Time) error {
	_, err := timed(s, "put_code", none(func() error { return s.Store.PutCode(ctx, key, c, now) }))
	return err
}

func (s instrumentedStore) VerifyCode(ctx context.Context, key, hash string, now time.Time) (tokenstore.CodeResult, error) {
	return timed(s, "verify_code", func() (tokenstore.CodeResult, error) { return s.Store.VerifyCode(ctx, key, hash, now) })
}

func (s instrumentedStore) UseNonce(ctx context.Context, nonce string, ttl time.Duration, now time.Time) (bool, error) {
	return timed(s, "use_nonce", func() (bool, error) { return s.Store.UseNonce(ctx, nonce, ttl, now) })
}

type hitResult struct {
	n     int64
	reset time.Duration
}

func (s instrumentedStore) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Duration, error) {
	r, err := timed(s, "hit", func() (hitResult, error) {
		n, reset, err := s.Store.Hit(ctx, key, window, now)
		return hitResult{n, reset}, err
	})
	return r.n, r.reset, err
}

func (s instrumentedStore) Release(ctx context.Context, key string, now time.Time) error {
	_, err := timed(s, "release", none(func() error { return s.Store.Release(ctx, key, now) }))
	return err
}

type accountResult struct {
	acct    tokenstore.Account
	created bool
}

func (s instrumentedStore) EnsureAccount(ctx context.Context, key string, attrs map[string]string, idBase int64, now time.Time) (tokenstore.Account, bool, error) {
	r, err := timed(s, "ensure_account", func() (accountResult, error) {
		a, created, err := s.Store.EnsureAccount(ctx, key, attrs, idBase, now)
		return accountResult{a, created}, err
	})
	return r.acct, r.created, err
}

func (s instrumentedStore) Account(ctx context.Context, key string) (tokenstore.Account, error) {
	return timed(s, "account", func() (tokenstore.Account, error) { return s.Store.Account(ctx, key) })
}

func (s instrumentedStore) ClaimSeat(ctx context.Context, c tokenstore.SeatClaim) (tokenstore.Seat, error) {
	return timed(s, "claim_seat", func() (tokenstore.Seat, error) { return s.Store.ClaimSeat(ctx, c) })
}

func (s instrumentedStore) SeatState(ctx context.Context, key, device string, now time.Time) (tokenstore.SeatState, error) {
	return timed(s, "seat_state", func() (tokenstore.SeatState, error) { return s.Store.SeatState(ctx, key, device, now) })
}

func (s instrumentedStore) Ping(ctx context.Context) error {
	_, err := timed(s, "ping", none(func() error { return s.Store.Ping(ctx) }))
	return err
}
