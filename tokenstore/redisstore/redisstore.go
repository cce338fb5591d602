// Package redisstore is the tokenstore.Store shared by gateway replicas,
// on Redis standalone, Sentinel or Cluster through go-redis UniversalClient.
//
// Keys: every key starts with the configured prefix and carries a hash tag,
// so the keys one atomic operation touches always share a Cluster slot:
//
//	<prefix>{<session id>}:s            session (hash)
//	<prefix>{<session id>}:r:<hash>     rotated refresh token (hash)
//	<prefix>{u:<dialect>:<subject>}     the subject's session ids (set)
//	<prefix>{c:<key>}                   one-time code (hash)
//	<prefix>{n:<nonce>}                 replay nonce (string)
//	<prefix>{h:<key>}                   rate-limit window (hash)
//	<prefix>{seat:<key>}                single-device seat (hash)
//	<prefix>{acct}:<key>                registered account (hash, no TTL)
//	<prefix>{acct}:seq                  account id sequence (no TTL)
//
// Every key has a TTL but the registered accounts and their id sequence:
// they are records, not sessions (run Redis with persistence when the
// mobile dialect registers users). All accounts share one hash tag so the
// sequence and a new account change in one script, in one Cluster slot. Multi-step changes run as Lua scripts; times are
// passed in from the caller's clock (unix milliseconds) so expiry decisions
// agree with the memory store and can be driven by tests.
package redisstore

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/tokenstore"
)

// Options configures the connection. One address is a standalone server;
// MasterName selects Sentinel (Addrs are the sentinels); several addresses
// without MasterName are a Cluster.
type Options struct {
	Addrs        []string
	MasterName   string
	Username     string
	Password     string
	DB           int
	TLS          *tls.Config
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	PoolSize     int
	// MaxRetries is how often a failed command is retried; default 1. A
	// gateway must fail closed quickly when Redis is gone, not after
	// go-redis's default of 3 retries with 5 dial attempts each.
	MaxRetries int
	// KeyPrefix starts every key; default "authgate:".
	KeyPrefix string
}

// Store is the Redis implementation of tokenstore.Store.
type Store struct {
	c      redis.UniversalClient
	prefix string
}

var _ tokenstore.Store = (*Store)(nil)

// New connects lazily: it returns at once and the first command dials.
// Check reachability with Ping.
func New(o Options) (*Store, error) {
	if len(o.Addrs) == 0 {
		return nil, fmt.Errorf("redisstore: no address")
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "authgate:"
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	c := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:        o.Addrs,
		MasterName:   o.MasterName,
		Username:     o.Username,
		Password:     o.Password,
		DB:           o.DB,
		TLSConfig:    o.TLS,
		DialTimeout:  o.DialTimeout,
		ReadTimeout:  o.ReadTimeout,
		WriteTimeout: o.WriteTimeout,
		PoolSize:     o.PoolSize,
		MaxRetries:   o.MaxRetries,
		// One dial attempt per try: retries are MaxRetries' business.
		DialerRetries:      1,
		DialerRetryTimeout: 50 * time.Millisecond,
	})
	return &Store{c: c, prefix: o.KeyPrefix}, nil
}

// Client exposes the underlying client, for tests that inspect keys.
func (s *Store) Client() redis.UniversalClient { return s.c }

// Prefix is the key prefix in use.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) sessionKey(id string) string { return s.prefix + "{" + id + "}:s" }
func (s *Store) rotatedKey(id, hash string) string {
	return s.prefix + "{" + id + "}:r:" + hash
}
func (s *Store) subjectKey(dialect, subject string) string {
	return s.prefix + "{u:" + dialect + ":" + subject + "}"
}
func (s *Store) codeKey(k string) string  { return s.prefix + "{c:" + k + "}" }
func (s *Store) nonceKey(k string) string { return s.prefix + "{n:" + k + "}" }
func (s *Store) hitKey(k string) string   { return s.prefix + "{h:" + k + "}" }

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v string) time.Time {
	n, _ := strconv.ParseInt(v, 10, 64)
	return time.UnixMilli(n)
}

// wrap gives a Redis error context; redis.Nil means not found.
func wrap(op string, err error) error {
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: %s: %w", op, tokenstore.ErrNotFound)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

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
func (s *Store) CreateSession(ctx context.Context, sess tokenstore.Session, now time.Time) error {
	ttl := sess.ExpiresAt.Sub(now)
	if sess.ID == "" || sess.RefreshHash == "" || ttl <= 0 {
		return fmt.Errorf("redisstore: create session: %w", tokenstore.ErrInvalid)
	}
	fields, err := sessionFields(sess)
	if err != nil {
		return fmt.Errorf("redisstore: create session: %w", err)
	}
	key := s.sessionKey(sess.ID)
	if _, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		p.HSet(ctx, key, fields...)
		p.PExpire(ctx, key, ttl)
		return nil
	}); err != nil {
		return wrap("create session", err)
	}
	return s.indexSubject(ctx, sess, ttl)
}

