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
//	<prefix>{acct:<key>}                registered account (hash, no TTL)
//	<prefix>{acct}:seq                  account id sequence (no TTL)
//	<prefix>{acct}:<key>                registered account of earlier versions (read only)
//
// Every key has a TTL but the registered accounts and their id sequence:
// they are records, not sessions (run Redis with persistence when the
// mobile dialect registers users). Each account has a hash tag of its own,
// so they spread over a Cluster's slots.
//
// Multi-step changes run as Lua scripts; times are passed in from the
// caller's clock (unix milliseconds) so expiry decisions agree with the
// memory store and can be driven by tests. Every error that is not a
// verdict wraps tokenstore.ErrUnavailable.
//
// Files: sessions.go (sessions and refresh rotation), ephemeral.go (codes,
// nonces, counters), records.go (accounts, seats).
package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	// WaitReplicas, when set, makes every session write (a login, a
	// rotation, a logout or revocation, the revocation of a reused refresh
	// token) wait until that many replicas acknowledged it, up to
	// WaitTimeout (default 100ms): replication is asynchronous, and a
	// failover right after an unacknowledged write brings a revoked
	// session back or loses a live one. Too few acknowledgements fail the
	// write as unavailable (the client retries) and are reported to the
	// Observer as op "replicate".
	WaitReplicas int
	WaitTimeout  time.Duration
	// CacheMaxAge turns on the per-replica session cache (cache.go): a
	// session seen live is taken as live for at most this long without
	// asking Redis, unless an invalidation arrives first; 0 is off.
	// CacheSize bounds its entries (default 100,000, ~100 bytes each).
	CacheMaxAge time.Duration
	CacheSize   int
	// CacheClock is the cache's own clock for the age of its entries
	// (time.Now when nil); tests inject one.
	CacheClock func() time.Time
}

// Store is the Redis implementation of tokenstore.Store.
type Store struct {
	tokenstore.Probe

	c      redis.UniversalClient
	prefix string

	waitReplicas int
	waitTimeout  time.Duration

	// cache is the session cache; nil when off. stop ends its
	// subscription, done says it has ended. ps is the subscription in
	// use: a failover replaces it (followMaster).
	cache *sessionCache
	stop  context.CancelFunc
	done  chan struct{}
	ps    atomic.Pointer[redis.PubSub]
	// subCtx is the subscription's context, for a resubscription.
	subCtx context.Context

	// revoked are the revocations that did not stick (revocations.go),
	// re-applied until replicated; stopReapply ends that, reapplied says
	// it has ended.
	revoked     *revocations
	stopReapply context.CancelFunc
	reapplied   chan struct{}

	// On Sentinel: the master the sentinels name (followMaster keeps it
	// current from +switch-master), so a write that a demoted master
	// acknowledged is not taken for a durable one.
	sentinel *sentinelView
}

var (
	_ tokenstore.Store         = (*Store)(nil)
	_ tokenstore.Observable    = (*Store)(nil)
	_ tokenstore.CacheReporter = (*Store)(nil)
)

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
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 100 * time.Millisecond
	}
	s := &Store{c: c, prefix: o.KeyPrefix, waitReplicas: o.WaitReplicas, waitTimeout: o.WaitTimeout,
		revoked: newRevocations(), reapplied: make(chan struct{})}
	if o.CacheMaxAge > 0 {
		if o.CacheSize <= 0 {
			o.CacheSize = 100_000
		}
		if o.CacheClock == nil {
			o.CacheClock = time.Now
		}
		s.cache = newSessionCache(o.CacheSize, o.CacheMaxAge, o.CacheClock)
		ctx, stop := context.WithCancel(context.Background())
		s.ps.Store(c.Subscribe(ctx, s.prefix+invalidationChannel))
		s.done = make(chan struct{})
		s.subCtx = ctx
		// A receive in progress does not heed ctx: closing the
		// subscription breaks it off.
		s.stop = func() { stop(); _ = s.ps.Load().Close() }
		go func() {
			defer close(s.done)
			s.subscribe(ctx)
		}()
	}
	// What runs beside the requests: pending revocations re-applied, and
	// on Sentinel the sentinels listened to (sentinel.go).
	rctx, stopReapply := context.WithCancel(context.Background())
	s.stopReapply = stopReapply
	if o.MasterName != "" {
		s.sentinel = &sentinelView{name: o.MasterName, addrs: o.Addrs, tls: o.TLS, dialTimeout: o.DialTimeout}
	}
	go func() {
		defer close(s.reapplied)
		var wg sync.WaitGroup
		if s.sentinel != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.followMaster(rctx)
			}()
		}
		s.reapply(rctx)
		wg.Wait()
	}()
	return s, nil
}

