package dialects

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c on reg and returns it — or, when reg already holds
// a collector of the same description, that one. A reload builds every
// dialect instance again with the same series: taking over the running
// instance's collectors keeps their counts going, where registering new
// ones would start them again from zero (a counter reset on every
// reload, and increments since the last scrape lost). A nil reg (tests
// building a dialect alone) leaves c unregistered.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(err) // two different series under one name: a bug
}