func (s *Store) indexSubject(ctx context.Context, sess tokenstore.Session, ttl time.Duration) error {
	err := addToSubject.Run(ctx, s.c, []string{s.subjectKey(sess.Dialect, sess.Subject)}, sess.ID, ttl.Milliseconds()).Err()
	if err != nil {
		return wrap("index session under subject", err)
	}
	return nil
}

// Session implements tokenstore.Store.
func (s *Store) Session(ctx context.Context, id string, now time.Time) (tokenstore.Session, error) {
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

// rotate: KEYS session, rotated-record-of-presented.
// ARGV presented, next, next expiry ms, successor, now ms, grace ms.
// Returns {1, session fields} rotated, {2, successor} replay in grace,
// {3} reused (session deleted), {0} not found.
var rotate = redis.NewScript(`
local now = tonumber(ARGV[5])
local ex = redis.call('HGET', KEYS[1], 'ex')
if not ex or tonumber(ex) <= now then return {0} end
if redis.call('HGET', KEYS[1], 'rh') == ARGV[1] then
  local keep = tonumber(ex) - now
  redis.call('HSET', KEYS[2], 'at', now, 'succ', ARGV[4], 'ex', ex)
  redis.call('PEXPIRE', KEYS[2], keep)
  redis.call('HSET', KEYS[1], 'rh', ARGV[2], 'ex', ARGV[3], 'ls', now)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) - now)
  return {1, redis.call('HGETALL', KEYS[1])}
end
local rec = redis.call('HMGET', KEYS[2], 'at', 'succ', 'ex')
if not rec[1] or tonumber(rec[3]) <= now then return {0} end
local grace = tonumber(ARGV[6])
if grace > 0 and now - tonumber(rec[1]) <= grace then return {2, rec[2]} end
redis.call('DEL', KEYS[1])
return {3}`)

func pairsToMap(v any) map[string]string {
	list, _ := v.([]any)
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		val, _ := list[i+1].(string)
		m[k] = val
	}
	return m
}

// RotateRefresh implements tokenstore.Store.
func (s *Store) RotateRefresh(ctx context.Context, r tokenstore.Rotation) (tokenstore.RotateResult, error) {
	if r.SessionID == "" || r.Next == "" || !r.Now.Before(r.NextExpiresAt) {
		return tokenstore.RotateResult{}, fmt.Errorf("redisstore: rotate: %w", tokenstore.ErrInvalid)
	}
	keys := []string{s.sessionKey(r.SessionID), s.rotatedKey(r.SessionID, r.Presented)}
	res, err := rotate.Run(ctx, s.c, keys, r.Presented, r.Next, ms(r.NextExpiresAt),
		string(r.Successor), ms(r.Now), r.Grace.Milliseconds()).Slice()
	if err != nil {
		return tokenstore.RotateResult{}, wrap("rotate", err)
	}
	status, _ := res[0].(int64)
	switch status {
	case 1:
		sess, err := parseSession(r.SessionID, pairsToMap(res[1]))
		if err != nil {
			return tokenstore.RotateResult{}, fmt.Errorf("redisstore: rotate: %w", err)
		}
		if err := s.indexSubject(ctx, sess, sess.ExpiresAt.Sub(r.Now)); err != nil {
			return tokenstore.RotateResult{}, err
		}
		return tokenstore.RotateResult{Session: sess}, nil
	case 2:
		succ, _ := res[1].(string)
		return tokenstore.RotateResult{Replayed: true, Successor: []byte(succ)}, nil
	case 3:
		return tokenstore.RotateResult{}, fmt.Errorf("redisstore: rotate session %s: %w", r.SessionID, tokenstore.ErrReused)
	default:
		return tokenstore.RotateResult{}, fmt.Errorf("redisstore: rotate: %w", tokenstore.ErrNotFound)
	}
}

// reissue: KEYS session. ARGV next, next expiry ms, company, now ms.
var reissue = redis.NewScript(`
local now = tonumber(ARGV[4])
local ex = redis.call('HGET', KEYS[1], 'ex')
if not ex or tonumber(ex) <= now then return {0} end
redis.call('HSET', KEYS[1], 'rh', ARGV[1], 'ex', ARGV[2], 'c', ARGV[3], 'ls', now)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) - now)
return {1, redis.call('HGETALL', KEYS[1])}`)

