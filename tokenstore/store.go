// Package tokenstore defines the storage every dialect shares: sessions,
// refresh-token rotation, one-time codes, replay nonces and rate counters.
//
// The interface offers domain operations rather than get/set of bytes,
// because each operation must be atomic across gateway replicas in one
// round trip (a Lua script in Redis, a mutex in memory); a bytes-and-TTL
// store could only give that with distributed locks.
//
// The store knows nothing of HTTP or of any dialect's wire format. Secrets
// never reach it in clear: callers pass hashes of refresh tokens and codes,
// and the successor pair kept for the rotation grace window is sealed by
// the caller with a key only the holder of the old token can derive.
//
// Every time-dependent decision takes "now" from the caller, so tests drive
// expiry with an injected clock on both implementations; the stored keys
// also carry a real TTL so nothing outlives its usefulness.
package tokenstore

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrNotFound reports a session, refresh token or code that does not
	// exist, has expired or was revoked.
	ErrNotFound = errors.New("tokenstore: not found")
	// ErrReused reports a rotated refresh token presented after the grace
	// window. The store has revoked the whole session: the token was most
	// likely stolen.
	ErrReused = errors.New("tokenstore: refresh token reused after rotation")
	// ErrInvalid reports arguments that cannot be stored (an empty id, a
	// non-positive TTL). It is a programming error, not a store outage.
	ErrInvalid = errors.New("tokenstore: invalid argument")
	// ErrUnavailable marks every error of a store that did not answer
	// (down, timed out, connection lost), as opposed to its verdicts
	// above. The stores wrap their outages with it once, so callers fail
	// closed by testing errors.Is(err, ErrUnavailable) instead of
	// classifying each call's error themselves. A call whose context was
	// canceled (the client went away) is not an outage: it comes back as
	// context.Canceled.
	ErrUnavailable = errors.New("tokenstore: store unavailable")
	// ErrNotReplicated reports a session write that fewer replicas
	// acknowledged than asked for: it stands on the server but is lost if
	// a failover replaces it. It comes with ErrUnavailable (the client is
	// told to retry) and is reported to the Observer as op "replicate".
	ErrNotReplicated = errors.New("tokenstore: write not acknowledged by the replicas asked for")
)

// Session is one login: what the gateway needs to accept tokens issued for
// it and to revoke them. A session lives until ExpiresAt, the expiry of its
// current refresh token; rotation moves ExpiresAt forward.
type Session struct {
	// ID is an unguessable random identifier chosen by the caller.
	ID string
	// Dialect is the dialect instance that issued the session.
	Dialect string
	// Subject is the user (or client) the session belongs to.
	Subject string
	// Company is the tenant the session currently acts for, if any.
	Company string
	// Device identifies the client device, if the dialect knows it.
	Device string
	// Attrs holds small dialect-specific facts (never secrets).
	Attrs map[string]string
	// CreatedAt is when the session was created (login).
	CreatedAt time.Time
	// LastSeen is when a token was last issued for the session.
	LastSeen time.Time
	// ExpiresAt is when the current refresh token, and so the session, expires.
	ExpiresAt time.Time
	// RefreshHash is the hash of the current refresh token.
	RefreshHash string
}

// Rotation asks the store to replace a session's current refresh token.
type Rotation struct {
	// SessionID is the session the presented token belongs to.
	SessionID string
	// Presented is the hash of the refresh token the client presented.
	Presented string
	// Next is the hash of the new refresh token.
	Next string
	// NextExpiresAt is when the new refresh token expires.
	NextExpiresAt time.Time
	// Successor is an opaque blob (the new pair, sealed by the caller) that
	// is handed back when Presented is presented again within Grace.
	Successor []byte
	// Grace is how long a rotated token may be presented again and receive
	// Successor. Zero turns the grace window off.
	Grace time.Duration
	// Now is the caller's clock.
	Now time.Time
}

// RotateResult tells how a Rotation ended.
type RotateResult struct {
	// Replayed is true when Presented had already been rotated within the
	// grace window; nothing changed and Successor is the earlier winner's.
	Replayed bool
	// Successor is the earlier winner's blob when Replayed is true.
	Successor []byte
}

// Reissue replaces a session's refresh token without presenting the old
// one, for a pair issued on the strength of an access token (switching
// company). The old refresh token stops working at once.
type Reissue struct {
	SessionID     string
	Next          string
	NextExpiresAt time.Time
	// Company becomes the session's company.
	Company string
	Now     time.Time
}

// Code is a one-time code (an SMS code) kept hashed under a key.
type Code struct {
	// Hash is the caller's keyed hash of the code.
	Hash string
	// MaxAttempts is how many verifications may be tried before the code
	// is dead, right or wrong.
	MaxAttempts int
	// ExpiresAt is when the code stops working.
	ExpiresAt time.Time
}

// CodeResult tells how a code verification ended.
type CodeResult int

const (
	// CodeMatched: the code was right and is now consumed.
	CodeMatched CodeResult = iota + 1
	// CodeMismatch: the code was wrong; attempts remain.
	CodeMismatch
	// CodeExhausted: the attempts are used up; the code is deleted.
	CodeExhausted
)

// Account is a user the gateway registered itself (the first SMS login of
// an unknown number). Unlike everything else in the store it is a record,
// not a session: it has no expiry.
type Account struct {
	ID        int64
	Attrs     map[string]string
	CreatedAt time.Time
}

// SeatClaim makes a session the holder of a single-device seat (one per
// user, or per user and product).
type SeatClaim struct {
	// Key names the seat.
	Key       string
	SessionID string
	Device    string
	// ExpiresAt is when the claiming session expires; the seat record
	// lives at least that long.
	ExpiresAt time.Time
	Now       time.Time
}

