package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/authgate/authgate/tokenstore"
)

// RotateRefresh implements tokenstore.Store.
func (s *Store) RotateRefresh(ctx context.Context, r tokenstore.Rotation) (_ tokenstore.RotateResult, err error) {
	defer s.Done(ctx, "rotate_refresh", time.Now(), &err)
	if r.SessionID == "" || r.Next == "" || !r.Now.Before(r.NextExpiresAt) {
		return tokenstore.RotateResult{}, fmt.Errorf("redisstore: rotate: %w", tokenstore.ErrInvalid)
	}
	if err := s.unsettled("rotate", r.SessionID); err != nil {
		return tokenstore.RotateResult{}, err
	}
	key := s.sessionKey(r.SessionID)
	keys := []string{key, s.rotatedKey(r.SessionID, r.Presented)}
	// With replicas to wait for, a rotation whose write fails its WAIT
	// answers 503 though it stands: it stays pending (every presentation
	// of the token a replay) until an answer is delivered.
	pending := "0"
	if s.waitReplicas > 0 {
		pending = "1"
	}
	var res []any
	indexUntil := int64(0)
	for {
		err = s.durably(ctx, key, func(c redis.Cmdable) (bool, error) {
			var err error
			res, err = rotate.Run(ctx, c, keys, r.Presented, r.Next, ms(r.NextExpiresAt),
				string(r.Successor), ms(r.Now), r.Grace.Milliseconds(), pending, indexUntil).Slice()
			if err != nil {
				return false, err
			}
			// A rotation must survive a failover (a lost one logs its
			// client out: its new refresh token would be unknown), a
			// reuse's revocation even more (a stolen token would work
			// again). Status 4 wrote nothing.
			return res[0] != int64(4), nil
		})
		if err != nil || res[0] != int64(4) || indexUntil != 0 {
			break
		}
		// The subject index is stretched before the session, to the next
		// expiry and another life beyond it, so the next rotations find it
		// long enough; the script then records how long it lives.
		d, _ := res[1].(string)
		u, _ := res[2].(string)
		life := r.NextExpiresAt.Sub(r.Now)
		if err = s.indexSubject(ctx, tokenstore.Session{ID: r.SessionID, Dialect: d, Subject: u}, 2*life); err != nil {
			return tokenstore.RotateResult{}, err
		}
		indexUntil = ms(r.Now.Add(2 * life))
	}
	if err != nil {
		if len(res) > 0 && res[0] == int64(3) {
			// The reuse's deletion stands but did not stick.
			s.revocationFailed(ctx, r.SessionID)
		}
		return tokenstore.RotateResult{}, wrap("rotate", err)
	}
	status, _ := res[0].(int64)
	if status == 2 || (pending == "1" && status == 1) {
		// Replicated (or no replica to wait for): the answer goes out
		// now, and the grace with it; a replay may be of a rotation that a
		// replica waiting for replicas left pending. A
		// failed acknowledgement leaves the rotation pending (a later
		// presentation is a replay, never a reuse): counted as a store
		// error of op acknowledge_rotation, and the answer still goes.
		start := time.Now()
		aerr := acknowledge.Run(ctx, s.c, keys[1:], ms(r.Now)).Err()
		if aerr != nil {
			aerr = wrap("acknowledge rotation", aerr)
		}
		s.Done(ctx, "acknowledge_rotation", start, &aerr)
	}
	switch status {
	case 1:
		return tokenstore.RotateResult{}, nil
	case 2:
		succ, _ := res[1].(string)
		return tokenstore.RotateResult{Replayed: true, Successor: []byte(succ)}, nil
	case 4:
		return tokenstore.RotateResult{}, fmt.Errorf("redisstore: rotate session %s: the subject index was stretched and the rotation still asks for it: %w", r.SessionID, tokenstore.ErrUnavailable)
	case 3:
		// The reuse ended the session. (A rotation only moves the expiry
		// forward, which a cached entry may safely lag behind.)
		s.invalidate(ctx, r.SessionID)
		return tokenstore.RotateResult{}, fmt.Errorf("redisstore: rotate session %s: %w", r.SessionID, tokenstore.ErrReused)
	default:
		return tokenstore.RotateResult{}, fmt.Errorf("redisstore: rotate: %w", tokenstore.ErrNotFound)
	}
}

// stretchSubject makes a session's subject index live at least ttl, before
// a script moves the session's expiry forward: the script cannot reach the
// index (another Cluster slot), and the index must never expire first. A
// session that is gone is left to the script to report.
func (s *Store) stretchSubject(ctx context.Context, key, id string, ttl time.Duration) error {
	who, err := s.c.HMGet(ctx, key, "d", "u").Result()
	if err != nil {
		return wrap("read session subject", err)
	}
	d, _ := who[0].(string)
	u, _ := who[1].(string)
	if u == "" {
		return nil
	}
	return s.indexSubject(ctx, tokenstore.Session{ID: id, Dialect: d, Subject: u}, ttl)
}

// ReissueRefresh implements tokenstore.Store.
func (s *Store) ReissueRefresh(ctx context.Context, r tokenstore.Reissue) (err error) {
	defer s.Done(ctx, "reissue_refresh", time.Now(), &err)
	if r.Next == "" || !r.Now.Before(r.NextExpiresAt) {
		return fmt.Errorf("redisstore: reissue: %w", tokenstore.ErrInvalid)
	}
	if err := s.unsettled("reissue", r.SessionID); err != nil {
		return err
	}
	key := s.sessionKey(r.SessionID)
	if err := s.stretchSubject(ctx, key, r.SessionID, r.NextExpiresAt.Sub(r.Now)); err != nil {
		return err
	}
	defer s.invalidate(ctx, r.SessionID)
	var n int64
	err = s.durably(ctx, key, func(c redis.Cmdable) (bool, error) {
		var err error
		n, err = reissue.Run(ctx, c, []string{key}, r.Next, ms(r.NextExpiresAt), r.Company, ms(r.Now)).Int64()
		return true, err
	})
	if err != nil {
		return wrap("reissue", err)
	}
	if n != 1 {
		return fmt.Errorf("redisstore: reissue: %w", tokenstore.ErrNotFound)
	}
	return nil
}