// ReissueRefresh implements tokenstore.Store.
func (s *Store) ReissueRefresh(ctx context.Context, r tokenstore.Reissue) (tokenstore.Session, error) {
	if r.Next == "" || !r.Now.Before(r.NextExpiresAt) {
		return tokenstore.Session{}, fmt.Errorf("redisstore: reissue: %w", tokenstore.ErrInvalid)
	}
	res, err := reissue.Run(ctx, s.c, []string{s.sessionKey(r.SessionID)}, r.Next, ms(r.NextExpiresAt), r.Company, ms(r.Now)).Slice()
	if err != nil {
		return tokenstore.Session{}, wrap("reissue", err)
	}
	if status, _ := res[0].(int64); status != 1 {
		return tokenstore.Session{}, fmt.Errorf("redisstore: reissue: %w", tokenstore.ErrNotFound)
	}
	sess, err := parseSession(r.SessionID, pairsToMap(res[1]))
	if err != nil {
		return tokenstore.Session{}, fmt.Errorf("redisstore: reissue: %w", err)
	}
	if err := s.indexSubject(ctx, sess, sess.ExpiresAt.Sub(r.Now)); err != nil {
		return tokenstore.Session{}, err
	}
	return sess, nil
}

// RevokeSession implements tokenstore.Store. The subject index keeps the
// id until RevokeSubject prunes it; a missing session there is harmless.
func (s *Store) RevokeSession(ctx context.Context, id string) error {
	if err := s.c.Del(ctx, s.sessionKey(id)).Err(); err != nil {
		return wrap("revoke session", err)
	}
	return nil
}

// RevokeSubject implements tokenstore.Store. Each session is deleted
// atomically; the sessions of one subject live in different Cluster slots,
// so the set as a whole is not one transaction. Ids are removed from the
// index one by one, never by deleting the index, so a session created
// meanwhile stays revocable.
func (s *Store) RevokeSubject(ctx context.Context, dialect, subject string, now time.Time) (int, error) {
	idx := s.subjectKey(dialect, subject)
	ids, err := s.c.SMembers(ctx, idx).Result()
	if err != nil {
		return 0, wrap("revoke subject", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	n := 0
	for _, id := range ids {
		sess, err := s.Session(ctx, id, now)
		if err == nil && sess.Dialect == dialect {
			n++
		} else if !errors.Is(err, tokenstore.ErrNotFound) && err != nil {
			return n, err
		}
		if err := s.c.Del(ctx, s.sessionKey(id)).Err(); err != nil {
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

// PutCode implements tokenstore.Store.
func (s *Store) PutCode(ctx context.Context, key string, c tokenstore.Code, now time.Time) error {
	ttl := c.ExpiresAt.Sub(now)
	if key == "" || c.Hash == "" || c.MaxAttempts < 1 || ttl <= 0 {
		return fmt.Errorf("redisstore: put code: %w", tokenstore.ErrInvalid)
	}
	k := s.codeKey(key)
	if _, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		p.HSet(ctx, k, "h", c.Hash, "m", c.MaxAttempts, "a", 0, "ex", ms(c.ExpiresAt))
		p.PExpire(ctx, k, ttl)
		return nil
	}); err != nil {
		return wrap("put code", err)
	}
	return nil
}

// attemptCode counts an attempt and hands back the stored hash, so the
// comparison itself happens in Go in constant time.
// Returns {0} missing, {3} exhausted (deleted), {1, hash} to compare.
var attemptCode = redis.NewScript(`
local r = redis.call('HMGET', KEYS[1], 'h', 'm', 'ex')
if not r[1] then return {0} end
if tonumber(r[3]) <= tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) return {0} end
local a = redis.call('HINCRBY', KEYS[1], 'a', 1)
if a > tonumber(r[2]) then redis.call('DEL', KEYS[1]) return {3} end
return {1, r[1]}`)

// consumeCode deletes the code only if it is still the one compared, so two
// concurrent right answers consume it once.
var consumeCode = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'h') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// VerifyCode implements tokenstore.Store.
func (s *Store) VerifyCode(ctx context.Context, key, hash string, now time.Time) (tokenstore.CodeResult, error) {
	k := s.codeKey(key)
	res, err := attemptCode.Run(ctx, s.c, []string{k}, ms(now)).Slice()
	if err != nil {
		return 0, wrap("verify code", err)
	}
	switch status, _ := res[0].(int64); status {
	case 3:
		return tokenstore.CodeExhausted, nil
	case 1:
		stored, _ := res[1].(string)
		if subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1 {
			return tokenstore.CodeMismatch, nil
		}
		n, err := consumeCode.Run(ctx, s.c, []string{k}, stored).Int64()
		if err != nil {
			return 0, wrap("consume code", err)
		}
		if n == 1 {
			return tokenstore.CodeMatched, nil
		}
	}
	return 0, fmt.Errorf("redisstore: verify code: %w", tokenstore.ErrNotFound)
}

// useNonce: KEYS nonce. ARGV now ms, ttl ms. 1 fresh, 0 replay.
var useNonce = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), 'PX', ARGV[2])
return 1`)

// UseNonce implements tokenstore.Store.
func (s *Store) UseNonce(ctx context.Context, nonce string, ttl time.Duration, now time.Time) (bool, error) {
	if nonce == "" || ttl <= 0 {
		return false, fmt.Errorf("redisstore: use nonce: %w", tokenstore.ErrInvalid)
	}
	n, err := useNonce.Run(ctx, s.c, []string{s.nonceKey(nonce)}, ms(now), ttl.Milliseconds()).Int64()
	if err != nil {
		return false, wrap("use nonce", err)
	}
	return n == 1, nil
}

// hit: KEYS window. ARGV now ms, window ms. Returns {count, ms to reset}.
var hit = redis.NewScript(`
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local r = redis.call('HGET', KEYS[1], 'r')
if not r or tonumber(r) <= now then
  redis.call('HSET', KEYS[1], 'c', 1, 'r', now + win)
  redis.call('PEXPIRE', KEYS[1], win)
  return {1, win}