// Seat is who holds a seat.
type Seat struct {
	SessionID string
	Device    string
}

// SeatState is a seat's holder and, for one device, whether and when a
// login on another device displaced it.
type SeatState struct {
	Holder Seat
	// DisplacedAt is when the device lost the seat (zero if it did not).
	DisplacedAt time.Time
}

// Sessions keeps logins and their refresh tokens: what the hot path reads
// on every request and what refresh and logout change.
type Sessions interface {
	// CreateSession stores a new session and indexes it under its subject.
	CreateSession(ctx context.Context, s Session, now time.Time) error
	// AdoptSession creates s unless a session with its id was adopted
	// before, and remembers the adoption until remember (or s.ExpiresAt,
	// whichever is later) even after the session ends; created says which.
	// It is for sessions whose id derives from a token issued elsewhere (a
	// legacy service's refresh token being exchanged): such a token may
	// become a session once, and a revoked one must never become a session
	// again, however long the legacy service would still take it. Concurrent
	// calls for one id create one session.
	AdoptSession(ctx context.Context, s Session, remember, now time.Time) (created bool, err error)
	// Session returns a live session, or ErrNotFound.
	Session(ctx context.Context, id string, now time.Time) (Session, error)
	// CheckSession reports whether a session is live (nil) or not
	// (ErrNotFound), without reading the rest of it: the per-request check
	// that a token's session was not revoked.
	CheckSession(ctx context.Context, id string, now time.Time) error
	// RotateRefresh replaces the session's refresh token if Presented is
	// current; answers a replay within the grace window with the earlier
	// Successor; revokes the session (ErrReused) on a replay after it;
	// answers ErrNotFound for an unknown token or session. The same
	// Rotation run twice (a retry after a lost reply) is a replay, whatever
	// the grace: a retry must never log its own client out. So is every
	// presentation of a token whose rotation was never answered (a store
	// that waits for replicas failed the write though it stood): the grace
	// counts from the first answer delivered.
	RotateRefresh(ctx context.Context, r Rotation) (RotateResult, error)
	// ReissueRefresh replaces the session's refresh token and company, or
	// answers ErrNotFound.
	ReissueRefresh(ctx context.Context, r Reissue) error
	// RevokeSession deletes a session; revoking a missing one is no error.
	RevokeSession(ctx context.Context, id string) error
	// SubjectSessions returns the live sessions of subject issued by
	// dialect, for an operator to see (the admin API); never the hot path.
	SubjectSessions(ctx context.Context, dialect, subject string, now time.Time) ([]Session, error)
	// RevokeSubject deletes every session of subject issued by dialect and
	// returns how many there were.
	RevokeSubject(ctx context.Context, dialect, subject string, now time.Time) (int, error)
}

// Codes keeps one-time codes (SMS login codes), hashed.
type Codes interface {
	// PutCode stores a one-time code under key, replacing any earlier one.
	PutCode(ctx context.Context, key string, c Code, now time.Time) error
	// VerifyCode counts one attempt against the code under key and compares
	// hash with it in constant time; a match consumes the code. ErrNotFound
	// when there is no live code.
	VerifyCode(ctx context.Context, key, hash string, now time.Time) (CodeResult, error)
}

// Nonces remembers values that may be used once (anti-replay headers).
type Nonces interface {
	// UseNonce records nonce until now+ttl and reports whether it was fresh
	// (false: it was seen before, a replay).
	UseNonce(ctx context.Context, nonce string, ttl time.Duration, now time.Time) (bool, error)
}

// Counters are fixed-window event counters for rate limits.
type Counters interface {
	// Hit counts one event in the fixed window of key and returns the count
	// in the window so far and how long until the window resets.
	Hit(ctx context.Context, key string, window time.Duration, now time.Time) (count int64, reset time.Duration, err error)
	// Release takes back one Hit of key's current window, for an event
	// that did not happen after all (an SMS that could not be sent).
	Release(ctx context.Context, key string, now time.Time) error
}

// Accounts keeps the users the gateway registered itself.
type Accounts interface {
	// EnsureAccount returns the account under key, creating it with attrs
	// and a newly allocated id (idBase or above) when there is none;
	// created says which. Concurrent calls for one key create one account.
	EnsureAccount(ctx context.Context, key string, attrs map[string]string, idBase int64, now time.Time) (acct Account, created bool, err error)
	// Account returns the account under key, or ErrNotFound.
	Account(ctx context.Context, key string) (Account, error)
}

// Seats keeps single-device seats: which session holds a user's one
// device, and which devices lost it.
type Seats interface {
	// ClaimSeat makes c.SessionID the seat's holder and returns the holder
	// it replaced (zero if none). When that holder was on another device,
	// its device is recorded as displaced at c.Now.
	ClaimSeat(ctx context.Context, c SeatClaim) (previous Seat, err error)
	// SeatState reads a seat's holder and what became of device on it.
	SeatState(ctx context.Context, key, device string, now time.Time) (SeatState, error)
}

// Overrides keeps operators' switches, such as an app disabled from the
// admin API: records without a TTL that every replica reads.
type Overrides interface {
	// SetOverride sets key to value; an empty value removes the key.
	SetOverride(ctx context.Context, key, value string) error
	// Overrides returns every override whose key starts with prefix.
	Overrides(ctx context.Context, prefix string) (map[string]string, error)
}

// Store is the shared state of every gateway replica: all the roles, plus
// the life cycle. Implementations must be safe for concurrent use and make
// each method atomic. A dialect holds only the roles it uses.
type Store interface {
	Sessions
	Codes
	Nonces
	Counters
	Accounts
	Seats
	Overrides
	// Ping reports whether the store can answer.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
