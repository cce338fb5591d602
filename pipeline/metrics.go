package pipeline

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/authgate/authgate/identity/sqldir"
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
	upstreamErrors   *prometheus.CounterVec
	logins           *prometheus.CounterVec
	hashUpgrades     *prometheus.CounterVec
	// directory is the sql directory's state (ready, unreachable,
	// broken), one series at 1; directoryChecks counts failed query
	// checks against it.
	directory       *prometheus.GaugeVec
	directoryChecks prometheus.Counter
	// storeWriteFailures counts store writes that failed: the write
	// health /readyz does not show.
	storeWriteFailures *prometheus.CounterVec
	// framingRefused counts requests refused for ambiguous framing.
	framingRefused *prometheus.CounterVec
	// limits counts requests stopped by a size or time limit.
	limits *prometheus.CounterVec
}

// directoryStates are the sql directory's states (sqldir.State*).
var directoryStates = []string{sqldir.StateReady, sqldir.StateUnreachable, sqldir.StateBroken}

// directoryState records the sql directory's state.
func (m *metrics) directoryState(state string) {
	for _, s := range directoryStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.directory.WithLabelValues(s).Set(v)
	}
	if state == sqldir.StateBroken {
		m.directoryChecks.Inc()
	}
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
			Help: "Requests served, by route, dialect instance and HTTP status code (499: the client went away).",
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
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_upstream_errors_total",
		Help: "Forwards that got no answer from the upstream, by route and kind (unavailable, timeout); a client that went away is not counted.",
	}, []string{"route", "kind"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_logins_total",
		Help: "Logins by dialect instance and result (ok, bad_credentials, locked, disabled, rate_limited, store_unavailable, bad_request, error).",
	}, []string{"dialect", "result"})
	m.hashUpgrades = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_password_hash_upgrades_total",
		Help: "Legacy password digests rewritten as argon2id after a login, by result (ok; error: the login stood, the digest stays; held: a legacy window is open, the digest stays for a rollback).",
	}, []string{"result"})
	m.directory = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "authgate_identity_directory_state",
		Help: "The sql user directory's state: 1 on ready, unreachable (the database does not answer) or broken (it answers, a query failed its check); logins that need it answer unavailable unless ready.",
	}, []string{"state"})
	m.directoryChecks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authgate_identity_directory_check_failures_total",
		Help: "Checks of the sql directory's queries against its database that failed (a query the database refuses, a missing column), retried every identity.sql.retry_interval.",
	})
	m.storeWriteFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_store_write_failures_total",
		Help: "Token-store writes that failed, by reason: not_replicated (fewer replicas acknowledged than store.redis.wait_replicas: a failover in progress, a master without replicas) or unavailable (no answer, a Cluster slot down). Logins, refreshes and logouts answer 503 meanwhile; /readyz stays 200 while reads work.",
	}, []string{"reason"})
	m.storeWriteFailures.WithLabelValues("not_replicated")
	m.storeWriteFailures.WithLabelValues("unavailable")
	m.framingRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_http_framing_refused_total",
		Help: "HTTP/1.1 requests refused before parsing for ambiguous framing (request smuggling: Content-Length with Transfer-Encoding, a bare LF, line folding, ...), by listener and reason; each connection closed.",
	}, []string{"listener", "reason"})
	m.limits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authgate_http_limit_refusals_total",
		Help: "Requests stopped by a limit, by limit: route_body_too_large (routes[].max_body_bytes, 413), endpoint_read_timeout (server.endpoint_read_timeout: a dialect endpoint's body trickled in, 400 in the dialect's envelope).",
	}, []string{"limit"})
	for _, l := range []string{"route_body_too_large", "endpoint_read_timeout"} {
		m.limits.WithLabelValues(l)
	}
	reg.MustRegister(m.logins, m.hashUpgrades, m.directory, m.directoryChecks, m.storeWriteFailures, m.framingRefused, m.limits)
	reg.MustRegister(m.requests, m.requestDuration, m.upstreamDuration, m.authDecisions, m.storeDuration, m.storeErrors, m.upstreamErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// statusLabel is the requests metric's code label: the exact status, so
// a 502 (upstream down), a 503 (store down) and a 504 (upstream timeout)
// are told apart; anything outside 100..599 (which HTTP does not have) is
// "other", so the label set stays bounded.
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

// registerCache exports a store's session cache counters, when it has a
// cache: read from the store at each scrape.
func registerCache(reg prometheus.Registerer, r tokenstore.CacheReporter) {
	if !r.CacheStats().Enabled {
		return
	}
	counter := func(name, help string, v func(tokenstore.CacheStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(r.CacheStats())) })
	}
	reg.MustRegister(
		counter("authgate_session_cache_hits_total", "Session liveness checks answered from this replica's cache (no Redis command).",
			func(s tokenstore.CacheStats) uint64 { return s.Hits }),
		counter("authgate_session_cache_misses_total", "Session liveness checks that read Redis.",
			func(s tokenstore.CacheStats) uint64 { return s.Misses }),
		counter("authgate_session_cache_evictions_total", "Cached sessions dropped: for room, by an invalidation, or all when the subscription dropped.",
			func(s tokenstore.CacheStats) uint64 { return s.Evictions }),
		counter("authgate_session_cache_invalidations_total", "Invalidation messages received from the replicas (ended or changed sessions).",
			func(s tokenstore.CacheStats) uint64 { return s.Invalidations }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "authgate_session_cache_entries", Help: "Sessions in this replica's cache."},
			func() float64 { return float64(r.CacheStats().Entries) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "authgate_session_cache_subscription_up", Help: "1 while the invalidation subscription is up; 0: the cache is empty and bypassed."},
			func() float64 {
				if r.CacheStats().SubscriptionUp {
					return 1
				}
				return 0
			}),
	)
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
			if !storeReads[op] {
				reason := "unavailable"
				if errors.Is(err, tokenstore.ErrNotReplicated) {
					reason = "not_replicated"
				}
				m.storeWriteFailures.WithLabelValues(reason).Inc()
			}
		}
	}
}

// storeReads are the store operations that write nothing, and the
// reports that are not writes of their own (replicate is the WAIT of a
// write already counted under its op; invalidate a publish). Every other
// operation is a write whose failure authgate_store_write_failures_total
// counts.
var storeReads = map[string]bool{
	"account": true, "check_session": true, "overrides": true, "ping": true, "seat_state": true,
	"session": true, "subject_sessions": true, "replicate": true, "invalidate": true,
}
