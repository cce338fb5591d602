package dialects

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/authgate/authgate/dialects/introspect"
	"github.com/authgate/authgate/internal/secrets"
	"github.com/authgate/authgate/tokenstore"
)

// Legacy tokens: on the day the gateway takes over from a legacy auth
// service, clients still hold that service's tokens. A dialect instance
// with a `legacy` block accepts them until legacy.until: access tokens it
// can verify itself (mmm's HS256 with the legacy secret) until they
// expire, and refresh tokens are exchanged, once, for a gateway session
// (ExchangeLegacy), so nobody is asked to log in again.

// LegacyKind labels what kind of legacy token a metric counts: the role
// it was presented in (as an access token, or for exchange).
const (
	LegacyAccess  = "access"
	LegacyRefresh = "refresh"
)

// Results of a legacy token presented in the wrong role: a token of the
// other kind (an access token presented for exchange, a refresh token as
// an access token), or one whose kind the configured rule cannot decide.
// Both are refused with the dialect's ordinary invalid-token code: a
// legacy access token travels on every request and sits in backend logs,
// so exchanging one would turn it into a session lasting refresh_ttl.
const (
	LegacyWrongKind = "wrong_kind"
	LegacyUndecided = "undecided"
)

// Legacy is a dialect instance's legacy window: until when legacy tokens
// are taken, on which clock, and the counter of what became of them.
type Legacy struct {
	dialect string
	until   time.Time
	now     func() time.Time
	metrics *Metrics
	// introspector asks the legacy service about its opaque tokens; nil
	// for a dialect that verifies legacy tokens itself (mmm).
	introspector *introspect.Client
}

// ErrLegacyRefused is a legacy token the gateway will not take: the
// legacy service says it is not genuine, or legacy.until has passed.
// Dialects answer it with their ordinary invalid-token code.
var ErrLegacyRefused = errors.New("legacy token refused")

// IntrospectedLegacy is the `legacy` block of a dialect whose legacy
// refresh tokens are opaque (bov3, appkey, mobile): the legacy service's
// introspection endpoint decides whether one is genuine and whose it is.
type IntrospectedLegacy struct {
	// Until is the date (midnight UTC) or RFC 3339 time from which legacy
	// tokens are refused; unset for no end.
	Until time.Time `koanf:"until"`
	// Introspect is the call to the legacy service; the block is off
	// while its url is unset.
	Introspect introspect.Config `koanf:"introspect"`
}

// DefaultIntrospectedLegacy is the block's defaults (RFC 7662's call).
func DefaultIntrospectedLegacy() IntrospectedLegacy {
	return IntrospectedLegacy{Introspect: introspect.Defaults()}
}

// Open builds the legacy window of the instance dialect with its
// introspection client; nil when the block sets no introspect url. Each
// problem names its key under legacy.
func (c IntrospectedLegacy) Open(dialect string, deps Deps) (*Legacy, []error) {
	if c.Introspect.URL == "" {
		if !c.Until.IsZero() {
			return nil, []error{errors.New("legacy.introspect.url: required with legacy.until: the legacy service's endpoint that says whether one of its refresh tokens is genuine and whose it is")}
		}
		return nil, nil
	}
	client, err := introspect.Open(c.Introspect, deps.ConfigDir, deps.LookupEnv)
	if err != nil {
		return nil, Under("legacy.introspect.", err)
	}
	l := LegacyWindow(dialect, c.Until, deps)
	l.introspector = client
	return l, nil
}

// maxLegacyToken bounds what is sent to the legacy service as a token:
// anything longer is no token of its, and a client must not be able to
// make the gateway post megabytes to it.
const maxLegacyToken = 1024

// Check asks the legacy service about an opaque refresh token presented
// for exchange: its answer, ErrLegacyRefused (counted: not genuine, too
// long, or the window has closed), or an outage wrapping
// identity.ErrUnavailable, on which the dialect fails closed. Nothing is
// cached: a token is asked about each time it is presented.
func (l *Legacy) Check(ctx context.Context, token string) (introspect.Answer, error) {
	if !l.Open() {
		l.Count(LegacyRefresh, "retired")
		return introspect.Answer{}, ErrLegacyRefused
	}
	if len(token) > maxLegacyToken {
		l.Count(LegacyRefresh, "refused")
		return introspect.Answer{}, ErrLegacyRefused
	}
	a, err := l.introspector.Introspect(ctx, token)
	if errors.Is(err, introspect.ErrNotGenuine) {
		l.Count(LegacyRefresh, "refused")
		return introspect.Answer{}, fmt.Errorf("%w: %w", ErrLegacyRefused, err)
	}
	if errors.Is(err, introspect.ErrNotRefresh) {
		l.Count(LegacyRefresh, LegacyWrongKind)
		return introspect.Answer{}, fmt.Errorf("%w: %w", ErrLegacyRefused, err)
	}
	if err == nil && !a.Expires.IsZero() && !l.now().Before(a.Expires) {
		l.Count(LegacyRefresh, "expired")
		return introspect.Answer{}, fmt.Errorf("%w: the legacy service says it expired at %v", ErrLegacyRefused, a.Expires)
	}
	return a, err
}

