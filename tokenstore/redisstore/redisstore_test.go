package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

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
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "authgate-test:" + hex.EncodeToString(b) + ":"
	s, err := redisstore.New(redisstore.Options{Addrs: []string{addr()}, KeyPrefix: prefix})
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
		if strings.HasPrefix(k, s.Prefix()+"{acct}:") {
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
