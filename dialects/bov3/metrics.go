package bov3

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authgate/authgate/dialects"
)

// metrics are this dialect's own series; the registerer adds the dialect
// label.
type metrics struct {
	verifyFailures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_bov3_verify_api_failures_total",
			Help: "XverifyApi headers refused, by reason (missing, encoding, decrypt, padding, format, skew, replay).",
		}, []string{"reason"}),
	}
	m.verifyFailures = dialects.Register(reg, m.verifyFailures)
	return m
}