// durably runs fn and, when fn says its write must survive a failover and
// WaitReplicas is set, waits for the replicas to acknowledge it. WAIT
// counts the writes of its own connection, so fn then runs on one
// connection to the master that holds key.
func (s *Store) durably(ctx context.Context, key string, fn func(redis.Cmdable) (bool, error)) error {
	if s.waitReplicas == 0 {
		_, err := fn(s.c)
		return err
	}
	var master *redis.Client
	switch c := s.c.(type) {
	case *redis.ClusterClient:
		m, err := c.MasterForKey(ctx, key)
		if err != nil {
			return err
		}
		master = m
	case *redis.Client:
		master = c
	default:
		_, err := fn(s.c)
		return err
	}
	conn := master.Conn()
	defer conn.Close()
	critical, err := fn(conn)
	if err != nil || !critical {
		return err
	}
	start := time.Now()
	n, werr := conn.Wait(ctx, s.waitReplicas, s.waitTimeout).Result()
	if werr == nil && n >= int64(s.waitReplicas) && s.sentinel != nil {
		werr = s.sentinel.stillMaster(ctx, conn)
	}
	switch {
	case werr != nil:
		werr = wrap("wait for replicas", werr)
	case n < int64(s.waitReplicas):
		// The write stands on this server, which may be a master that a
		// failover has already replaced: the write is lost with it. Fail
		// it: the client retries (a retried rotation is a replay) until a
		// master whose replica acknowledges takes it.
		werr = fmt.Errorf("redisstore: %d of %d replicas acknowledged: %w: %w", n, s.waitReplicas, tokenstore.ErrUnavailable, tokenstore.ErrNotReplicated)
	}
	s.Done(ctx, "replicate", start, &werr)
	return werr
}

// Client exposes the underlying client, for tests that inspect keys.
func (s *Store) Client() redis.UniversalClient { return s.c }

// Prefix is the key prefix in use.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) sessionKey(id string) string { return s.prefix + "{" + id + "}:s" }

// Record reports whether key, under prefix, is one of the records that
// live without a TTL by design (registered accounts and their id
// sequence, operators' overrides); every other key of the store expires,
// and tests check that it does.
func Record(prefix, key string) bool {
	return strings.HasPrefix(key, prefix+"{acct") || key == prefix+"{ovr}"
}

func (s *Store) adoptedKey(id string) string { return s.prefix + "{" + id + "}:x" }
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

// wrap gives a Redis error context: redis.Nil means not found; a request
// its client abandoned (context canceled) is the client's doing, not the
// store's; anything else is an outage (tokenstore.ErrUnavailable). It is
// the one place the store tells its verdicts from its failures.
func wrap(op string, err error) error {
	switch {
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("redisstore: %s: %w", op, tokenstore.ErrNotFound)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return fmt.Errorf("redisstore: %s: %w: %w", op, tokenstore.ErrUnavailable, err)
}

// Ping implements tokenstore.Store.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.Done(ctx, "ping", time.Now(), &err)
	if err := s.c.Ping(ctx).Err(); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// Close implements tokenstore.Store.
func (s *Store) Close() error {
	s.stopReapply()
	<-s.reapplied
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	return s.c.Close()
}

// slogPrinter adapts slog to go-redis's internal logger.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(ctx context.Context, format string, v ...any) {
	p.l.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// SetLogger sends go-redis's own messages (dial failures, pool events) to
// l, so the gateway's stderr stays one JSON line per entry. go-redis keeps
// one logger per process, so this is process-wide.
func SetLogger(l *slog.Logger) { redis.SetLogger(slogPrinter{l: l}) }
