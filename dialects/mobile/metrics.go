package mobile

import (
	"github.com/authgate/authgate/dialects"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are this dialect's series; the registerer adds the
// dialect label.
type metrics struct {
	codesSent      *prometheus.CounterVec
	sendFailures   *prometheus.CounterVec
	verifyFailures *prometheus.CounterVec
	kicks          prometheus.Counter
	registrations  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		codesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_sms_codes_sent_total", Help: "SMS login codes handed to the sender and accepted by it.",
		}, []string{"sender"}),
		sendFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_sms_send_failures_total", Help: "SMS login codes the sender could not deliver.",
		}, []string{"sender"}),
		verifyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_sms_verify_failures_total", Help: "SMS code checks that failed, by reason (mismatch, expired, exhausted).",
		}, []string{"reason"}),
		kicks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authgate_device_kicks_total", Help: "Sessions displaced by a login of the same user on another device.",
		}),
		registrations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authgate_mobile_registrations_total", Help: "Users registered on their first SMS login.",
		}),
	}
	m.codesSent, m.sendFailures = dialects.Register(reg, m.codesSent), dialects.Register(reg, m.sendFailures)
	m.verifyFailures, m.kicks = dialects.Register(reg, m.verifyFailures), dialects.Register(reg, m.kicks)
	m.registrations = dialects.Register(reg, m.registrations)
	return m
}