end
return {redis.call('HINCRBY', KEYS[1], 'c', 1), tonumber(r) - now}`)

// Hit implements tokenstore.Store.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (int64, time.Duration, error) {
	if key == "" || window <= 0 {
		return 0, 0, fmt.Errorf("redisstore: hit: %w", tokenstore.ErrInvalid)
	}
	res, err := hit.Run(ctx, s.c, []string{s.hitKey(key)}, ms(now), window.Milliseconds()).Int64Slice()
	if err != nil {
		return 0, 0, wrap("hit", err)
	}
	return res[0], time.Duration(res[1]) * time.Millisecond, nil
}

// release: KEYS window. ARGV now ms.
var release = redis.NewScript(`
local r = redis.call('HGET', KEYS[1], 'r')
if r and tonumber(r) > tonumber(ARGV[1]) then
  if redis.call('HINCRBY', KEYS[1], 'c', -1) < 0 then redis.call('HSET', KEYS[1], 'c', 0) end
end
return 1`)

// Release implements tokenstore.Store.
func (s *Store) Release(ctx context.Context, key string, now time.Time) error {
	if err := release.Run(ctx, s.c, []string{s.hitKey(key)}, ms(now)).Err(); err != nil {
		return wrap("release", err)
	}
	return nil
}

func (s *Store) accountKey(k string) string { return s.prefix + "{acct}:" + k }

// ensureAccount: KEYS account, sequence. ARGV id base, now ms, attrs json.
var ensureAccount = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('HGETALL', KEYS[1])} end
local n = redis.call('INCR', KEYS[2])
if n < tonumber(ARGV[1]) then
  n = tonumber(ARGV[1])
  redis.call('SET', KEYS[2], n)
end
redis.call('HSET', KEYS[1], 'id', n, 'ct', ARGV[2], 'a', ARGV[3])
return {1, redis.call('HGETALL', KEYS[1])}`)

func parseAccount(m map[string]string) (tokenstore.Account, error) {
	id, err := strconv.ParseInt(m["id"], 10, 64)
	if err != nil {
		return tokenstore.Account{}, fmt.Errorf("account id %q: %w", m["id"], err)
	}
	a := tokenstore.Account{ID: id, CreatedAt: fromMS(m["ct"])}
	if v := m["a"]; v != "" && v != "null" {
		if err := json.Unmarshal([]byte(v), &a.Attrs); err != nil {
			return tokenstore.Account{}, fmt.Errorf("account attrs: %w", err)
		}
	}
	return a, nil
}

// EnsureAccount implements tokenstore.Store.
func (s *Store) EnsureAccount(ctx context.Context, key string, attrs map[string]string, idBase int64, now time.Time) (tokenstore.Account, bool, error) {
	if key == "" {
		return tokenstore.Account{}, false, fmt.Errorf("redisstore: ensure account: %w", tokenstore.ErrInvalid)
	}
	raw, err := json.Marshal(attrs)
	if err != nil {
		return tokenstore.Account{}, false, fmt.Errorf("redisstore: ensure account: %w", err)
	}
	res, err := ensureAccount.Run(ctx, s.c, []string{s.accountKey(key), s.accountKey("seq")}, idBase, ms(now), string(raw)).Slice()
	if err != nil {
		return tokenstore.Account{}, false, wrap("ensure account", err)
	}
	a, err := parseAccount(pairsToMap(res[1]))
	if err != nil {
		return tokenstore.Account{}, false, fmt.Errorf("redisstore: ensure account: %w", err)
	}
	created, _ := res[0].(int64)
	return a, created == 1, nil
}

