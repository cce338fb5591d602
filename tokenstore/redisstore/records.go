package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/tokenstore"
)

// accountKey is where a registered account lives: a hash tag of its
// own, so the accounts spread over a Cluster's slots instead of piling
// onto one node. legacyAccountKey is where earlier versions kept them,
// all under one tag; accounts found there are read, never recreated.
func (s *Store) accountKey(k string) string       { return s.prefix + "{acct:" + k + "}" }
func (s *Store) legacyAccountKey(k string) string { return s.prefix + "{acct}:" + k }
func (s *Store) accountSeqKey() string            { return s.prefix + "{acct}:seq" }

// nextAccountID: KEYS sequence. ARGV id base. The next id, idBase or above.
var nextAccountID = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n < tonumber(ARGV[1]) then
  n = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], n)
end
return n`)

// createAccount: KEYS account. ARGV id, now ms, attrs json. Creates the
// account unless it exists; {created, fields}.
var createAccount = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('HGETALL', KEYS[1])} end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'ct', ARGV[2], 'a', ARGV[3])
return {1, redis.call('HGETALL', KEYS[1])}`)

// pairsToMap reads a script's HGETALL reply.
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

// EnsureAccount implements tokenstore.Store. The account and the id
// sequence live in different slots, so the id is drawn first and the
// account created only if it still does not exist: concurrent first
// logins of one number create one account (a drawn id may go unused).
func (s *Store) EnsureAccount(ctx context.Context, key string, attrs map[string]string, idBase int64, now time.Time) (_ tokenstore.Account, _ bool, err error) {
	defer s.Done(ctx, "ensure_account", time.Now(), &err)
	if key == "" {
		return tokenstore.Account{}, false, fmt.Errorf("redisstore: ensure account: %w", tokenstore.ErrInvalid)
	}
	raw, err := json.Marshal(attrs)
	if err != nil {
		return tokenstore.Account{}, false, fmt.Errorf("redisstore: ensure account: %w", err)
	}
	if a, err := s.account(ctx, key); !errors.Is(err, tokenstore.ErrNotFound) {
		return a, false, err
	}
	id, err := nextAccountID.Run(ctx, s.c, []string{s.accountSeqKey()}, idBase).Int64()
	if err != nil {
		return tokenstore.Account{}, false, wrap("ensure account", err)
	}
	res, err := createAccount.Run(ctx, s.c, []string{s.accountKey(key)}, id, ms(now), string(raw)).Slice()
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
func (s *Store) Account(ctx context.Context, key string) (_ tokenstore.Account, err error) {
	defer s.Done(ctx, "account", time.Now(), &err)
	return s.account(ctx, key)
}

// account reads an account where it lives, or where it lived.
func (s *Store) account(ctx context.Context, key string) (tokenstore.Account, error) {
	for _, k := range []string{s.accountKey(key), s.legacyAccountKey(key)} {
		m, err := s.c.HGetAll(ctx, k).Result()
		if err != nil {
			return tokenstore.Account{}, wrap("account", err)
		}
		if len(m) > 0 {
			a, err := parseAccount(m)
			if err != nil {
				return tokenstore.Account{}, fmt.Errorf("redisstore: account: %w", err)
			}
			return a, nil
		}
	}
	return tokenstore.Account{}, fmt.Errorf("redisstore: account: %w", tokenstore.ErrNotFound)
}

func (s *Store) seatKey(k string) string { return s.prefix + "{seat:" + k + "}" }

// claimSeat: KEYS seat. ARGV session, device, now ms, expiry ms.
// Returns the previous holder {session, device} (false when none).
var claimSeat = redis.NewScript(`
local now = tonumber(ARGV[3])
local prev = redis.call('HMGET', KEYS[1], 's', 'd', 'ex')
if prev[3] and tonumber(prev[3]) <= now then
  redis.call('DEL', KEYS[1])
  prev = {false, false, false}
end
if prev[1] and prev[2] ~= ARGV[2] then
  redis.call('HSET', KEYS[1], 'x:' .. prev[2], now)
end
redis.call('HDEL', KEYS[1], 'x:' .. ARGV[2])
local ex = tonumber(ARGV[4])
if prev[3] and tonumber(prev[3]) > ex then ex = tonumber(prev[3]) end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'd', ARGV[2], 'ex', ex)
redis.call('PEXPIRE', KEYS[1], ex - now)
return {prev[1], prev[2]}`)

// ClaimSeat implements tokenstore.Store.
func (s *Store) ClaimSeat(ctx context.Context, c tokenstore.SeatClaim) (_ tokenstore.Seat, err error) {
	defer s.Done(ctx, "claim_seat", time.Now(), &err)
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
	return tokenstore.Seat{SessionID: sid, Device: dev}, nil
}

// SeatState implements tokenstore.Store.
func (s *Store) SeatState(ctx context.Context, key, device string, now time.Time) (_ tokenstore.SeatState, err error) {
	defer s.Done(ctx, "seat_state", time.Now(), &err)
	v, err := s.c.HMGet(ctx, s.seatKey(key), "s", "d", "ex", "x:"+device).Result()
	if err != nil {
		return tokenstore.SeatState{}, wrap("seat state", err)
	}
	str := func(i int) string { x, _ := v[i].(string); return x }
	if str(0) == "" || !now.Before(fromMS(str(2))) {
		return tokenstore.SeatState{}, nil
	}
	st := tokenstore.SeatState{Holder: tokenstore.Seat{SessionID: str(0), Device: str(1)}}
	if at := str(3); at != "" {
		st.DisplacedAt = fromMS(at)
	}
	return st, nil
}

// overridesKey is the hash of every override: one key, so reading them all
// is one command; a record, without a TTL.
func (s *Store) overridesKey() string { return s.prefix + "{ovr}" }

// SetOverride implements tokenstore.Store.
func (s *Store) SetOverride(ctx context.Context, key, value string) (err error) {
	defer s.Done(ctx, "set_override", time.Now(), &err)
	k := s.overridesKey()
	err = s.durably(ctx, k, func(c redis.Cmdable) (bool, error) {
		if value == "" {
			return true, c.HDel(ctx, k, key).Err()
		}
		return true, c.HSet(ctx, k, key, value).Err()
	})
	if err != nil {
		return wrap("set override", err)
	}
	return nil
}

// Overrides implements tokenstore.Store.
func (s *Store) Overrides(ctx context.Context, prefix string) (_ map[string]string, err error) {
	defer s.Done(ctx, "overrides", time.Now(), &err)
	all, err := s.c.HGetAll(ctx, s.overridesKey()).Result()
	if err != nil {
		return nil, wrap("overrides", err)
	}
	out := map[string]string{}
	for k, v := range all {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out, nil
}
