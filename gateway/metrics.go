package gateway

import (
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

// latencyBuckets are the request and upstream latency buckets: the
// defaults, and one at the longest route timeout, so the slowest answers
// the gateway can give (a 504 after the timeout) land in a bucket of
// their own rather than in +Inf.
func latencyBuckets(longest time.Duration) []float64 {
	b := append([]float64(nil), prometheus.DefBuckets...)
	if s := longest.Seconds(); s > b[len(b)-1] {
		b = append(b, s)
	}
	return b
}

func newMetrics(reg *prometheus.Registry, longestTimeout time.Duration) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_http_requests_total",
			Help: "Requests served, by route, dialect instance and status class (2xx, 4xx, ...).",
		}, []string{"route", "dialect", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authgate_http_request_duration_seconds",
			Help:    "Time from request to response end, by route.",
			Buckets: latencyBuckets(longestTimeout),
		}, []string{"route"}),
		upstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authgate_upstream_request_duration_seconds",
			Help:    "Time until the upstream's response headers, by route.",
			Buckets: latencyBuckets(longestTimeout),
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

// observeStore is the tokenstore.Observer of the gateway's store: every
// operation's latency (but the readiness probe's pings, which would
// dilute the requests' latency), and the operations that failed because
// the store did not answer (a verdict such as not found is an answer).
func (m *metrics) observeStore(driver string) tokenstore.Observer {
	return func(op string, took time.Duration, err error) {
		if op != "ping" {
			m.storeDuration.WithLabelValues(driver, op).Observe(took.Seconds())
		}
		if errors.Is(err, tokenstore.ErrUnavailable) {
			m.storeErrors.WithLabelValues(driver, op).Inc()
		}
	}
}
