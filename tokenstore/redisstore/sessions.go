package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/tokenstore"
)

func sessionFields(sess tokenstore.Session) ([]any, error) {
	attrs, err := json.Marshal(sess.Attrs)
	if err != nil {
		return nil, err
	}
	return []any{
		"d", sess.Dialect, "u", sess.Subject, "c", sess.Company, "v", sess.Device,
		"a", string(attrs), "ct", ms(sess.CreatedAt), "ls", ms(sess.LastSeen),
		"ex", ms(sess.ExpiresAt), "rh", sess.RefreshHash,
	}, nil
}

func parseSession(id string, m map[string]string) (tokenstore.Session, error) {
	sess := tokenstore.Session{
		ID: id, Dialect: m["d"], Subject: m["u"], Company: m["c"], Device: m["v"],
		CreatedAt: fromMS(m["ct"]), LastSeen: fromMS(m["ls"]), ExpiresAt: fromMS(m["ex"]),
		RefreshHash: m["rh"],
	}
	if a := m["a"]; a != "" && a != "null" {
		if err := json.Unmarshal([]byte(a), &sess.Attrs); err != nil {
			return tokenstore.Session{}, fmt.Errorf("session %s attrs: %w", id, err)
		}
	}
	return sess, nil
}

// addToSubject indexes a session under its subject and stretches the
// index's TTL to cover it.
var addToSubject = redis.NewScript(`
redis.call('SADD', KEYS[1], ARGV[1])
local t = redis.call('PTTL', KEYS[1])
if t < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`)

// CreateSession implements tokenstore.Store.
func (s *Store) CreateSession(ctx context.Context, sess tokenstore.Session, now time.Time) (err error) {
	defer s.Done(ctx, "create_session", time.Now(), &err)
	ttl := sess.ExpiresAt.Sub(now)
	if sess.ID == "" || sess.RefreshHash == "" || ttl <= 0 {
		return fmt.Errorf("redisstore: create session: %w", tokenstore.ErrInvalid)
	}
	fields, err := sessionFields(sess)
	if err != nil {
		return fmt.Errorf("redisstore: create session: %w", err)
	}
	// The index first: a session must never be live without being in its
	// subject's index, or logout-everywhere and an app's revocation would
	// miss it. An index entry whose session was never written is harmless.
	if err := s.indexSubject(ctx, sess, ttl); err != nil {
		return err
	}
	key := s.sessionKey(sess.ID)
	err = s.durably(ctx, key, func(c redis.Cmdable) (bool, error) {
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Del(ctx, key)
			p.HSet(ctx, key, fields...)
			p.PExpire(ctx, key, ttl)
			return nil
		})
		return true, err
	})
	if err != nil {
		return wrap("create session", err)
	}
	return nil
}

