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
	st := redistest.StartSentinel(t)
	storetest.Run(t, func(t *testing.T) tokenstore.Store {
		return topologyStore(t, redisstore.Options{Addrs: st.Sentinels, MasterName: st.MasterName, WaitReplicas: 1})
	})
}

func TestConformanceOnCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	storetest.Run(t, func(t *testing.T) tokenstore.Store {
		return topologyStore(t, redisstore.Options{Addrs: cl.Addrs})
	})
}
