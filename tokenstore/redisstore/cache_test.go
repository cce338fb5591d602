package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/tokenstore"
	"github.com/authgate/authgate/tokenstore/redisstore"
)

// newCachedStore is a store with the session cache on (prefix shared when
// given), returned once its subscription is up.
func newCachedStore(t *testing.T, prefix string, maxAge time.Duration, clock func() time.Time) *redisstore.Store {
	t.Helper()
	s := newStoreWith(t, redisstore.Options{KeyPrefix: prefix, CacheMaxAge: maxAge, CacheClock: clock})
	dialecttest.WaitFor(t, "the invalidation subscription", func() bool { return s.CacheStats().SubscriptionUp })
	return s
}

func live(t *testing.T, s *redisstore.Store, id string, now time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateSession(ctx, tokenstore.Session{ID: id, Dialect: "mmm", Subject: "10", RefreshHash: "h0", ExpiresAt: now.Add(time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
}

// TestCacheAnswersWithoutRedis: a session seen live is answered from the
// cache, with no command sent, until its own expiry by the caller's clock.
func TestCacheAnswersWithoutRedis(t *testing.T) {
	s := newCachedStore(t, "", time.Minute, nil)
	ctx, now := context.Background(), time.Now()
	live(t, s, "s1", now)
	if err := s.CheckSession(ctx, "s1", now); err != nil {
		t.Fatal(err)
	}
	counter := &commandCounter{}
	s.Client().AddHook(counter)
	for range 3 {
		if err := s.CheckSession(ctx, "s1", now); err != nil {
			t.Fatal(err)
		}
	}
	if len(counter.cmds) != 0 {
		t.Fatalf("cached checks sent %v", counter.cmds)
	}
	if st := s.CacheStats(); st.Hits != 3 || st.Misses != 1 || st.Entries != 1 {
		t.Fatalf("stats = %+v, want 3 hits, 1 miss, 1 entry", st)
	}
	if err := s.CheckSession(ctx, "s1", now.Add(time.Hour)); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("a cached session at its expiry: %v, want ErrNotFound", err)
	}
	if err := s.CheckSession(ctx, "nope", now); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("an unknown session: %v", err)
	}
	if err := s.CheckSession(ctx, "nope", now); !errors.Is(err, tokenstore.ErrNotFound) || s.CacheStats().Entries != 1 {
		t.Fatalf("a refusal was cached: %v, %+v", err, s.CacheStats())
	}
}

// TestCacheAgesOut: an entry is trusted for CacheMaxAge only, by the
// cache's clock: a session deleted behind the cache's back (no
// invalidation) is refused once its entry is that old.
func TestCacheAgesOut(t *testing.T) {
	clk := dialecttest.NewClock()
	s := newCachedStore(t, "", 2*time.Second, clk.Now)
	ctx, now := context.Background(), time.Now()
	live(t, s, "s1", now)
	_ = s.CheckSession(ctx, "s1", now)
	s.Client().Del(ctx, s.Prefix()+"{s1}:s")
	if err := s.CheckSession(ctx, "s1", now); err != nil {
		t.Fatalf("within max age: %v (the entry should still answer)", err)
	}
	clk.Advance(2 * time.Second)
	if err := s.CheckSession(ctx, "s1", now); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("after max age: %v, want ErrNotFound", err)
	}
}

// TestCacheInvalidationReachesAnotherReplica: an ended session is refused
// on every replica that had it cached, through the subscription alone
// (the entries would live a minute otherwise): logout, logout everywhere
// and the revocation of a reused refresh token.
func TestCacheInvalidationReachesAnotherReplica(t *testing.T) {
	a := newCachedStore(t, "", time.Minute, nil)
	b := newCachedStore(t, a.Prefix(), time.Minute, nil)
	ctx, now := context.Background(), time.Now()
	ends := map[string]func(id string){
		"logout": func(id string) {
			if err := b.RevokeSession(ctx, id); err != nil {
				t.Fatal(err)
			}
		},
		"logout everywhere": func(string) {
			if _, err := b.RevokeSubject(ctx, "mmm", "10", now); err != nil {
				t.Fatal(err)
			}
		},
		"reuse": func(id string) {
			r := tokenstore.Rotation{SessionID: id, Presented: "h0", Next: "h1", NextExpiresAt: now.Add(time.Hour), Successor: []byte("p"), Now: now}
			if _, err := b.RotateRefresh(ctx, r); err != nil {
				t.Fatal(err)
			}
			r.Next, r.Now = "h2", now.Add(time.Second)
			if _, err := b.RotateRefresh(ctx, r); !errors.Is(err, tokenstore.ErrReused) {
				t.Fatalf("reuse: %v", err)
			}
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			id := "s-" + strings.ReplaceAll(name, " ", "-")
			live(t, a, id, now)
			_ = a.CheckSession(ctx, id, now)
			if err := a.CheckSession(ctx, id, now); err != nil || a.CacheStats().Entries == 0 {
				t.Fatalf("not cached: %v %+v", err, a.CacheStats())
			}
			end(id)
			dialecttest.WaitFor(t, "replica a to refuse the ended session", func() bool {
				return errors.Is(a.CheckSession(ctx, id, now), tokenstore.ErrNotFound)
			})
		})
	}
	if a.CacheStats().Invalidations == 0 {
		t.Error("no invalidation was counted")
	}
}

// TestCacheBypassedWithoutSubscription: a replica whose subscription is
// down (here: its Redis user may not subscribe) never answers from the
// cache: every check reads Redis.
func TestCacheBypassedWithoutSubscription(t *testing.T) {
	admin := newStore(t)
	ctx := context.Background()
	user := "authgate-nopubsub-" + admin.Prefix()[14:26]
	if err := admin.Client().Do(ctx, "ACL", "SETUSER", user, "on", ">pw", "~*", "+@all", "resetchannels").Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Client().Do(ctx, "ACL", "DELUSER", user) })
	s := newStoreWith(t, redisstore.Options{KeyPrefix: admin.Prefix(), Username: user, Password: "pw", CacheMaxAge: time.Minute})
	now := time.Now()
	live(t, s, "s1", now)
	for range 3 {
		if err := s.CheckSession(ctx, "s1", now); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.CacheStats(); st.SubscriptionUp || st.Hits != 0 || st.Entries != 0 {
		t.Fatalf("stats = %+v: the cache answered without a subscription", st)
	}
	s.Client().Del(ctx, s.Prefix()+"{s1}:s")
	if err := s.CheckSession(ctx, "s1", now); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("a deleted session without a subscription: %v", err)
	}
}

// TestCacheFlushedWhenTheSubscriptionDrops: when the subscription's
// connection is killed, the cache is emptied (an invalidation may have
// been missed) and fills again once it is back.
func TestCacheFlushedWhenTheSubscriptionDrops(t *testing.T) {
	s := newCachedStore(t, "", time.Minute, nil)
	ctx, now := context.Background(), time.Now()
	live(t, s, "s1", now)
	_ = s.CheckSession(ctx, "s1", now)
	s.Client().Del(ctx, s.Prefix()+"{s1}:s") // behind the cache's back
	if err := s.CheckSession(ctx, "s1", now); err != nil {
		t.Fatalf("the entry should answer: %v", err)
	}
	if err := s.Client().Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	dialecttest.WaitFor(t, "the cache to be flushed", func() bool {
		return errors.Is(s.CheckSession(ctx, "s1", now), tokenstore.ErrNotFound)
	})
	dialecttest.WaitFor(t, "the subscription to come back", func() bool { return s.CacheStats().SubscriptionUp })
}