// adopt: KEYS adoption record, session. ARGV the record's ttl ms, the
// session's ttl ms, then the session's fields. Returns 1 created, 0
// adopted before (the record outlives the session, so a revoked session
// is never adopted again).
var adopt = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`)

// AdoptSession implements tokenstore.Store.
func (s *Store) AdoptSession(ctx context.Context, sess tokenstore.Session, remember, now time.Time) (created bool, err error) {
	defer s.Done(ctx, "adopt_session", time.Now(), &err)
	ttl := sess.ExpiresAt.Sub(now)
	if sess.ID == "" || sess.RefreshHash == "" || ttl <= 0 {
		return false, fmt.Errorf("redisstore: adopt session: %w", tokenstore.ErrInvalid)
	}
	fields, err := sessionFields(sess)
	if err != nil {
		return false, fmt.Errorf("redisstore: adopt session: %w", err)
	}
	// The index first, as CreateSession does.
	if err := s.indexSubject(ctx, sess, ttl); err != nil {
		return false, err
	}
	key := s.sessionKey(sess.ID)
	keep := ttl
	if r := remember.Sub(now); r > keep {
		keep = r
	}
	args := append([]any{keep.Milliseconds(), ttl.Milliseconds()}, fields...)
	err = s.durably(ctx, key, func(c redis.Cmdable) (bool, error) {
		n, err := adopt.Run(ctx, c, []string{s.adoptedKey(sess.ID), key}, args...).Int()
		created = n == 1
		return created, err
	})
	if err != nil {
		return false, wrap("adopt session", err)
	}
	return created, nil
}

func (s *Store) indexSubject(ctx context.Context, sess tokenstore.Session, ttl time.Duration) error {
	err := addToSubject.Run(ctx, s.c, []string{s.subjectKey(sess.Dialect, sess.Subject)}, sess.ID, ttl.Milliseconds()).Err()
	if err != nil {
		return wrap("index session under subject", err)
	}
	return nil
}

// Session implements tokenstore.Store.
func (s *Store) Session(ctx context.Context, id string, now time.Time) (_ tokenstore.Session, err error) {
	defer s.Done(ctx, "session", time.Now(), &err)
	if err := s.unsettled("session", id); err != nil {
		return tokenstore.Session{}, err
	}
	m, err := s.c.HGetAll(ctx, s.sessionKey(id)).Result()
	if err != nil {
		return tokenstore.Session{}, wrap("session", err)
	}
	if len(m) == 0 {
		return tokenstore.Session{}, fmt.Errorf("redisstore: session: %w", tokenstore.ErrNotFound)
	}
	sess, err := parseSession(id, m)
	if err != nil {
		return tokenstore.Session{}, fmt.Errorf("redisstore: %w", err)
	}
	if !now.Before(sess.ExpiresAt) {
		return tokenstore.Session{}, fmt.Errorf("redisstore: session: %w", tokenstore.ErrNotFound)
	}
	return sess, nil
}

// CheckSession implements tokenstore.Store: from the session cache when
// it knows the session live, else one HGET of the expiry, the only field
// the answer depends on (then cached). A cache hit is no store operation
// and is not reported as one.
func (s *Store) CheckSession(ctx context.Context, id string, now time.Time) (err error) {
	if err := s.unsettled("check session", id); err != nil {
		return err
	}
	c := s.cache
	if c != nil && c.live(id, now) {
		return nil
	}
	defer s.Done(ctx, "check_session", time.Now(), &err)
	var g uint64
	if c != nil {
		g = c.gen.Load()
	}
	ex, err := s.live(ctx, id, now, "check session")
	if err == nil && c != nil {
		c.remember(id, ex, g)
	}
	return err
}

// live answers nil, with the stored expiry (unix ms), when that is after
// now.
func (s *Store) live(ctx context.Context, id string, now time.Time, op string) (int64, error) {
	ex, err := s.c.HGet(ctx, s.sessionKey(id), "ex").Int64()
	if err != nil {
		return 0, wrap(op, err)
	}
	if ms(now) >= ex {
		return 0, fmt.Errorf("redisstore: %s: %w", op, tokenstore.ErrNotFound)
	}
	return ex, nil
}

// rotate: KEYS session, rotated-record-of-presented.
// ARGV presented, next, next expiry ms, successor, now ms, grace ms,
// pending ("1": the rotation's answer is not delivered until its write is
// replicated, see acknowledge), index-until ms (how long the caller has
// just made the subject index live, or 0). Returns {1} rotated, {2,
// successor} replay, {3} reused (session deleted), {0} not found, {4,
// dialect, subject} nothing done: the subject index must first be made to
// live until the next expiry. Running it twice with the same arguments (a
// client retry after a lost reply) is a replay, never a reuse: the record
// of the rotation keeps the successor's hash it was made for. A pending
// rotation (field p) is a replay for every presentation, whatever the
// grace: its client never got an answer, so presenting the token again is
// a retry, not a reuse; the grace counts from the moment an answer was
// delivered (acknowledge sets at then).
//
// The session's field ix is how long its subject index is known to live:
// the session's expiry is never moved past it, so the session never
// outlives its place in the index (which lives in another Cluster slot,
// out of the script's reach). The caller stretches the index with a
// session's life to spare, so most rotations are this one round trip.
var rotate = redis.NewScript(`
local now = tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'ex', 'rh', 'u', 'd', 'ix')
local ex = s[1]
if not ex or tonumber(ex) <= now then return {0} end
if s[2] == ARGV[1] then
  local nextEx = tonumber(ARGV[3])
  local ix = math.max(tonumber(s[5] or '0'), tonumber(ARGV[8]))
  if s[3] and s[3] ~= '' and ix < nextEx then return {4, s[4] or '', s[3]} end
  local keep = tonumber(ex) - now
  redis.call('HSET', KEYS[2], 'at', now, 'succ', ARGV[4], 'ex', ex, 'nx', ARGV[2])
  if ARGV[7] == '1' then redis.call('HSET', KEYS[2], 'p', 1) end
  redis.call('PEXPIRE', KEYS[2], keep)
  redis.call('HSET', KEYS[1], 'rh', ARGV[2], 'ex', ARGV[3], 'ls', now, 'ix', ix)
  redis.call('PEXPIRE', KEYS[1], nextEx - now)
  return {1}
