// Package memstore is the embedded, single-process tokenstore.Store: the
// default, needing no other process. Replicas cannot share it; point
// store.driver at Redis for that.
package memstore

import (
	"context"
	"crypto/subtle"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/authgate/authgate/tokenstore"
)

// sweepEvery is how often expired entries are dropped. Lookups already
// ignore expired entries, so this only bounds memory.
const sweepEvery = time.Minute

type rotated struct {
	at        time.Time
	successor []byte
	expiresAt time.Time
	// next is the successor's hash: the same rotation presented again (a
	// retry) is a replay, never a reuse.
	next string
}

type code struct {
	tokenstore.Code
	attempts int
}

type seat struct {
	holder    tokenstore.Seat
	expiresAt time.Time
	displaced map[string]time.Time
}

type counter struct {
	count   int64
	resetAt time.Time
}

// Store keeps everything in maps behind one mutex. The zero value is not
// usable; call New.
type Store struct {
	tokenstore.Probe

	mu       sync.Mutex
	sessions map[string]tokenstore.Session
	rotated  map[string]map[string]rotated // session id → presented hash → record
	subjects map[string]map[string]struct{}
	adopted  map[string]time.Time // session id → until when its adoption is remembered
	codes    map[string]code
	nonces   map[string]time.Time
	counters map[string]counter
	accounts map[string]tokenstore.Account
	lastID   int64
	seats    map[string]seat
	// overrides are records: they live as long as the process.
	overrides map[string]string

	now       func() time.Time
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var (
	_ tokenstore.Store      = (*Store)(nil)
	_ tokenstore.Observable = (*Store)(nil)
)

// New returns an empty store whose background sweep reads the time from now
// (time.Now when nil). Close stops the sweep.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	s := &Store{
		sessions:  map[string]tokenstore.Session{},
		rotated:   map[string]map[string]rotated{},
		subjects:  map[string]map[string]struct{}{},
		adopted:   map[string]time.Time{},
		codes:     map[string]code{},
		nonces:    map[string]time.Time{},
		counters:  map[string]counter{},
		accounts:  map[string]tokenstore.Account{},
		seats:     map[string]seat{},
		overrides: map[string]string{},
		now:       now,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	go s.sweepLoop()
	return s
}

func subjectKey(dialect, subject string) string { return dialect + "\x00" + subject }

func (s *Store) sweepLoop() {
	defer close(s.done)
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep(s.now())
		}
	}
}

// Sweep drops every entry expired at now. It runs every minute by itself;
// tests call it to show expired state is really gone.
func (s *Store) Sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		if !now.Before(sess.ExpiresAt) {
			s.deleteSessionLocked(id)
		}
	}
	for id, recs := range s.rotated {
		for h, r := range recs {
			if !now.Before(r.expiresAt) {
				delete(recs, h)
			}
		}
		if len(recs) == 0 {
			delete(s.rotated, id)
		}
	}
	for k, c := range s.codes {
		if !now.Before(c.ExpiresAt) {
			delete(s.codes, k)
		}
	}
	for id, exp := range s.adopted {
		if !now.Before(exp) {
			delete(s.adopted, id)
		}
	}
	for k, exp := range s.nonces {
		if !now.Before(exp) {
			delete(s.nonces, k)
		}
	}
	for k, c := range s.counters {
		if !now.Before(c.resetAt) {
			delete(s.counters, k)
		}
	}
	for k, st := range s.seats {
		if !now.Before(st.expiresAt) {
			delete(s.seats, k)
		}
	}
}

// Len reports how many sessions are held, expired or not; for tests.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *Store) deleteSessionLocked(id string) {
	sess, ok := s.sessions[id]
	if !ok {
		return
	}
	delete(s.sessions, id)
	delete(s.rotated, id)
	if set := s.subjects[subjectKey(sess.Dialect, sess.Subject)]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(s.subjects, subjectKey(sess.Dialect, sess.Subject))
		}
	}
}

func (s *Store) liveSessionLocked(id string, now time.Time) (tokenstore.Session, bool) {
	sess, ok := s.sessions[id]
	if !ok {
		return tokenstore.Session{}, false
	}
	if !now.Before(sess.ExpiresAt) {
		s.deleteSessionLocked(id)
		return tokenstore.Session{}, false
	}
	return sess, true
}

func copySession(sess tokenstore.Session) tokenstore.Session {
	sess.Attrs = maps.Clone(sess.Attrs)
	return sess
}

