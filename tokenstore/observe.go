package tokenstore

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
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
// an Observer, and as a span of the trace it runs in. Each operation
// starts with
//
//	defer s.Done(ctx, "create_session", time.Now(), &err)
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

// Done reports one operation that started at start and ended with *err:
// to the Observer, and, within a sampled trace, as a span store.<op>
// drawn after the fact from start to now (the store's operations are
// leaves: nothing runs inside them that would need the span as parent).
// Outside a sampled trace it costs one context lookup.
func (p *Probe) Done(ctx context.Context, op string, start time.Time, err *error) {
	if o := p.obs.Load(); o != nil {
		(*o)(op, time.Since(start), *err)
	}
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return
	}
	_, span := parent.TracerProvider().Tracer("github.com/authgate/authgate/tokenstore").Start(ctx, "store."+op,
		trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("authgate.store.op", op)))
	switch {
	case errors.Is(*err, ErrUnavailable):
		// The store did not answer. Its errors name the operation and the
		// server's reply, never a token: keys hold only digests.
		span.SetStatus(codes.Error, (*err).Error())
	case *err != nil:
		// A verdict (not found, revoked, reused) is an answer, as in the
		// store metrics.
		span.SetAttributes(attribute.String("authgate.store.verdict", (*err).Error()))
	}
	span.End()
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