end
local rec = redis.call('HMGET', KEYS[2], 'at', 'succ', 'ex', 'nx', 'p')
if not rec[1] or tonumber(rec[3]) <= now then return {0} end
if rec[4] == ARGV[2] or rec[5] then return {2, rec[2]} end
local grace = tonumber(ARGV[6])
if grace > 0 and now - tonumber(rec[1]) <= grace then return {2, rec[2]} end
redis.call('DEL', KEYS[1])
return {3}`)

// acknowledge: KEYS rotation record. ARGV now ms. A pending rotation's
// answer is being delivered: its grace starts now. Returns 1, or 0 for a
// record that was not pending (an answered one keeps its time).
var acknowledge = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 'p') == 0 then return 0 end
redis.call('HSET', KEYS[1], 'at', ARGV[1])
redis.call('HDEL', KEYS[1], 'p')
return 1`)

// reissue: KEYS session. ARGV next, next expiry ms, company, now ms.
// Returns 1, or 0 not found. Running it twice sets the same values.
var reissue = redis.NewScript(`
local now = tonumber(ARGV[4])
local ex = redis.call('HGET', KEYS[1], 'ex')
if not ex or tonumber(ex) <= now then return 0 end
redis.call('HSET', KEYS[1], 'rh', ARGV[1], 'ex', ARGV[2], 'c', ARGV[3], 'ls', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) - now)
return 1`)

// RevokeSession implements tokenstore.Store. The subject index keeps the
// id until RevokeSubject prunes it; a missing session there is harmless.
func (s *Store) RevokeSession(ctx context.Context, id string) (err error) {
	defer s.Done(ctx, "revoke_session", time.Now(), &err)
	defer s.invalidate(ctx, id)
	if err := s.revoke(ctx, id); err != nil {
		return wrap("revoke session", err)
	}
	return nil
}

// revoke deletes a session so that it stays deleted across a failover:
// a deletion that fails, or is not replicated, stays pending (re-applied
// until it is; the session unsettled meanwhile, on every replica).
func (s *Store) revoke(ctx context.Context, id string) error {
	err := s.deleteSession(ctx, id)
	if err != nil {
		s.revocationFailed(ctx, id)
	}
	return err
}

// deleteSession deletes a session and waits for the replicas asked for.
func (s *Store) deleteSession(ctx context.Context, id string) error {
	key := s.sessionKey(id)
	return s.durably(ctx, key, func(c redis.Cmdable) (bool, error) {
		return true, c.Del(ctx, key).Err()
	})
}

// SubjectSessions implements tokenstore.Store: the subject's index, then
// each session (one pipeline; in a Cluster go-redis splits it by slot).
func (s *Store) SubjectSessions(ctx context.Context, dialect, subject string, now time.Time) (_ []tokenstore.Session, err error) {
	defer s.Done(ctx, "subject_sessions", time.Now(), &err)
	ids, err := s.c.SMembers(ctx, s.subjectKey(dialect, subject)).Result()
	if err != nil {
		return nil, wrap("subject sessions", err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.sessionKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("subject sessions", err)
	}
	var out []tokenstore.Session
	for i, cmd := range cmds {
		m := cmd.Val()
		if len(m) == 0 {
			continue // revoked or expired; the index is pruned lazily
		}
		sess, err := parseSession(ids[i], m)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		if now.Before(sess.ExpiresAt) {
			out = append(out, sess)
		}
	}
	return out, nil
}

// RevokeSubject implements tokenstore.Store. Each session is deleted
// atomically; the sessions of one subject live in different Cluster slots,
// so the set as a whole is not one transaction. Ids are removed from the
// index one by one, never by deleting the index, so a session created
// meanwhile stays revocable.
func (s *Store) RevokeSubject(ctx context.Context, dialect, subject string, now time.Time) (_ int, err error) {
	defer s.Done(ctx, "revoke_subject", time.Now(), &err)
	idx := s.subjectKey(dialect, subject)
	ids, err := s.c.SMembers(ctx, idx).Result()
	if err != nil {
		return 0, wrap("revoke subject", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	n := 0
	defer s.invalidate(ctx, ids...)
	for _, id := range ids {
		_, err := s.live(ctx, id, now, "revoke subject")
		if err == nil {
			n++
		} else if !errors.Is(err, tokenstore.ErrNotFound) {
			return n, err
		}
		if err := s.revoke(ctx, id); err != nil {
			return n, wrap("revoke subject", err)
		}
	}
	members := make([]any, len(ids))
	for i, id := range ids {
		members[i] = id
	}
	if err := s.c.SRem(ctx, idx, members...).Err(); err != nil {
		return n, wrap("revoke subject", err)
	}
	return n, nil
}