// Account implements tokenstore.Store.
func (s *Store) Account(ctx context.Context, key string) (tokenstore.Account, error) {
	m, err := s.c.HGetAll(ctx, s.accountKey(key)).Result()
	if err != nil {
		return tokenstore.Account{}, wrap("account", err)
	}
	if len(m) == 0 {
		return tokenstore.Account{}, fmt.Errorf("redisstore: account: %w", tokenstore.ErrNotFound)
	}
	a, err := parseAccount(m)
	if err != nil {
		return tokenstore.Account{}, fmt.Errorf("redisstore: account: %w", err)
	}
	return a, nil
}

func (s *Store) seatKey(k string) string { return s.prefix + "{seat:" + k + "}" }

// claimSeat: KEYS seat. ARGV session, device, now ms, expiry ms.
// Returns the previous holder {session, device, since} (false when none).
var claimSeat = redis.NewScript(`
local now = tonumber(ARGV[3])
local prev = redis.call('HMGET', KEYS[1], 's', 'd', 't', 'ex')
if prev[4] and tonumber(prev[4]) <= now then
  redis.call('DEL', KEYS[1])
  prev = {false, false, false, false}
end
if prev[1] and prev[2] ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'x:' .. prev[2], now, 'xb:' .. prev[2], ARGV[1])
end
redis.call('HDEL', KEYS[1], 'x:' .. ARGV[2], 'xb:' .. ARGV[2])
local ex = tonumber(ARGV[4])
if prev[4] and tonumber(prev[4]) > ex then ex = tonumber(prev[4]) end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'd', ARGV[2], 't', now, 'ex', ex)
redis.call('PEXPIRE', KEYS[1], ex - now)
return {prev[1], prev[2], prev[3]}`)

// ClaimSeat implements tokenstore.Store.
func (s *Store) ClaimSeat(ctx context.Context, c tokenstore.SeatClaim) (tokenstore.Seat, error) {
	if c.Key == "" || c.SessionID == "" || !c.Now.Before(c.ExpiresAt) {
		return tokenstore.Seat{}, fmt.Errorf("redisstore: claim seat: %w", tokenstore.ErrInvalid)
	}
	res, err := claimSeat.Run(ctx, s.c, []string{s.seatKey(c.Key)}, c.SessionID, c.Device, ms(c.Now), ms(c.ExpiresAt)).Slice()
	if err != nil {
		return tokenstore.Seat{}, wrap("claim seat", err)
	}
	sid, _ := res[0].(string)
	if sid == "" {
		return tokenstore.Seat{}, nil
	}
	dev, _ := res[1].(string)
	since, _ := res[2].(string)
	return tokenstore.Seat{SessionID: sid, Device: dev, Since: fromMS(since)}, nil
}

// SeatState implements tokenstore.Store.
func (s *Store) SeatState(ctx context.Context, key, device string, now time.Time) (tokenstore.SeatState, error) {
	v, err := s.c.HMGet(ctx, s.seatKey(key), "s", "d", "t", "ex", "x:"+device, "xb:"+device).Result()
	if err != nil {
		return tokenstore.SeatState{}, wrap("seat state", err)
	}
	str := func(i int) string { x, _ := v[i].(string); return x }
	if str(0) == "" || !now.Before(fromMS(str(3))) {
		return tokenstore.SeatState{}, nil
	}
	st := tokenstore.SeatState{Holder: tokenstore.Seat{SessionID: str(0), Device: str(1), Since: fromMS(str(2))}}
	if at := str(4); at != "" {
		st.DisplacedAt = fromMS(at)
		st.DisplacedBy = str(5)
	}
	return st, nil
}

// Ping implements tokenstore.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// Close implements tokenstore.Store.
func (s *Store) Close() error { return s.c.Close() }

// slogPrinter adapts slog to go-redis's internal logger.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	p.l.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// SetLogger sends go-redis's own messages (dial failures, pool events) to
// l, so the gateway's stderr stays one JSON line per entry. go-redis keeps
// one logger per process, so this is process-wide.
func SetLogger(l *slog.Logger) { redis.SetLogger(slogPrinter{l: l}) }
