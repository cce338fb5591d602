package appkey

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authgate/authgate/dialects"
)

// metrics are this dialect's own series; the registerer adds the dialect
// label.
type metrics struct {
	logins       *prometheus.CounterVec
	reloads      *prometheus.CounterVec
	appsLoaded   prometheus.Gauge
	appsRejected prometheus.Gauge
	sourceBroken prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_appkey_logins_total",
			Help: "App logins by result (ok, bad_credentials, disabled, rate_limited, bad_request).",
		}, []string{"result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_appkey_apps_reloads_total",
			Help: "Re-reads of a changed apps source, by result (ok, error: the last good set stays).",
		}, []string{"result"}),
		appsLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authgate_appkey_apps", Help: "Apps in the set in use.",
		}),
		appsRejected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authgate_appkey_apps_rejected", Help: "Rows of apps_query left out of the set in use (unreadable; their apps cannot log in).",
		}),
		sourceBroken: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authgate_appkey_apps_source_broken",
			Help: "1 while the apps source (the apps file, or apps_query's database) is broken or does not answer and the last good set is in use.",
		}),
	}
	m.logins, m.reloads = dialects.Register(reg, m.logins), dialects.Register(reg, m.reloads)
	m.appsLoaded, m.appsRejected = dialects.Register(reg, m.appsLoaded), dialects.Register(reg, m.appsRejected)
	m.sourceBroken = dialects.Register(reg, m.sourceBroken)
	return m
}
