package redisstore

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/tokenstore"
)

// PutCode implements tokenstore.Store.
func (s *Store) PutCode(ctx context.Context, key string, c tokenstore.Code, now time.Time) (err error) {
	defer s.Done(ctx, "put_code", time.Now(), &err)
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
func (s *Store) VerifyCode(ctx context.Context, key, hash string, now time.Time) (_ tokenstore.CodeResult, err error) {
	defer s.Done(ctx, "verify_code", time.Now(), &err)
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
func (s *Store) UseNonce(ctx context.Context, nonce string, ttl time.Duration, now time.Time) (_ bool, err error) {
	defer s.Done(ctx, "use_nonce", time.Now(), &err)
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
func (s *Store) Hit(ctx context.Context, key string, window time.Duration, now time.Time) (_ int64, _ time.Duration, err error) {
	defer s.Done(ctx, "hit", time.Now(), &err)
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
func (s *Store) Release(ctx context.Context, key string, now time.Time) (err error) {
	defer s.Done(ctx, "release", time.Now(), &err)
	if err := release.Run(ctx, s.c, []string{s.hitKey(key)}, ms(now)).Err(); err != nil {
		return wrap("release", err)
	}
	return nil
}