// Terms are the lifetimes of an exchange of a legacy token that expires
// at tokenExpires (zero when the legacy service does not say): the
// session it becomes ends at the token's expiry but never later than
// refreshTTL from now, the longest session a login of the dialect gets,
// whatever the legacy service answered (an answer of the year 2100 does
// not make a session that lasts until then); and the exchange is
// remembered as long as the token itself could be presented (its expiry,
// or legacy.until when that comes first), so that a token whose session
// ended is never exchanged again.
func (l *Legacy) Terms(tokenExpires, now time.Time, refreshTTL time.Duration) (sessionEnds, remember time.Time) {
	sessionEnds = now.Add(refreshTTL)
	if tokenExpires.IsZero() {
		return sessionEnds, sessionEnds
	}
	remember = tokenExpires
	if !l.until.IsZero() && l.until.Before(remember) {
		remember = l.until
	}
	if tokenExpires.Before(sessionEnds) {
		sessionEnds = tokenExpires
	}
	return sessionEnds, remember
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
	for _, r := range legacyResults {
		l.metrics.Legacy(dialect, r.kind, r.result, 0)
	}
	return l
}

// legacyResults are the series that exist from the start, so an alert or
// a dashboard on their rate sees the first one.
var legacyResults = []struct{ kind, result string }{
	{LegacyAccess, "accepted"}, {LegacyAccess, "expired"}, {LegacyAccess, "retired"},
	{LegacyAccess, LegacyWrongKind}, {LegacyAccess, LegacyUndecided},
	{LegacyRefresh, "exchanged"}, {LegacyRefresh, "refused"}, {LegacyRefresh, "expired"}, {LegacyRefresh, "retired"},
	{LegacyRefresh, LegacyWrongKind}, {LegacyRefresh, LegacyUndecided},
}

// LegacyWindowed is a dialect instance that may take a legacy service's
// tokens. While its window is open a rollback to the legacy service is
// still possible, so nothing the legacy service reads may change under it
// (the user directory holds its password-hash upgrades).
type LegacyWindowed interface {
	// LegacyOpen reports whether the instance still takes legacy tokens.
	LegacyOpen() bool
}

// Open reports whether legacy tokens are still taken; a nil Legacy (no
// legacy block) takes none.
func (l *Legacy) Open() bool {
	return l != nil && (l.until.IsZero() || l.now().Before(l.until))
}

// Unverified is the refusal of an access token the dialect could not
// verify (refusal) or, while the legacy window is open, expired: the
// token may be the legacy service's, and a client told its token expired
// refreshes, which exchanges its legacy refresh token. Not the dialect's
// to decide either way (NotMine), so another dialect of the route may
// claim it.
func (l *Legacy) Unverified(refusal, expired error) error {
	if l.Open() {
		return NotMine(&AuthError{Reason: ReasonLegacy, Err: expired})
	}
	return NotMine(refusal)
}

// Count records what became of one legacy token: kind is LegacyAccess or
// LegacyRefresh; result accepted, exchanged, refused (not genuine, reused,
// revoked), retired (after legacy.until) or expired.
func (l *Legacy) Count(kind, result string) {
	l.metrics.Legacy(l.dialect, kind, result, 1)
}

// LegacySecrets resolves the legacy service's signing secrets, listed for
// its own key rotation; each problem names key[i] (key is the list's path,
// legacy.secrets).
func LegacySecrets(key string, refs []SecretRef, deps Deps) ([][]byte, []error) {
	var out [][]byte
	var errs []error
	for i, ref := range refs {
		// A legacy key is whatever the legacy service used: no minimum.
		s, err := secrets.Resolve(fmt.Sprintf("%s[%d].secret", key, i),
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

// Adoption is what a legacy refresh token becomes: Session (ID from
// LegacySessionID, RefreshHash the token's hash, ExpiresAt its end from
// Terms), and until when the store remembers the exchange (Terms).
type Adoption struct {
	Session  tokenstore.Session
	Remember time.Time
}

// The legacy exchange is one protocol in two forms, by whether the
// dialect's refresh tokens rotate: ExchangeLegacy (mmm, appkey: the legacy
// token is rotated out at once) and AdoptLegacy (bov3, mobile: the client
// keeps presenting it). Either way a dialect supplies only its lookup —
// whose token it is, and the session that becomes — and the adoption, the
// "exchanged once, never again after its end" rule and the counting are
// here.

// ExchangeLegacy turns a genuine legacy refresh token into a gateway
// session (a) and answers as a refresh of that session would. The first presentation adopts the session and
// rotates the legacy token out; a presentation within the grace window
// gets the same answer; one after it is a reuse, which ends the session;
// and a token whose session ended is refused, never exchanged again
// (tokenstore.ErrReused and ErrNotFound, as RotateRefresh answers).
func ExchangeLegacy[T any](ctx context.Context, store tokenstore.Sessions, l *Legacy, a Adoption, r Rotation[T]) (T, error) {
	var zero T
	if _, err := store.AdoptSession(ctx, a.Session, a.Remember, r.Now); err != nil {
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

// AdoptLegacy turns a genuine legacy refresh token into a gateway session
// (a) for a dialect whose refresh tokens do not rotate, and reads the
// session back: every replica presented the token at once agrees on one
// session (its id derives from the token), a token whose session has
// ended is refused (tokenstore.ErrNotFound), never adopted again. created
// says whether this call made the session.
func AdoptLegacy(ctx context.Context, store tokenstore.Sessions, l *Legacy, a Adoption, now time.Time) (sess tokenstore.Session, created bool, err error) {
	created, err = store.AdoptSession(ctx, a.Session, a.Remember, now)
	if err != nil {
		return tokenstore.Session{}, false, err
	}
	sess, err = store.Session(ctx, a.Session.ID, now)
	switch {
	case created && err == nil:
		l.Count(LegacyRefresh, "exchanged")
	case errors.Is(err, tokenstore.ErrNotFound):
		l.Count(LegacyRefresh, "refused")
	}
	return sess, created, err
}
