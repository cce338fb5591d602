package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/internal/redistest"
	"github.com/authgate/authgate/tokenstore"
	"github.com/authgate/authgate/tokenstore/redisstore"
	"github.com/authgate/authgate/tokenstore/storetest"
)

// topologyStore connects to a topology with a prefix of its own and, when
// the test ends, checks every key it left has a TTL on every master.
func topologyStore(t *testing.T, o redisstore.Options) *redisstore.Store {
	o.KeyPrefix = dialecttest.NewPrefix(t)
	o.DialTimeout = time.Second
	s, err := redisstore.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer s.Close()
		ctx := context.Background()
		check := func(c redis.Cmdable) {
			keys, _ := c.Keys(ctx, o.KeyPrefix+"*").Result()
			for _, k := range keys {
				if redisstore.Record(o.KeyPrefix, k) {
					continue
				}
				if ttl := c.PTTL(ctx, k).Val(); ttl == -1 || ttl == -1*time.Millisecond {
					t.Errorf("key %s has no TTL", k)
				}
				c.Del(ctx, k)
			}
		}
		if cc, ok := s.Client().(*redis.ClusterClient); ok {
			_ = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { check(c); return nil })
			return
		}
		check(s.Client())
	})
	return s
}

func TestConformanceOnSentinel(t *testing.T) {
	t.Parallel() // its own Redis servers on free ports
	st := redistest.StartSentinel(t)
	storetest.Run(t, func(t *testing.T) tokenstore.Store {
		return topologyStore(t, redisstore.Options{Addrs: st.Sentinels, MasterName: st.MasterName, WaitReplicas: 1})
	})
}

func TestConformanceOnCluster(t *testing.T) {
	t.Parallel() // its own Redis servers on free ports
	cl := redistest.StartCluster(t)
	storetest.Run(t, func(t *testing.T) tokenstore.Store {
		return topologyStore(t, redisstore.Options{Addrs: cl.Addrs})
	})
}

// TestInvalidationsFollowTheMaster: after a Sentinel failover, while the
// demoted master is still up (and still a master, until the sentinels
// reconfigure it), a logout on one replica reaches the other's session
// cache within 100 ms: the subscription moved with the master, or the
// cache was bypassed until it had. Without that, the other replica would
// serve the revoked session from its cache for up to max_age.
func TestInvalidationsFollowTheMaster(t *testing.T) {
	t.Parallel() // its own Redis servers on free ports
	st := redistest.StartSentinel(t)
	o := redisstore.Options{Addrs: st.Sentinels, MasterName: st.MasterName, CacheMaxAge: time.Minute}
	a := topologyStore(t, o)
	o.KeyPrefix = a.Prefix()
	b, err := redisstore.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	for _, s := range []*redisstore.Store{a, b} {
		dialecttest.WaitFor(t, "the invalidation subscription", func() bool { return s.CacheStats().SubscriptionUp })
	}
	ctx, now := context.Background(), time.Now()
	ids := []string{"f1", "f2", "f3", "f4"}
	for _, id := range ids {
		if err := a.CreateSession(ctx, tokenstore.Session{ID: id, Dialect: "mmm", Subject: "10", RefreshHash: "h", ExpiresAt: now.Add(time.Hour)}, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if err := b.CheckSession(ctx, id, now); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.CacheStats().Entries; n != len(ids) {
		t.Fatalf("%d sessions cached on b, want %d", n, len(ids))
	}
	st.StartFailover(t)
	// Logouts at intervals after the failover, each refused by b within
	// 100 ms.
	for i, id := range ids {
		time.Sleep(time.Duration(i) * 500 * time.Millisecond)
		dialecttest.WaitFor(t, "the logout "+id, func() bool { return a.RevokeSession(ctx, id) == nil })
		revoked := time.Now()
		for b.CheckSession(ctx, id, now) == nil {
			if time.Since(revoked) > 100*time.Millisecond {
				t.Fatalf("logout %d (%s) still accepted by the other replica after 100 ms (cache %+v)", i, id, b.CacheStats())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
