package dialects

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/authgate/authgate/tokenstore"
)

// RateLimited is a request over a limit. It matches ErrRateLimited; Wait
// is how long until the limit's window resets.
type RateLimited struct {
	// Msg, when set, is the message for the client.
	Msg  string
	Wait time.Duration
}

// ErrRouteRateLimited marks a refusal by a route's rate limit (not a
// dialect's own login or code limit), for dialects whose message tells
// the two apart.
var ErrRouteRateLimited = errors.New("the route's rate limit")

func (e *RateLimited) Error() string        { return "rate limited: " + e.Msg }
func (e *RateLimited) Is(target error) bool { return target == ErrRateLimited }

// Limit is one fixed-window limit an attempt is counted against.
type Limit struct {
	Key    string
	Window time.Duration
	Max    int64
	// Msg is the client's message when this limit is the one passed.
	Msg string
}

// Counted is the hits one CountAttempt made, to take back when the
// attempt turns out not to count (a login that succeeded, an SMS that was
// not sent).
type Counted struct {
	store tokenstore.Counters
	keys  []string
	now   time.Time
}

// Release takes the hits back; a store that does not answer is logged,
// not fatal: the window ends by itself.
func (c Counted) Release(ctx context.Context, log *slog.Logger) {
	for _, k := range c.keys {
		if err := c.store.Release(ctx, k, c.now); err != nil && log != nil {
			log.WarnContext(ctx, "release a rate-limit hit", "err", err)
		}
	}
}

// CountAttempt counts one attempt against every limit, before the work it
// guards (a password hash, an SMS), so concurrent attempts cannot slip
// past a limit. When any limit is passed, every hit is taken back and the
// answer is a *RateLimited with the first passed limit's message and the
// longest wait; a store that does not answer fails closed with its
// tokenstore.ErrUnavailable.
func CountAttempt(ctx context.Context, store tokenstore.Counters, log *slog.Logger, now time.Time, limits ...Limit) (Counted, error) {
	counted := Counted{store: store, now: now, keys: make([]string, 0, len(limits))}
	var over *RateLimited
	for _, l := range limits {
		n, reset, err := store.Hit(ctx, l.Key, l.Window, now)
		if err != nil {
			counted.Release(ctx, log)
			return Counted{}, err
		}
		counted.keys = append(counted.keys, l.Key)
		if n > l.Max {
			if over == nil {
				over = &RateLimited{Msg: l.Msg}
			}
			over.Wait = max(over.Wait, reset)
		}
	}
	if over != nil {
		counted.Release(ctx, log)
		return Counted{}, over
	}
	return counted, nil
}