// CreateSession implements tokenstore.Store.
func (s *Store) CreateSession(ctx context.Context, sess tokenstore.Session, now time.Time) (err error) {
	defer s.Done(ctx, "create_session", time.Now(), &err)
	if sess.ID == "" || sess.RefreshHash == "" || !now.Before(sess.ExpiresAt) {
		return fmt.Errorf("memstore: create session: %w", tokenstore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createSessionLocked(sess)
	return nil
}

func (s *Store) createSessionLocked(sess tokenstore.Session) {
	s.sessions[sess.ID] = copySession(sess)
	k := subjectKey(sess.Dialect, sess.Subject)
	if s.subjects[k] == nil {
		s.subjects[k] = map[string]struct{}{}
	}
	s.subjects[k][sess.ID] = struct{}{}
}

// AdoptSession implements tokenstore.Store.
func (s *Store) AdoptSession(ctx context.Context, sess tokenstore.Session, remember, now time.Time) (_ bool, err error) {
	defer s.Done(ctx, "adopt_session", time.Now(), &err)
	if sess.ID == "" || sess.RefreshHash == "" || !now.Before(sess.ExpiresAt) {
		return false, fmt.Errorf("memstore: adopt session: %w", tokenstore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if until, ok := s.adopted[sess.ID]; ok && now.Before(until) {
		return false, nil
	}
	s.adopted[sess.ID] = later(remember, sess.ExpiresAt)
	s.createSessionLocked(sess)
	return true, nil
}

// Session implements tokenstore.Store.
func (s *Store) Session(ctx context.Context, id string, now time.Time) (_ tokenstore.Session, err error) {
	defer s.Done(ctx, "session", time.Now(), &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.liveSessionLocked(id, now)
	if !ok {
		return tokenstore.Session{}, fmt.Errorf("memstore: session: %w", tokenstore.ErrNotFound)
	}
	return copySession(sess), nil
}

// CheckSession implements tokenstore.Store.
func (s *Store) CheckSession(ctx context.Context, id string, now time.Time) (err error) {
	defer s.Done(ctx, "check_session", time.Now(), &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.liveSessionLocked(id, now); !ok {
		return fmt.Errorf("memstore: check session: %w", tokenstore.ErrNotFound)
	}
	return nil
}

// RotateRefresh implements tokenstore.Store.
func (s *Store) RotateRefresh(ctx context.Context, r tokenstore.Rotation) (_ tokenstore.RotateResult, err error) {
	defer s.Done(ctx, "rotate_refresh", time.Now(), &err)
	if r.SessionID == "" || r.Next == "" || !r.Now.Before(r.NextExpiresAt) {
		return tokenstore.RotateResult{}, fmt.Errorf("memstore: rotate: %w", tokenstore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.liveSessionLocked(r.SessionID, r.Now)
	if !ok {
		return tokenstore.RotateResult{}, fmt.Errorf("memstore: rotate: %w", tokenstore.ErrNotFound)
	}
	if subtle.ConstantTimeCompare([]byte(sess.RefreshHash), []byte(r.Presented)) == 1 {
		if s.rotated[sess.ID] == nil {
			s.rotated[sess.ID] = map[string]rotated{}
		}
		s.rotated[sess.ID][r.Presented] = rotated{at: r.Now, successor: r.Successor, expiresAt: sess.ExpiresAt, next: r.Next}
		sess.RefreshHash = r.Next
		sess.ExpiresAt = r.NextExpiresAt
		sess.LastSeen = r.Now
		s.sessions[sess.ID] = sess
		return tokenstore.RotateResult{}, nil
	}
	rec, ok := s.rotated[sess.ID][r.Presented]
	if !ok || !r.Now.Before(rec.expiresAt) {
		return tokenstore.RotateResult{}, fmt.Errorf("memstore: rotate: %w", tokenstore.ErrNotFound)
	}
	if rec.next == r.Next || r.Now.Sub(rec.at) <= r.Grace && r.Grace > 0 {
		return tokenstore.RotateResult{Replayed: true, Successor: rec.successor}, nil
	}
	s.deleteSessionLocked(sess.ID)
	return tokenstore.RotateResult{}, fmt.Errorf("memstore: rotate session %s: %w", sess.ID, tokenstore.ErrReused)
}

// ReissueRefresh implements tokenstore.Store.
func (s *Store) ReissueRefresh(ctx context.Context, r tokenstore.Reissue) (err error) {
	defer s.Done(ctx, "reissue_refresh", time.Now(), &err)
	if r.Next == "" || !r.Now.Before(r.NextExpiresAt) {
		return fmt.Errorf("memstore: reissue: %w", tokenstore.ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.liveSessionLocked(r.SessionID, r.Now)
	if !ok {
		return fmt.Errorf("memstore: reissue: %w", tokenstore.ErrNotFound)
	}
	sess.RefreshHash = r.Next
	sess.ExpiresAt = r.NextExpiresAt
	sess.Company = r.Company
	sess.LastSeen = r.Now
	s.sessions[sess.ID] = sess
	return nil
}

// RevokeSession implements tokenstore.Store.
func (s *Store) RevokeSession(ctx context.Context, id string) (err error) {
	defer s.Done(ctx, "revoke_session", time.Now(), &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteSessionLocked(id)
	return nil
}

// SubjectSessions implements tokenstore.Store.
func (s *Store) SubjectSessions(ctx context.Context, dialect, subject string, now time.Time) (_ []tokenstore.Session, err error) {
	defer s.Done(ctx, "subject_sessions", time.Now(), &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tokenstore.Session
	for id := range s.subjects[subjectKey(dialect, subject)] {
		if sess, ok := s.liveSessionLocked(id, now); ok {
			out = append(out, copySession(sess))
		}
	}
	return out, nil
}

// RevokeSubject implements tokenstore.Store.
func (s *Store) RevokeSubject(ctx context.Context, dialect, subject string, now time.Time) (_ int, err error) {
	defer s.Done(ctx, "revoke_subject", time.Now(), &err)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.subjects[subjectKey(dialect, subject)] {
		if _, ok := s.liveSessionLocked(id, now); ok {
			n++
		}
		s.deleteSessionLocked(id)
	}
	return n, nil
}

// Ping implements tokenstore.Store; memory always answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.Done(ctx, "ping", time.Now(), &err)
	return nil
}

// Close stops the background sweep. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}
