package memstore

import (
	"context"
	"crypto/subtle"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/authgate/authgate/tokenstore"
)

// PutCode implements tokenstore.Store.
func (s *Store) PutCode(ctx context.Context, key string, c tokenstore.Code, now time.Time) (err error) {
	defer s.Done(ctx, "put_code", time.Now(), &err)
	if key == "" || c.Hash == "" || c.MaxAttempts < 1 || !now.Before(c.ExpiresAt) {
		return fmt.Errorf("memstore: put code: %w", tokenstore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[key] = code{Code: c}
	return nil
}

// VerifyCode implements tokenstore.Store.
func (s *Store) VerifyCode(ctx context.Context, key, hash string, now time.Time) (_ tokenstore.CodeResult, err error) {
	defer s.Done(ctx, "verify_code", time.Now(), &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[key]
	if !ok || !now.Before(c.ExpiresAt) {
		delete(s.codes, key)
		return 0, fmt.Errorf("memstore: verify code: %w", tokenstore.ErrNotFound)
	}
	c.attempts++
	if c.attempts > c.MaxAttempts {
		delete(s.codes, key)
		return tokenstore.CodeExhausted, nil
	}
	if subtle.ConstantTimeCompare([]byte(c.Hash), []byte(hash)) == 1 {
		delete(s.codes, key)
		return tokenstore.CodeMatched, nil
	}
	s.codes[key] = c
	return tokenstore.CodeMismatch, nil
}

// UseNonce implements tokenstore.Store.
func (s *Store) UseNonce(ctx context.Context, nonce string, ttl time.Duration, now time.Time) (_ bool, err error) {
	defer s.Done(ctx, "use_nonce", time.Now(), &err)
	if nonce == "" || ttl <= 0 {
		return false, fmt.Errorf("memstore: use nonce: %w", tokenstore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if exp, ok := s.nonces[nonce]; ok && now.Before(exp) {
		return false, nil
	}
	s.nonces[nonce] = now.Add(ttl)
	return true, nil
}

// Hit implements tokenstore.Store.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (_ int64, _ time.Duration, err error) {
	defer s.Done(ctx, "hit", time.Now(), &err)
	if key == "" || window <= 0 {
		return 0, 0, fmt.Errorf("memstore: hit: %w", tokenstore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[key]
	if !ok || !now.Before(c.resetAt) {
		c = counter{resetAt: now.Add(window)}
	}
	c.count++
	s.counters[key] = c
	return c.count, c.resetAt.Sub(now), nil
}

// Release implements tokenstore.Store.
func (s *Store) Release(ctx context.Context, key string, now time.Time) (err error) {
	defer s.Done(ctx, "release", time.Now(), &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.counters[key]; ok && now.Before(c.resetAt) && c.count > 0 {
		c.count--
		s.counters[key] = c
	}
	return nil
}

// EnsureAccount implements tokenstore.Store.
func (s *Store) EnsureAccount(ctx context.Context, key string, attrs map[string]string, idBase int64, now time.Time) (_ tokenstore.Account, _ bool, err error) {
	defer s.Done(ctx, "ensure_account", time.Now(), &err)
	if key == "" {
		return tokenstore.Account{}, false, fmt.Errorf("memstore: ensure account: %w", tokenstore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.accounts[key]; ok {
		a.Attrs = maps.Clone(a.Attrs)
		return a, false, nil
	}
	s.lastID = max(s.lastID+1, idBase)
	a := tokenstore.Account{ID: s.lastID, Attrs: maps.Clone(attrs), CreatedAt: now}
	s.accounts[key] = a
	a.Attrs = maps.Clone(a.Attrs)
	return a, true, nil
}

// Account implements tokenstore.Store.
func (s *Store) Account(ctx context.Context, key string) (_ tokenstore.Account, err error) {
	defer s.Done(ctx, "account", time.Now(), &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[key]
	if !ok {
		return tokenstore.Account{}, fmt.Errorf("memstore: account: %w", tokenstore.ErrNotFound)
	}
	a.Attrs = maps.Clone(a.Attrs)
	return a, nil
}

// ClaimSeat implements tokenstore.Store.
func (s *Store) ClaimSeat(ctx context.Context, c tokenstore.SeatClaim) (_ tokenstore.Seat, err error) {
	defer s.Done(ctx, "claim_seat", time.Now(), &err)
	if c.Key == "" || c.SessionID == "" || !c.Now.Before(c.ExpiresAt) {
		return tokenstore.Seat{}, fmt.Errorf("memstore: claim seat: %w", tokenstore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.seats[c.Key]
	if !ok || !c.Now.Before(st.expiresAt) {
		st = seat{displaced: map[string]time.Time{}}
	}
	prev := st.holder
	if prev.SessionID != "" && prev.Device != c.Device {
		st.displaced[prev.Device] = c.Now
	}
	delete(st.displaced, c.Device)
	st.holder = tokenstore.Seat{SessionID: c.SessionID, Device: c.Device}
	st.expiresAt = later(st.expiresAt, c.ExpiresAt)
	s.seats[c.Key] = st
	return prev, nil
}

// SeatState implements tokenstore.Store.
func (s *Store) SeatState(ctx context.Context, key, device string, now time.Time) (_ tokenstore.SeatState, err error) {
	defer s.Done(ctx, "seat_state", time.Now(), &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.seats[key]
	if !ok || !now.Before(st.expiresAt) {
		return tokenstore.SeatState{}, nil
	}
	return tokenstore.SeatState{Holder: st.holder, DisplacedAt: st.displaced[device]}, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// SetOverride implements tokenstore.Store.
func (s *Store) SetOverride(ctx context.Context, key, value string) (err error) {
	defer s.Done(ctx, "set_override", time.Now(), &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == "" {
		delete(s.overrides, key)
	} else {
		s.overrides[key] = value
	}
	return nil
}

// Overrides implements tokenstore.Store.
func (s *Store) Overrides(ctx context.Context, prefix string) (_ map[string]string, err error) {
	defer s.Done(ctx, "overrides", time.Now(), &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.overrides {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out, nil
}
