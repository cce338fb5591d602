package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/tokenstore"
	"github.com/authgate/authgate/tokenstore/redisstore"
	"github.com/authgate/authgate/tokenstore/storetest"
)

// addr is the real Redis server the tests use. A missing server fails the
// tests: a skipped Redis run would hide exactly the bugs it exists for.
func addr() string {
	if a := os.Getenv("GATEWAY_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// newStore connects with a prefix of its own, so tests never see each
// other's keys, and removes that prefix's keys afterwards.
func newStore(t *testing.T) *redisstore.Store {
	t.Helper()
	return newStoreWith(t, redisstore.Options{})
}

// newStoreWith is newStore with options (a key prefix of o's, when set, is
// shared with another store: a second replica).
func newStoreWith(t *testing.T, o redisstore.Options) *redisstore.Store {
	t.Helper()
	if o.KeyPrefix == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		o.KeyPrefix = "authgate-test:" + hex.EncodeToString(b) + ":"
	}
	prefix := o.KeyPrefix
	if len(o.Addrs) == 0 {
		o.Addrs = []string{addr()}
	}
	s, err := redisstore.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("redis at %s (set GATEWAY_TEST_REDIS_ADDR): %v", addr(), err)
	}
	t.Cleanup(func() {
		keys, _ := s.Client().Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			s.Client().Del(ctx, keys...)
		}
		_ = s.Close()
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokenstore.Store {
		s := newStore(t)
		t.Cleanup(func() { assertEveryKeyExpires(t, s) })
		return s
	})
}

// TestConformanceCached: the suite with the session cache on, its
// subscription up before each test.
func TestConformanceCached(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokenstore.Store {
		s := newCachedStore(t, "", time.Minute, nil)
		t.Cleanup(func() { assertEveryKeyExpires(t, s) })
		return s
	})
}

// assertEveryKeyExpires checks the promise that nothing the gateway writes
// lives forever in Redis.
func assertEveryKeyExpires(t *testing.T, s *redisstore.Store) {
	t.Helper()
	ctx := context.Background()
	keys, err := s.Client().Keys(ctx, s.Prefix()+"*").Result()
	if err != nil {
		t.Fatalf("keys: %v", err)
	}
	for _, k := range keys {
		if redisstore.Record(s.Prefix(), k) {
			continue // registered accounts are records and live on
		}
		ttl, err := s.Client().PTTL(ctx, k).Result()
		if err != nil {
			t.Fatalf("pttl %s: %v", k, err)
		}
		if ttl == -1*time.Nanosecond || ttl == -1*time.Millisecond {
			t.Errorf("key %s has no TTL (%v)", k, ttl)
		}
	}
}

