package tokenstore

import (
	"sync/atomic"
	"time"
)

// Observer is told of every store operation: its name (snake_case, the
// metrics label), how long it took and how it ended. The gateway turns it
// into latency histograms and outage counters.
type Observer func(op string, took time.Duration, err error)

// Observable is implemented by stores that report their operations.
type Observable interface {
	SetObserver(Observer)
}

// Probe is embedded by store implementations to report every operation to
// an Observer. Each operation starts with
//
//	defer s.Done("create_session", time.Now(), &err)
//
// so the timing is part of the method itself, not of a wrapper a new
// method can be forgotten in; the conformance suite checks that each
// method of Store reports under its own name.
type Probe struct {
	obs atomic.Pointer[Observer]
}

// SetObserver implements Observable. It may be called once the store is
// in use; operations report to whichever observer is set when they end.
func (p *Probe) SetObserver(o Observer) {
	if o == nil {
		p.obs.Store(nil)
		return
	}
	p.obs.Store(&o)
}

// Done reports one operation that started at start and ended with *err.
func (p *Probe) Done(op string, start time.Time, err *error) {
	if o := p.obs.Load(); o != nil {
		(*o)(op, time.Since(start), *err)
	}
}

// CacheStats are a store's per-replica session cache counters.
type CacheStats struct {
	// Enabled is false for a store without a cache (all else is zero).
	Enabled bool
	// SubscriptionUp: invalidations are being received; while it is false
	// the cache is empty and bypassed.
	SubscriptionUp bool
	// Entries is how many sessions are cached now.
	Entries int
	// Hits and Misses count liveness checks answered from the cache or
	// not; Evictions entries dropped for room or by invalidation;
	// Invalidations the messages received from other replicas.
	Hits, Misses, Evictions, Invalidations uint64
}

// CacheReporter is implemented by stores with a per-replica session
// cache; the gateway exports its counters.
type CacheReporter interface {
	CacheStats() CacheStats
}
