package redisstore

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/tokenstore"
)

// The session cache: each replica remembers, for at most CacheMaxAge, the
// sessions it found live, so the hot path's liveness check costs no Redis
// command in steady state. Every write that ends or changes a session
// publishes its id on one channel under the key prefix (classic PUBLISH,
// which a Redis Cluster broadcasts to every node, so one fixed channel
// serves standalone, Sentinel and Cluster alike); every replica subscribes
// and evicts what it hears. The writer evicts its own entries at once.
//
// The cache only ever holds positive entries (a session seen live, with
// its expiry), never a refusal, so it can make a revoked session pass for
// as long as an invalidation takes to arrive, never the reverse; the
// caller's clock is still checked against the expiry on every hit. While
// the subscription is not known to be up (before it is confirmed, after
// any error on it), the cache is empty and bypassed: staleness never
// exceeds CacheMaxAge plus the time to notice a dead subscription.

// invalidationChannel is the channel under the prefix.
const invalidationChannel = "invalidate"

// cacheHealthInterval is how often a quiet subscription is pinged.
const cacheHealthInterval = time.Second

type cachedSession struct {
	expires int64 // unix ms, the session's stored expiry
	at      time.Time
}

// sessionCache is the per-replica cache of live sessions.
type sessionCache struct {
	entries *lru.Cache[string, cachedSession]
	maxAge  time.Duration
	now     func() time.Time
	// gen moves on every invalidation and every time the subscription
	// goes down: a read that started before may not fill the cache with
	// what it read, which an invalidation may already have overtaken.
	gen atomic.Uint64
	up  atomic.Bool

	hits, misses, evictions, invalidations atomic.Uint64
}

func newSessionCache(size int, maxAge time.Duration, now func() time.Time) *sessionCache {
	c := &sessionCache{maxAge: maxAge, now: now}
	c.entries, _ = lru.NewWithEvict(size, func(string, cachedSession) { c.evictions.Add(1) }) // errors only on size <= 0
	return c
}

// live reports a cached verdict for id at now: true when the session was
// seen live less than maxAge ago and has not expired by now.
func (c *sessionCache) live(id string, now time.Time) bool {
	if !c.up.Load() {
		return false
	}
	e, ok := c.entries.Get(id)
	if ok && c.now().Sub(e.at) < c.maxAge && now.UnixMilli() < e.expires {
		c.hits.Add(1)
		return true
	}
	c.misses.Add(1)
	return false
}

// remember caches a session read live, unless an invalidation (or the
// subscription going down) happened since the read began at generation g.
func (c *sessionCache) remember(id string, expires int64, g uint64) {
	if c.up.Load() && c.gen.Load() == g {
		c.entries.Add(id, cachedSession{expires: expires, at: c.now()})
	}
}

// forget evicts ids.
func (c *sessionCache) forget(ids []string) {
	c.gen.Add(1)
	for _, id := range ids {
		c.entries.Remove(id)
	}
}

// down empties the cache and bypasses it until the subscription is back.
func (c *sessionCache) down() {
	c.up.Store(false)
	c.gen.Add(1)
	c.entries.Purge()
}

// subscribe listens for invalidations until ctx ends, on the
// subscription in use (followMaster replaces it after a failover).
func (s *Store) subscribe(ctx context.Context) {
	c := s.cache
	for {
		ps := s.ps.Load()
		msg, err := ps.ReceiveTimeout(ctx, cacheHealthInterval)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && c.up.Load() {
				// Quiet: make sure the connection is alive.
				if perr := ps.Ping(ctx); perr == nil {
					continue
				}
			}
			c.down()
			// go-redis reconnects and subscribes again on the next
			// receive; a pause keeps a dead Redis from being spun on.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				c.up.Store(true)
			}
		case *redis.Message:
			c.invalidations.Add(1)
			if ids, ok := strings.CutPrefix(m.Payload, pendingPrefix); ok {
				// Another replica's revocation did not stick: refuse the
				// sessions here too, and re-apply them.
				s.revoked.add(strings.Fields(ids)...)
				c.forget(strings.Fields(ids))
				continue
			}
			c.forget(strings.Fields(m.Payload))
		}
	}
}

// invalidate evicts ids here and tells every other replica. A publish that
// fails is not the write's failure: the write stands, and the other
// replicas' entries age out within CacheMaxAge.
func (s *Store) invalidate(ctx context.Context, ids ...string) {
	if len(ids) == 0 {
		return
	}
	if s.cache != nil {
		s.cache.forget(ids)
	}
	if err := s.c.Publish(context.WithoutCancel(ctx), s.prefix+invalidationChannel, strings.Join(ids, " ")).Err(); err != nil {
		s.Done(ctx, "invalidate", time.Now(), &err)
	}
}

// CacheStats implements tokenstore.CacheReporter.
func (s *Store) CacheStats() tokenstore.CacheStats {
	c := s.cache
	if c == nil {
		return tokenstore.CacheStats{}
	}
	return tokenstore.CacheStats{
		Enabled: true, SubscriptionUp: c.up.Load(), Entries: c.entries.Len(),
		Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(), Invalidations: c.invalidations.Load(),
	}
}
