package dialects

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/authgate/authgate/internal/secrets"
	"github.com/authgate/authgate/tokenstore"
)

// Legacy tokens: on the day the gateway takes over from a legacy auth
// service, clients still hold that service's tokens. A dialect instance
// with a `legacy` block accepts them until legacy.until: access tokens it
// can verify itself (mmm's HS256 with the legacy secret) until they
// expire, and refresh tokens are exchanged, once, for a gateway session
// (ExchangeLegacy), so nobody is asked to log in again.

// LegacyKind labels what kind of legacy token a metric counts.
const (
	LegacyAccess  = "access"
	LegacyRefresh = "refresh"
)

// Legacy is a dialect instance's legacy window: until when legacy tokens
// are taken, on which clock, and the counter of what became of them.
type Legacy struct {
	dialect string
	until   time.Time
	now     func() time.Time
	metrics *Metrics
}

// LegacyWindow is the legacy window of the instance dialect, open until
// `legacy.until` (zero for no end); it warns through deps when that has
// passed.
func LegacyWindow(dialect string, until time.Time, deps Deps) *Legacy {
	l := &Legacy{dialect: dialect, until: until, now: deps.Now, metrics: deps.Metrics}
	if l.now == nil {
		l.now = time.Now
	}
	if !until.IsZero() && !l.now().Before(until) {
		deps.Warnf("legacy.until: %s has passed: legacy tokens are refused; remove the legacy block once no client holds one", until.Format(time.RFC3339))
	}
	for _, r := range l.results() {
		l.metrics.Legacy(dialect, r.kind, r.result, 0)
	}
	return l
}

// results are the series that exist from the start, so an alert or a
// dashboard on their rate sees the first one.
func (l *Legacy) results() []struct{ kind, result string } {
	return []struct{ kind, result string }{
		{LegacyAccess, "accepted"}, {LegacyAccess, "expired"}, {LegacyAccess, "retired"},
		{LegacyRefresh, "exchanged"}, {LegacyRefresh, "refused"}, {LegacyRefresh, "expired"}, {LegacyRefresh, "retired"},
	}
}

// Open reports whether legacy tokens are still taken; a nil Legacy (no
// legacy block) takes none.
func (l *Legacy) Open() bool {
	return l != nil && (l.until.IsZero() || l.now().Before(l.until))
}

// Count records what became of one legacy token: kind is LegacyAccess or
// LegacyRefresh; result accepted, exchanged, refused (not genuine, reused,
// revoked), retired (after legacy.until) or expired.
func (l *Legacy) Count(kind, result string) {
	l.metrics.Legacy(l.dialect, kind, result, 1)
}

// LegacySecrets resolves the legacy service's signing secrets, listed for
// its own key rotation; each problem names legacy.secrets[i].
func LegacySecrets(refs []SecretRef, deps Deps) ([][]byte, []error) {
	var out [][]byte
	var errs []error
	for i, ref := range refs {
		// A legacy key is whatever the legacy service used: no minimum.
		s, err := secrets.Resolve(fmt.Sprintf("legacy.secrets[%d].secret", i),
			secrets.Source{Inline: ref.Secret, Env: ref.SecretEnv, File: ref.SecretFile}, deps.LookupEnv, deps.ConfigDir, 1)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	return out, errs
}

// LegacySessionID is the session a legacy refresh token becomes: derived
// from the token, so every replica exchanging it at once agrees on one
// session (tokenstore's AdoptSession creates it once).
func LegacySessionID(ns Namespace, token string) string {
	sum := sha256.Sum256([]byte(string(ns) + "\x00legacy\x00" + token))
	return "lg-" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// ExchangeLegacy turns a genuine legacy refresh token into a gateway
// session and answers as a refresh of that session would. sess is the
// session the token becomes: ID from LegacySessionID, RefreshHash the
// token's hash, ExpiresAt the token's own expiry (until when the store
// remembers the exchange). The first presentation adopts the session and
// rotates the legacy token out; a presentation within the grace window
// gets the same answer; one after it is a reuse, which ends the session;
// and a token whose session ended is refused, never exchanged again
// (tokenstore.ErrReused and ErrNotFound, as RotateRefresh answers).
func ExchangeLegacy[T any](ctx context.Context, store tokenstore.Sessions, l *Legacy, sess tokenstore.Session, r Rotation[T]) (T, error) {
	var zero T
	if _, err := store.AdoptSession(ctx, sess, r.Now); err != nil {
		return zero, err
	}
	out, err := RotateRefresh(ctx, store, l.metrics, r)
	switch {
	case err == nil:
		l.Count(LegacyRefresh, "exchanged")
	case errors.Is(err, tokenstore.ErrReused), errors.Is(err, tokenstore.ErrNotFound):
		l.Count(LegacyRefresh, "refused")
	}
	return out, err
}
