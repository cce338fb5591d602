package dialecttest

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/tokenstore"
)

// Outage is a store that fails on purpose: it passes every operation to
// Store until Down, then answers each with tokenstore.ErrUnavailable, as
// a store that cannot be reached does. Every method is written out, so an
// operation added to tokenstore.Store does not compile here until it can
// fail too.
type Outage struct {
	Store tokenstore.Store
	down  atomic.Bool
}

var _ tokenstore.Store = (*Outage)(nil)

// Down makes every further operation fail (or succeed again, with false).
func (o *Outage) Down(down bool) { o.down.Store(down) }

func (o *Outage) fail(op string) error {
	if o.down.Load() {
		return fmt.Errorf("dialecttest: %s: %w", op, tokenstore.ErrUnavailable)
	}
	return nil
}

// CreateSession implements tokenstore.Store.
func (o *Outage) CreateSession(ctx context.Context, s tokenstore.Session, now time.Time) error {
	if err := o.fail("create session"); err != nil {
		return err
	}
	return o.Store.CreateSession(ctx, s, now)
}

// AdoptSession implements tokenstore.Store.
func (o *Outage) AdoptSession(ctx context.Context, s tokenstore.Session, remember, now time.Time) (bool, error) {
	if err := o.fail("adopt session"); err != nil {
		return false, err
	}
	return o.Store.AdoptSession(ctx, s, remember, now)
}

// SubjectSessions implements tokenstore.Store.
func (o *Outage) SubjectSessions(ctx context.Context, dialect, subject string, now time.Time) ([]tokenstore.Session, error) {
	if err := o.fail("subject sessions"); err != nil {
		return nil, err
	}
	return o.Store.SubjectSessions(ctx, dialect, subject, now)
}

// Session implements tokenstore.Store.
func (o *Outage) Session(ctx context.Context, id string, now time.Time) (tokenstore.Session, error) {
	if err := o.fail("session"); err != nil {
		return tokenstore.Session{}, err
	}
	return o.Store.Session(ctx, id, now)
}

// CheckSession implements tokenstore.Store.
func (o *Outage) CheckSession(ctx context.Context, id string, now time.Time) error {
	if err := o.fail("check session"); err != nil {
		return err
	}
	return o.Store.CheckSession(ctx, id, now)
}

// RotateRefresh implements tokenstore.Store.
func (o *Outage) RotateRefresh(ctx context.Context, r tokenstore.Rotation) (tokenstore.RotateResult, error) {
	if err := o.fail("rotate refresh"); err != nil {
		return tokenstore.RotateResult{}, err
	}
	return o.Store.RotateRefresh(ctx, r)
}

// ReissueRefresh implements tokenstore.Store.
func (o *Outage) ReissueRefresh(ctx context.Context, r tokenstore.Reissue) error {
	if err := o.fail("reissue refresh"); err != nil {
		return err
	}
	return o.Store.ReissueRefresh(ctx, r)
}

// RevokeSession implements tokenstore.Store.
func (o *Outage) RevokeSession(ctx context.Context, id string) error {
	if err := o.fail("revoke session"); err != nil {
		return err
	}
	return o.Store.RevokeSession(ctx, id)
}

// RevokeSubject implements tokenstore.Store.
func (o *Outage) RevokeSubject(ctx context.Context, dialect, subject string, now time.Time) (int, error) {
	if err := o.fail("revoke subject"); err != nil {
		return 0, err
	}
	return o.Store.RevokeSubject(ctx, dialect, subject, now)
}

// PutCode implements tokenstore.Store.
func (o *Outage) PutCode(ctx context.Context, key string, c tokenstore.Code, now time.Time) error {
	if err := o.fail("put code"); err != nil {
		return err
	}
	return o.Store.PutCode(ctx, key, c, now)
}

// VerifyCode implements tokenstore.Store.
func (o *Outage) VerifyCode(ctx context.Context, key, hash string, now time.Time) (tokenstore.CodeResult, error) {
	if err := o.fail("verify code"); err != nil {
		return 0, err
	}
	return o.Store.VerifyCode(ctx, key, hash, now)
}

// UseNonce implements tokenstore.Store.
func (o *Outage) UseNonce(ctx context.Context, nonce string, ttl time.Duration, now time.Time) (bool, error) {
	if err := o.fail("use nonce"); err != nil {
		return false, err
	}
	return o.Store.UseNonce(ctx, nonce, ttl, now)
}

// Hit implements tokenstore.Store.
func (o *Outage) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Duration, error) {
	if err := o.fail("hit"); err != nil {
		return 0, 0, err
	}
	return o.Store.Hit(ctx, key, window, now)
}

// Release implements tokenstore.Store.
func (o *Outage) Release(ctx context.Context, key string, now time.Time) error {
	if err := o.fail("release"); err != nil {
		return err
	}
	return o.Store.Release(ctx, key, now)
}

// EnsureAccount implements tokenstore.Store.
func (o *Outage) EnsureAccount(ctx context.Context, key string, attrs map[string]string, idBase int64, now time.Time) (tokenstore.Account, bool, error) {
	if err := o.fail("ensure account"); err != nil {
		return tokenstore.Account{}, false, err
	}
	return o.Store.EnsureAccount(ctx, key, attrs, idBase, now)
}

// Account implements tokenstore.Store.
func (o *Outage) Account(ctx context.Context, key string) (tokenstore.Account, error) {
	if err := o.fail("account"); err != nil {
		return tokenstore.Account{}, err
	}
	return o.Store.Account(ctx, key)
}

// ClaimSeat implements tokenstore.Store.
func (o *Outage) ClaimSeat(ctx context.Context, c tokenstore.SeatClaim) (tokenstore.Seat, error) {
	if err := o.fail("claim seat"); err != nil {
		return tokenstore.Seat{}, err
	}
	return o.Store.ClaimSeat(ctx, c)
}

// SeatState implements tokenstore.Store.
func (o *Outage) SeatState(ctx context.Context, key, device string, now time.Time) (tokenstore.SeatState, error) {
	if err := o.fail("seat state"); err != nil {
		return tokenstore.SeatState{}, err
	}
	return o.Store.SeatState(ctx, key, device, now)
}

// Ping implements tokenstore.Store.
func (o *Outage) Ping(ctx context.Context) error {
	if err := o.fail("ping"); err != nil {
		return err
	}
	return o.Store.Ping(ctx)
}

// Close implements tokenstore.Store; the wrapped store is closed by the
// test that opened it.
func (o *Outage) Close() error { return nil }

// SetOverride implements tokenstore.Store.
func (o *Outage) SetOverride(ctx context.Context, key, value string) error {
	if err := o.fail("set override"); err != nil {
		return err
	}
	return o.Store.SetOverride(ctx, key, value)
}

// Overrides implements tokenstore.Store.
func (o *Outage) Overrides(ctx context.Context, prefix string) (map[string]string, error) {
	if err := o.fail("overrides"); err != nil {
		return nil, err
	}
	return o.Store.Overrides(ctx, prefix)
}
