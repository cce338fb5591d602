package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authgate/authgate/tokenstore"
)

// Revocations that did not stick: a session's deletion whose write failed
// or was not replicated (WAIT answered too few replicas, typically during
// a failover) stands on a master that may be about to lose it. Such a
// session id is remembered here and the deletion re-applied, on whatever
// is the master now, until a deletion is replicated. Meanwhile every
// check of the session answers the store as unavailable: not "live" (the
// new master may still hold it), and not "revoked" either (that answer
// would tell a client its logout took while it may yet be undone). The id
// is announced on the invalidation channel, so every replica that hears it
// does the same, and re-applies it too: the revocation outlives the
// replica that took it.

// revocationRetry is how often pending revocations are re-applied.
const revocationRetry = 250 * time.Millisecond

// pendingPrefix marks an invalidation message that announces pending
// revocations ("!id1 id2"); plain messages are ids to evict.
const pendingPrefix = "!"

// revocations is the set of session ids whose revocation is pending.
type revocations struct {
	mu  sync.Mutex
	ids map[string]struct{}
	// n mirrors len(ids), so the hot path reads one atomic when none is
	// pending.
	n atomic.Int64
}

func newRevocations() *revocations { return &revocations{ids: map[string]struct{}{}} }

func (r *revocations) add(ids ...string) {
	r.mu.Lock()
	for _, id := range ids {
		r.ids[id] = struct{}{}
	}
	r.n.Store(int64(len(r.ids)))
	r.mu.Unlock()
}

func (r *revocations) done(id string) {
	r.mu.Lock()
	delete(r.ids, id)
	r.n.Store(int64(len(r.ids)))
	r.mu.Unlock()
}

func (r *revocations) has(id string) bool {
	if r.n.Load() == 0 {
		return false
	}
	r.mu.Lock()
	_, ok := r.ids[id]
	r.mu.Unlock()
	return ok
}

func (r *revocations) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.ids))
	for id := range r.ids {
		out = append(out, id)
	}
	return out
}

// Pending is how many revocations this replica is re-applying.
func (s *Store) Pending() int { return int(s.revoked.n.Load()) }

// unsettled is the answer for a session whose revocation is pending.
func (s *Store) unsettled(op, id string) error {
	if s.revoked.has(id) {
		return fmt.Errorf("redisstore: %s: the revocation of session %s is not replicated yet: %w", op, id, tokenstore.ErrUnavailable)
	}
	return nil
}

// revocationFailed records revocations that did not stick and tells the
// other replicas.
func (s *Store) revocationFailed(ctx context.Context, ids ...string) {
	s.revoked.add(ids...)
	if s.cache != nil {
		s.cache.forget(ids)
	}
	s.announce(ctx, ids)
}

// announce publishes pending revocations; a failed publish is retried
// with the next re-application.
func (s *Store) announce(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	_ = s.c.Publish(context.WithoutCancel(ctx), s.prefix+invalidationChannel, pendingPrefix+strings.Join(ids, " ")).Err()
}

// reapply re-applies pending revocations every revocationRetry until ctx
// ends; each one replicated is done here.
func (s *Store) reapply(ctx context.Context) {
	t := time.NewTicker(revocationRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.revoked.n.Load() == 0 {
			continue
		}
		ids := s.revoked.list()
		var still []string
		for _, id := range ids {
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			err := s.deleteSession(rctx, id)
			cancel()
			if err != nil {
				still = append(still, id)
				continue
			}
			s.revoked.done(id)
			s.invalidate(ctx, id)
		}
		// Replicas that missed the first announcement (their subscription
		// was moving with the master) hear it again.
		s.announce(ctx, still)
	}
}
