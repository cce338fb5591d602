package identity

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// ErrBusy reports a password check refused because the gateway already
// runs as many as it allows: the client is told to retry shortly (the
// dialect's rate-limited answer), rather than the process running out of
// memory (an argon2id check holds ~19 MiB while it runs).
var ErrBusy = errors.New("identity: too many password checks at once; retry shortly")

// Bounded lets at most slots checks run at once. A check that finds them
// all taken waits up to wait for one, then fails with ErrBusy without
// running: concurrent logins, and the dummy checks of unknown accounts,
// can no longer exhaust memory. A channel of tokens rather than
// x/sync/semaphore: it is the one primitive needed, with a timeout.
//
// Within a sampled trace each check is a span, password.verify, with the
// hash's scheme, how long it waited for a slot and how it ended (never
// the secret, nor the hash): a slow login shows whether it queued or
// hashed.
func Bounded(check func(hash, secret string) (bool, error), slots int, wait time.Duration) Verifier {
	if slots < 1 {
		slots = 1
	}
	sem := make(chan struct{}, slots)
	// run also reports how long the check waited for a slot.
	run := func(hash, secret string) (bool, time.Duration, error) {
		start := time.Now()
		select {
		case sem <- struct{}{}:
		default:
			t := time.NewTimer(wait)
			select {
			case sem <- struct{}{}:
				t.Stop()
			case <-t.C:
				return false, time.Since(start), ErrBusy
			}
		}
		queued := time.Since(start)
		defer func() { <-sem }()
		ok, err := check(hash, secret)
		return ok, queued, err
	}
	return func(ctx context.Context, hash, secret string) (bool, error) {
		parent := trace.SpanFromContext(ctx)
		if !parent.IsRecording() {
			ok, _, err := run(hash, secret)
			return ok, err
		}
		_, span := parent.TracerProvider().Tracer("github.com/authgate/authgate/identity").Start(ctx, "password.verify",
			trace.WithAttributes(attribute.String("authgate.password.scheme", scheme(hash))))
		defer span.End()
		ok, queued, err := run(hash, secret)
		result := "mismatch"
		switch {
		case errors.Is(err, ErrBusy):
			result = "busy"
		case err != nil:
			result = "error"
			span.SetStatus(codes.Error, err.Error())
		case ok:
			result = "match"
		}
		span.SetAttributes(attribute.Float64("authgate.password.queued_ms", float64(queued.Microseconds())/1000),
			attribute.String("authgate.password.result", result))
		return ok, err
	}
}

// scheme names hash's kind for a span: its prefix, never the hash.
func scheme(hash string) string {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		return "argon2id"
	case strings.HasPrefix(hash, "$2"):
		return "bcrypt"
	case isPBKDF2(hash):
		return "pbkdf2"
	}
	return "unknown"
}
