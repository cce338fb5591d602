package tokenstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrReadOnly is what a Guard answers a write made under a ReadOnly
// context: a check that must leave no trace tried to leave one.
var ErrReadOnly = errors.New("tokenstore: write refused under a read-only context")

type readOnlyKey struct{}

// ReadOnly marks ctx: every write through a Guard under it is refused.
// The gateway's shadow checks run under it, so checking a credential on
// the side can never rotate a token, consume a nonce or count a hit.
func ReadOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, readOnlyKey{}, true)
}

// IsReadOnly reports whether ctx was marked by ReadOnly.
func IsReadOnly(ctx context.Context) bool {
	v, _ := ctx.Value(readOnlyKey{}).(bool)
	return v
}

// Guard is a Store whose writes are refused with ErrReadOnly under a
// ReadOnly context and passed on otherwise; reads always pass. The reads
// (Session, CheckSession, SubjectSessions, Account, SeatState, Overrides,
// Ping, Close) come from the
// embedded Store; every other method is written out here, and a test
// calls each by reflection, so a write added to Store cannot slip past.
type Guard struct {
	Store
}

func refuseUnder(ctx context.Context, op string) error {
	if IsReadOnly(ctx) {
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	return nil
}

// CreateSession implements Store.
func (g Guard) CreateSession(ctx context.Context, s Session, now time.Time) error {
	if err := refuseUnder(ctx, "create session"); err != nil {
		return err
	}
	return g.Store.CreateSession(ctx, s, now)
}

// AdoptSession implements Store.
func (g Guard) AdoptSession(ctx context.Context, s Session, remember, now time.Time) (bool, error) {
	if err := refuseUnder(ctx, "adopt session"); err != nil {
		return false, err
	}
	return g.Store.AdoptSession(ctx, s, remember, now)
}

// RotateRefresh implements Store.
func (g Guard) RotateRefresh(ctx context.Context, r Rotation) (RotateResult, error) {
	if err := refuseUnder(ctx, "rotate refresh"); err != nil {
		return RotateResult{}, err
	}
	return g.Store.RotateRefresh(ctx, r)
}

// ReissueRefresh implements Store.
func (g Guard) ReissueRefresh(ctx context.Context, r Reissue) error {
	if err := refuseUnder(ctx, "reissue refresh"); err != nil {
		return err
	}
	return g.Store.ReissueRefresh(ctx, r)
}

// RevokeSession implements Store.
func (g Guard) RevokeSession(ctx context.Context, id string) error {
	if err := refuseUnder(ctx, "revoke session"); err != nil {
		return err
	}
	return g.Store.RevokeSession(ctx, id)
}

// RevokeSubject implements Store.
func (g Guard) RevokeSubject(ctx context.Context, dialect, subject string, now time.Time) (int, error) {
	if err := refuseUnder(ctx, "revoke subject"); err != nil {
		return 0, err
	}
	return g.Store.RevokeSubject(ctx, dialect, subject, now)
}

// PutCode implements Store.
func (g Guard) PutCode(ctx context.Context, key string, c Code, now time.Time) error {
	if err := refuseUnder(ctx, "put code"); err != nil {
		return err
	}
	return g.Store.PutCode(ctx, key, c, now)
}

// VerifyCode implements Store (it counts an attempt, so it writes).
func (g Guard) VerifyCode(ctx context.Context, key, hash string, now time.Time) (CodeResult, error) {
	if err := refuseUnder(ctx, "verify code"); err != nil {
		return 0, err
	}
	return g.Store.VerifyCode(ctx, key, hash, now)
}

// UseNonce implements Store.
func (g Guard) UseNonce(ctx context.Context, nonce string, ttl time.Duration, now time.Time) (bool, error) {
	if err := refuseUnder(ctx, "use nonce"); err != nil {
		return false, err
	}
	return g.Store.UseNonce(ctx, nonce, ttl, now)
}

// Hit implements Store.
func (g Guard) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Duration, error) {
	if err := refuseUnder(ctx, "hit"); err != nil {
		return 0, 0, err
	}
	return g.Store.Hit(ctx, key, window, now)
}

// Release implements Store.
func (g Guard) Release(ctx context.Context, key string, now time.Time) error {
	if err := refuseUnder(ctx, "release"); err != nil {
		return err
	}
	return g.Store.Release(ctx, key, now)
}

// EnsureAccount implements Store.
func (g Guard) EnsureAccount(ctx context.Context, key string, attrs map[string]string, idBase int64, now time.Time) (Account, bool, error) {
	if err := refuseUnder(ctx, "ensure account"); err != nil {
		return Account{}, false, err
	}
	return g.Store.EnsureAccount(ctx, key, attrs, idBase, now)
}

// ClaimSeat implements Store.
func (g Guard) ClaimSeat(ctx context.Context, c SeatClaim) (Seat, error) {
	if err := refuseUnder(ctx, "claim seat"); err != nil {
		return Seat{}, err
	}
	return g.Store.ClaimSeat(ctx, c)
}

// SetOverride implements Store.
func (g Guard) SetOverride(ctx context.Context, key, value string) error {
	if err := refuseUnder(ctx, "set override"); err != nil {
		return err
	}
	return g.Store.SetOverride(ctx, key, value)
}
