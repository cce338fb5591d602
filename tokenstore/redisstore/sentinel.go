package redisstore

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/tokenstore"
)

// After a Sentinel failover the demoted master stays up, and a writable
// master, until the sentinels reconfigure it (seconds); go-redis moves its
// pool on the sentinels' +switch-master, but not at once, and not its
// pub/sub connection. Writes that reach the demoted master in that moment
// are lost when it resyncs, even when one of its replicas acknowledged
// them. The store listens to every sentinel itself: it remembers the
// demoted master for demotedFor, so that a write whose connection reached
// it is failed (not replicated: the client retries, on the new master)
// rather than answered as durable, and it moves the invalidation
// subscription to the new master.

// demotedFor is how long a demoted master's address is distrusted: longer
// than the sentinels take to reconfigure it (after which it refuses writes
// as a replica anyway).
const demotedFor = time.Minute

// sentinelView is what the store learns from the sentinels.
type sentinelView struct {
	name        string
	addrs       []string
	tls         *tls.Config
	dialTimeout time.Duration

	mu      sync.Mutex
	demoted map[string]time.Time // address → until when it is distrusted
}

// switched records a failover from old to new: old is distrusted until
// now+demotedFor, and new, which may be a master demoted earlier and now
// promoted again, is trusted.
func (v *sentinelView) switched(old, new string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.demoted == nil {
		v.demoted = map[string]time.Time{}
	}
	v.demoted[old] = time.Now().Add(demotedFor)
	delete(v.demoted, new)
}

// distrusted reports whether any demoted master is still distrusted, and
// whether addr is one.
func (v *sentinelView) distrusted(addr string) (recent, is bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	for a, until := range v.demoted {
		if now.After(until) {
			delete(v.demoted, a)
		}
	}
	_, is = v.demoted[addr]
	return len(v.demoted) > 0, is
}

// stillMaster fails a write whose connection reached a master the
// sentinels demoted. It costs a CLIENT INFO only while a failover is
// recent; a server whose own address differs from what the sentinels
// announce (NAT, announce-hostnames) is never taken for a demoted one.
func (v *sentinelView) stillMaster(ctx context.Context, conn *redis.Conn) error {
	if recent, _ := v.distrusted(""); !recent {
		return nil
	}
	info, err := conn.ClientInfo(ctx).Result()
	if err != nil {
		return err
	}
	if _, is := v.distrusted(info.LAddr); is {
		return fmt.Errorf("redisstore: the write reached %s, a master the sentinels demoted: %w: %w", info.LAddr, tokenstore.ErrUnavailable, tokenstore.ErrNotReplicated)
	}
	return nil
}

// followMaster listens to every sentinel (one may be down) for
// +switch-master of the store's master until ctx ends: the old master is
// distrusted, and the session cache, when on, is emptied and bypassed
// until its subscription is made again on the new master (dialed through
// the sentinels, which already name it). A failover announced by several
// sentinels is handled once per announcement: a resubscription more,
// never a stale entry.
func (s *Store) followMaster(ctx context.Context) {
	v := s.sentinel
	var wg sync.WaitGroup
	for _, addr := range v.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Asked as the store's own client asks them: the same TLS, no
			// credentials.
			sc := redis.NewSentinelClient(&redis.Options{Addr: addr, TLSConfig: v.tls, DialTimeout: v.dialTimeout})
			defer sc.Close()
			sub := sc.Subscribe(ctx, "+switch-master")
			stop := context.AfterFunc(ctx, func() { _ = sub.Close() })
			defer stop()
			for msg := range sub.Channel() {
				// <name> <old ip> <old port> <new ip> <new port>
				f := strings.Fields(msg.Payload)
				if len(f) != 5 || f[0] != v.name {
					continue
				}
				v.switched(net.JoinHostPort(f[1], f[2]), net.JoinHostPort(f[3], f[4]))
				s.resubscribe()
			}
		}()
	}
	wg.Wait()
}

// resubscribe moves the invalidation subscription to the master the
// sentinels name now; the cache is bypassed until it confirms.
func (s *Store) resubscribe() {
	if s.cache == nil {
		return
	}
	s.cache.down()
	next := s.c.Subscribe(s.subCtx, s.prefix+invalidationChannel)
	if old := s.ps.Swap(next); old != nil {
		_ = old.Close()
	}
}
