package identity

import (
	"errors"
	"time"
)

// ErrBusy reports a password check refused because the gateway already
// runs as many as it allows: the client is told to retry shortly (the
// dialect's rate-limited answer), rather than the process running out of
// memory (an argon2id check holds ~19 MiB while it runs).
var ErrBusy = errors.New("identity: too many password checks at once; retry shortly")

// Bounded lets at most slots checks of v run at once. A check that finds
// them all taken waits up to wait for one, then fails with ErrBusy
// without running: concurrent logins, and the dummy checks of unknown
// accounts, can no longer exhaust memory. A channel of tokens rather than
// x/sync/semaphore: it is the one primitive needed, with a timeout.
func Bounded(v Verifier, slots int, wait time.Duration) Verifier {
	if slots < 1 {
		slots = 1
	}
	sem := make(chan struct{}, slots)
	return func(hash, secret string) (bool, error) {
		select {
		case sem <- struct{}{}:
		default:
			t := time.NewTimer(wait)
			select {
			case sem <- struct{}{}:
				t.Stop()
			case <-t.C:
				return false, ErrBusy
			}
		}
		defer func() { <-sem }()
		return v(hash, secret)
	}
}