// TestKeysExpireInRedis shows the Redis TTL itself removes a session, with
// a millisecond lifetime rather than a sleep of seconds.
func TestKeysExpireInRedis(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now()
	err := s.CreateSession(ctx, tokenstore.Session{ID: "short", Subject: "1", RefreshHash: "h", ExpiresAt: now.Add(5 * time.Millisecond)}, now)
	if err != nil {
		t.Fatal(err)
	}
	key := s.Prefix() + "{short}:s"
	deadline := time.Now().Add(2 * time.Second)
	for s.Client().Exists(ctx, key).Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatalf("key %s outlived its TTL", key)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestKeysShareSlot checks that the keys one script touches hash to one
// Cluster slot.
func TestKeysShareSlot(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now()
	if err := s.CreateSession(ctx, tokenstore.Session{ID: "sid", Subject: "1", RefreshHash: "h0", ExpiresAt: now.Add(time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateRefresh(ctx, tokenstore.Rotation{SessionID: "sid", Presented: "h0", Next: "h1", NextExpiresAt: now.Add(time.Hour), Grace: time.Second, Now: now}); err != nil {
		t.Fatal(err)
	}
	keys, _ := s.Client().Keys(ctx, s.Prefix()+"{sid}*").Result()
	if len(keys) != 2 {
		t.Fatalf("keys = %v, want session and rotated record", keys)
	}
	a, _ := s.Client().ClusterKeySlot(ctx, keys[0]).Result()
	b, _ := s.Client().ClusterKeySlot(ctx, keys[1]).Result()
	if a != b {
		t.Fatalf("keys %v in slots %d and %d", keys, a, b)
	}
}

// commandCounter counts the commands a client sends.
type commandCounter struct {
	mu   sync.Mutex
	cmds []string
}

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.mu.Lock()
		c.cmds = append(c.cmds, cmd.Name())
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.mu.Lock()
		for _, cmd := range cmds {
			c.cmds = append(c.cmds, cmd.Name())
		}
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

// TestCheckSessionIsOneHGET: the hot path's liveness check costs one
// command, an HGET of one field, live or not.
func TestCheckSessionIsOneHGET(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now()
	if err := s.CreateSession(ctx, tokenstore.Session{ID: "live", Subject: "1", RefreshHash: "h", ExpiresAt: now.Add(time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	counter := &commandCounter{}
	s.Client().AddHook(counter)
	if err := s.CheckSession(ctx, "live", now); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckSession(ctx, "gone", now); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	if !reflect.DeepEqual(counter.cmds, []string{"hget", "hget"}) {
		t.Fatalf("two checks sent %v, want one hget each", counter.cmds)
	}
}

// TestOutageIsErrUnavailable: with no server behind the address, every
// operation fails with tokenstore.ErrUnavailable, never with a verdict.
func TestOutageIsErrUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	s, err := redisstore.New(redisstore.Options{Addrs: []string{dead}, DialTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	errs := map[string]error{
		"ping":           s.Ping(ctx),
		"check_session":  s.CheckSession(ctx, "x", now),
		"create_session": s.CreateSession(ctx, tokenstore.Session{ID: "x", RefreshHash: "h", ExpiresAt: now.Add(time.Hour)}, now),
		"revoke_session": s.RevokeSession(ctx, "x"),
	}
	_, errs["session"] = s.Session(ctx, "x", now)
	_, errs["rotate_refresh"] = s.RotateRefresh(ctx, tokenstore.Rotation{SessionID: "x", Presented: "a", Next: "b", NextExpiresAt: now.Add(time.Hour), Now: now})
	_, _, errs["hit"] = s.Hit(ctx, "k", time.Minute, now)
	_, errs["use_nonce"] = s.UseNonce(ctx, "n", time.Minute, now)
	_, errs["verify_code"] = s.VerifyCode(ctx, "k", "h", now)
	_, errs["seat_state"] = s.SeatState(ctx, "k", "d", now)
	_, errs["account"] = s.Account(ctx, "k")
	for op, err := range errs {
		if !errors.Is(err, tokenstore.ErrUnavailable) || errors.Is(err, tokenstore.ErrNotFound) {
			t.Errorf("%s with Redis down: err = %v, want ErrUnavailable", op, err)
		}
	}
}

// TestCanceledIsNotAnOutage: a request its client abandoned fails with
// context.Canceled, not tokenstore.ErrUnavailable, so it pages nobody.
func TestCanceledIsNotAnOutage(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.CheckSession(ctx, "x", time.Now())
	if !errors.Is(err, context.Canceled) || errors.Is(err, tokenstore.ErrUnavailable) {
		t.Fatalf("err = %v, want context.Canceled and not ErrUnavailable", err)
	}
}

// TestAccountsSpreadAndLegacyAccountsKept: accounts live under hash tags
// of their own (different Cluster slots), and an account an earlier
// version registered under the shared tag is found, never registered
// again.
func TestAccountsSpreadAndLegacyAccountsKept(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now()
	for _, k := range []string{"mobile:13900000001", "mobile:13900000002"} {
		if _, _, err := s.EnsureAccount(ctx, k, nil, 100, now); err != nil {
			t.Fatal(err)
		}
	}
	a, b := slot("acct:mobile:13900000001"), slot("acct:mobile:13900000002")
	if exists, _ := s.Client().Exists(ctx, s.Prefix()+"{acct:mobile:13900000001}").Result(); exists != 1 || a == b {
		t.Fatalf("accounts not under tags of their own (slots %d, %d)", a, b)
	}
	legacy := s.Prefix() + "{acct}:mobile:13800000009"
	if err := s.Client().HSet(ctx, legacy, "id", 7, "ct", now.UnixMilli(), "a", `{"source":"old"}`).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Account(ctx, "mobile:13800000009")
	if err != nil || got.ID != 7 || got.Attrs["source"] != "old" {
		t.Fatalf("legacy account = %+v, %v", got, err)
	}
	got, created, err := s.EnsureAccount(ctx, "mobile:13800000009", map[string]string{"source": "new"}, 100, now)
	if err != nil || created || got.ID != 7 {
		t.Fatalf("EnsureAccount of a legacy account = %+v, created %v, %v; want id 7, not created", got, created, err)
	}
}

// TestWritesWaitForReplicas: with WaitReplicas set on a server that has
// none, a login and a logout are answered as the store being unavailable
// (the client retries), each missing acknowledgement is reported as op
// "replicate", and the writes still stand on the server.
func TestWritesWaitForReplicas(t *testing.T) {
	prefix := dialecttest.NewPrefix(t)
	s, err := redisstore.New(redisstore.Options{Addrs: []string{addr()}, KeyPrefix: prefix, WaitReplicas: 1, WaitTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	var reported []error
	s.SetObserver(func(op string, _ time.Duration, err error) {
		if op == "replicate" {
			mu.Lock()
			reported = append(reported, err)
			mu.Unlock()
		}
	})
	ctx := context.Background()
	now := time.Now()
	err = s.CreateSession(ctx, tokenstore.Session{ID: "w1", Subject: "1", RefreshHash: "h", ExpiresAt: now.Add(time.Minute)}, now)
	if !errors.Is(err, tokenstore.ErrUnavailable) || !errors.Is(err, tokenstore.ErrNotReplicated) {
		t.Fatalf("an unreplicated login: err = %v, want ErrUnavailable and ErrNotReplicated", err)
	}
	if err := s.CheckSession(ctx, "w1", now); err != nil {
		t.Fatalf("the write does not stand on the server: %v", err)
	}
	if err := s.RevokeSession(ctx, "w1"); !errors.Is(err, tokenstore.ErrNotReplicated) {
		t.Fatalf("an unreplicated logout: %v", err)
	}
	if s.Client().Exists(ctx, prefix+"{w1}:s").Val() != 0 {
		t.Fatal("the revocation did not happen on the server")
	}
	// Not replicated: the session is neither live nor "revoked" yet.
	if err := s.CheckSession(ctx, "w1", now); !errors.Is(err, tokenstore.ErrUnavailable) {
		t.Fatalf("the session of an unreplicated logout: %v, want unavailable", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// The login, the logout, and then the logout's re-applications.
	if len(reported) < 2 || !errors.Is(reported[0], tokenstore.ErrNotReplicated) || !errors.Is(reported[1], tokenstore.ErrNotReplicated) {
		t.Fatalf("replicate reports = %v, want ErrNotReplicated for the login and the logout", reported)
	}
}

// slot is the Cluster slot of a hash tag (CRC16/XMODEM mod 16384), as the
// server computes it; standalone servers do not answer CLUSTER KEYSLOT.
func slot(tag string) uint16 {
	var crc uint16
	for i := 0; i < len(tag); i++ {
		crc ^= uint16(tag[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}

// TestFailedRotationIsNeverReuse: a rotation whose write was not
// replicated answers the store as unavailable though it stands; its
// client retries with the same refresh token, long after the grace
// window, and is never judged a reuse: each retry is a replay, until one
// is answered; from that answer on the grace runs as usual.
func TestFailedRotationIsNeverReuse(t *testing.T) {
	waiting := newStoreWith(t, redisstore.Options{WaitReplicas: 1, WaitTimeout: 10 * time.Millisecond})
	answering := newStoreWith(t, redisstore.Options{KeyPrefix: waiting.Prefix()})
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Millisecond)
	if err := answering.CreateSession(ctx, tokenstore.Session{ID: "rot", Subject: "1", RefreshHash: "h0", ExpiresAt: t0.Add(time.Hour)}, t0); err != nil {
		t.Fatal(err)
	}
	rotation := func(next string, at time.Duration) tokenstore.Rotation {
		return tokenstore.Rotation{SessionID: "rot", Presented: "h0", Next: next, NextExpiresAt: t0.Add(2 * time.Hour),
			Successor: []byte("pair-of-" + next), Grace: 10 * time.Second, Now: t0.Add(at)}
	}
	if _, err := waiting.RotateRefresh(ctx, rotation("h1", 0)); !errors.Is(err, tokenstore.ErrNotReplicated) {
		t.Fatalf("the unreplicated rotation: %v", err)
	}
	// Retried after the grace, still unreplicated: not a reuse.
	if _, err := waiting.RotateRefresh(ctx, rotation("h2", 30*time.Second)); !errors.Is(err, tokenstore.ErrNotReplicated) || errors.Is(err, tokenstore.ErrReused) {
		t.Fatalf("a retry of an unanswered rotation after the grace: %v", err)
	}
	if err := answering.CheckSession(ctx, "rot", t0.Add(30*time.Second)); err != nil {
		t.Fatalf("the retry ended the session: %v", err)
	}
	// Answered at last: the first rotation's pair.
	res, err := answering.RotateRefresh(ctx, rotation("h3", 40*time.Second))
	if err != nil || !res.Replayed || string(res.Successor) != "pair-of-h1" {
		t.Fatalf("the retry once answered = %+v, %v; want the first rotation's pair", res, err)
	}
	// The grace runs from that answer.
	if res, err := answering.RotateRefresh(ctx, rotation("h4", 49*time.Second)); err != nil || !res.Replayed {
		t.Fatalf("within the grace of the answer = %+v, %v", res, err)
	}
	if _, err := answering.RotateRefresh(ctx, rotation("h5", 51*time.Second)); !errors.Is(err, tokenstore.ErrReused) {
		t.Fatalf("after the grace of the answer: %v, want ErrReused", err)
	}
}

// lostDeletes makes a store's deletions of session keys land nowhere (as
// on a master about to be replaced by one that never had them), while
// answering as if they had: the write that WAIT then finds unreplicated.
type lostDeletes struct{}

func (lostDeletes) DialHook(next redis.DialHook) redis.DialHook { return next }
func (lostDeletes) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); cmd.Name() == "del" && len(args) == 2 && strings.HasSuffix(fmt.Sprint(args[1]), "}:s") {
			cmd.(*redis.IntCmd).SetVal(1)
			return nil
		}
		return next(ctx, cmd)
	}
}
func (lostDeletes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestRevocationThatDidNotStick: a logout whose deletion was not
// replicated, and is lost with its master, is not forgotten: the session
// is answered as unavailable on the replica that took it and on another
// that heard of it — never live, and never "revoked" while the deletion
// may yet be undone — and the deletion is re-applied on the master until
// it is replicated.
func TestRevocationThatDidNotStick(t *testing.T) {
	waiting := newStoreWith(t, redisstore.Options{WaitReplicas: 1, WaitTimeout: 10 * time.Millisecond, CacheMaxAge: time.Minute})
	waiting.Client().AddHook(lostDeletes{})
	other := newStoreWith(t, redisstore.Options{KeyPrefix: waiting.Prefix(), CacheMaxAge: time.Minute})
	for _, s := range []*redisstore.Store{waiting, other} {
		dialecttest.WaitFor(t, "the invalidation subscription", func() bool { return s.CacheStats().SubscriptionUp })
	}
	ctx, now := context.Background(), time.Now()
	sess := tokenstore.Session{ID: "gone", Dialect: "mmm", Subject: "10", RefreshHash: "h", ExpiresAt: now.Add(time.Hour)}
	if err := other.CreateSession(ctx, sess, now); err != nil {
		t.Fatal(err)
	}
	if err := other.CheckSession(ctx, "gone", now); err != nil || other.CacheStats().Entries != 1 {
		t.Fatalf("not cached on the other replica: %v", err)
	}
	if err := waiting.RevokeSession(ctx, "gone"); !errors.Is(err, tokenstore.ErrNotReplicated) {
		t.Fatalf("an unreplicated logout: %v", err)
	}
	if other.Client().Exists(ctx, waiting.Prefix()+"{gone}:s").Val() != 1 {
		t.Fatal("the deletion was not lost")
	}
	// The replica that took it refuses the session, as unavailable, in
	// every way it could be used.
	if err := waiting.CheckSession(ctx, "gone", now); !errors.Is(err, tokenstore.ErrUnavailable) {
		t.Fatalf("the replica that took the logout: %v, want unavailable", err)
	}
	if _, err := waiting.Session(ctx, "gone", now); !errors.Is(err, tokenstore.ErrUnavailable) || errors.Is(err, tokenstore.ErrNotFound) {
		t.Errorf("reads the session as %v, want unavailable", err)
	}
	if _, err := waiting.RotateRefresh(ctx, tokenstore.Rotation{SessionID: "gone", Presented: "h", Next: "h2", NextExpiresAt: now.Add(2 * time.Hour), Now: now}); !errors.Is(err, tokenstore.ErrUnavailable) {
		t.Errorf("rotates the session: %v", err)
	}
	// The other replica hears of it within 100 ms: never live again (its
	// cache forgot the session), and it deletes the session on the master
	// itself.
	heard := time.Now()
	for other.CheckSession(ctx, "gone", now) == nil {
		if time.Since(heard) > 100*time.Millisecond {
			t.Fatal("the other replica still takes the session as live 100 ms after the logout")
		}
		time.Sleep(2 * time.Millisecond)
	}
	dialecttest.WaitFor(t, "the re-applied deletion", func() bool {
		if err := other.CheckSession(ctx, "gone", now); err == nil {
			t.Fatal("the other replica took the session as live after the logout")
		}
		return other.Client().Exists(ctx, waiting.Prefix()+"{gone}:s").Val() == 0 && other.Pending() == 0
	})
	if err := other.CheckSession(ctx, "gone", now); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("once replicated: %v, want not found", err)
	}
	// The replica whose deletions never stick keeps refusing, and trying.
	if waiting.Pending() != 1 || !errors.Is(waiting.CheckSession(ctx, "gone", now), tokenstore.ErrUnavailable) {
		t.Fatalf("the replica whose deletions are never replicated gave up: pending %d", waiting.Pending())
	}
}

// TestRotationRoundTrips: a rotation is one round trip while the subject
// index is known to outlive the new expiry; when it is not, the index is
// stretched first (to the new expiry and a life beyond), so the session
// never outlives its place in the index (logout-everywhere would miss it).
func TestRotationRoundTrips(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now()
	const life = 10 * time.Minute
	for _, id := range []string{"warm-up", "rt"} {
		if err := s.CreateSession(ctx, tokenstore.Session{ID: id, Dialect: "mmm", Subject: "10", RefreshHash: "h0", ExpiresAt: now.Add(time.Minute)}, now); err != nil {
			t.Fatal(err)
		}
	}
	// The scripts loaded: each is then one EVALSHA.
	if _, err := s.RotateRefresh(ctx, tokenstore.Rotation{SessionID: "warm-up", Presented: "h0", Next: "h1", NextExpiresAt: now.Add(life), Successor: []byte("x"), Now: now}); err != nil {
		t.Fatal(err)
	}
	counter := &commandCounter{}
	s.Client().AddHook(counter)
	rotate := func(from, to string, at time.Time) []string {
		t.Helper()
		counter.mu.Lock()
		counter.cmds = nil
		counter.mu.Unlock()
		if _, err := s.RotateRefresh(ctx, tokenstore.Rotation{SessionID: "rt", Presented: from, Next: to, NextExpiresAt: at.Add(life), Successor: []byte("x"), Now: at}); err != nil {
			t.Fatalf("rotate %s: %v", from, err)
		}
		counter.mu.Lock()
		sent := counter.cmds
		counter.mu.Unlock()
		sess := s.Client().PTTL(ctx, s.Prefix()+"{rt}:s").Val()
		index := s.Client().PTTL(ctx, s.Prefix()+"{u:mmm:10}").Val()
		if index < sess {
			t.Fatalf("after rotating %s: the subject index lives %v, the session %v", from, index, sess)
		}
		return sent
	}
	// The index lives a minute, the rotation asks for ten: stretched.
	if sent := rotate("h0", "h1", now); strings.Join(sent, " ") != "evalsha evalsha evalsha" {
		t.Errorf("a rotation past the index: %v, want the rotation, the index, the rotation", sent)
	}
	// Now it lives twenty: one round trip, as long as that holds.
	if sent := rotate("h1", "h2", now.Add(5*time.Minute)); len(sent) != 1 {
		t.Errorf("a rotation within the index's life: %v, want one command", sent)
	}
	if sent := rotate("h2", "h3", now.Add(12*time.Minute)); len(sent) != 3 {
		t.Errorf("a rotation past the index's twenty minutes: %v, want three commands", sent)
	}
	got, err := s.SubjectSessions(ctx, "mmm", "10", now.Add(12*time.Minute))
	if err != nil || len(got) != 1 || got[0].ID != "rt" {
		t.Fatalf("the subject's sessions after the rotations: %v %v", got, err)
	}
}
