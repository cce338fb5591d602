package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/tokenstore"
)

func rotation(presented, next string, now time.Time, succ string) tokenstore.Rotation {
	return tokenstore.Rotation{
		SessionID: "s1", Presented: presented, Next: next,
		NextExpiresAt: now.Add(2 * time.Hour), Successor: []byte(succ),
		Grace: 10 * time.Second, Now: now,
	}
}

func testRotateReplacesToken(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	now := base.Add(time.Minute)
	res, err := s.RotateRefresh(ctx, rotation("h0", "h1", now, "pair1"))
	if err != nil || res.Replayed {
		t.Fatalf("RotateRefresh = %+v, %v", res, err)
	}
	got, err := s.Session(ctx, "s1", now)
	if err != nil || got.RefreshHash != "h1" || !sameTime(got.ExpiresAt, now.Add(2*time.Hour)) ||
		!sameTime(got.LastSeen, now) || got.Subject != "10" || got.Attrs["product"] != "2" {
		t.Fatalf("rotated session = %+v, %v", got, err)
	}
	// The session now outlives its original expiry.
	if _, err := s.Session(ctx, "s1", base.Add(90*time.Minute)); err != nil {
		t.Fatalf("session after rotation: %v", err)
	}
	if _, err := s.RotateRefresh(ctx, rotation("h1", "h2", now.Add(time.Minute), "pair2")); err != nil {
		t.Fatalf("second rotation: %v", err)
	}
}

func testRotateGrace(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	now := base.Add(time.Minute)
	if _, err := s.RotateRefresh(ctx, rotation("h0", "h1", now, "pair1\x00binary\xff")); err != nil {
		t.Fatal(err)
	}
	res, err := s.RotateRefresh(ctx, rotation("h0", "hX", now.Add(10*time.Second), "other"))
	if err != nil {
		t.Fatalf("replay within grace: %v", err)
	}
	if !res.Replayed || string(res.Successor) != "pair1\x00binary\xff" {
		t.Fatalf("replay within grace = %+v, want the first successor", res)
	}
	sess, err := s.Session(ctx, "s1", now)
	if err != nil || sess.RefreshHash != "h1" {
		t.Fatalf("replay changed the session: %+v %v", sess, err)
	}
}

func testRotateReuseAfterGrace(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	now := base.Add(time.Minute)
	if _, err := s.RotateRefresh(ctx, rotation("h0", "h1", now, "pair1")); err != nil {
		t.Fatal(err)
	}
	_, err := s.RotateRefresh(ctx, rotation("h0", "hX", now.Add(11*time.Second), "other"))
	if !errors.Is(err, tokenstore.ErrReused) {
		t.Fatalf("reuse after grace: err = %v, want ErrReused", err)
	}
	if _, err := s.Session(ctx, "s1", now.Add(12*time.Second)); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("session survived reuse: %v", err)
	}
	if _, err := s.RotateRefresh(ctx, rotation("h1", "h2", now.Add(13*time.Second), "x")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("the thief's successor still rotates: %v", err)
	}
}

func testRotateGraceZero(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	r := rotation("h0", "h1", base, "pair1")
	r.Grace = 0
	if _, err := s.RotateRefresh(ctx, r); err != nil {
		t.Fatal(err)
	}
	r = rotation("h0", "h2", base, "pair2")
	r.Grace = 0
	if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, tokenstore.ErrReused) {
		t.Fatalf("grace 0 replay: err = %v, want ErrReused", err)
	}
}

func testRotateUnknown(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	if _, err := s.RotateRefresh(ctx, rotation("never", "h1", base, "p")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("unknown token: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Session(ctx, "s1", base); err != nil {
		t.Fatalf("an unknown token must not revoke the session: %v", err)
	}
	r := rotation("h0", "h1", base, "p")
	r.SessionID = "other"
	if _, err := s.RotateRefresh(ctx, r); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("unknown session: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RotateRefresh(ctx, rotation("h0", "h1", base.Add(time.Hour), "p")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("expired session: err = %v, want ErrNotFound", err)
	}
}

// testRotateConcurrent presents one refresh token from many goroutines at
// once: exactly one rotation wins, every other caller within the grace
// window receives the winner's successor, and nobody is logged out.
func testRotateConcurrent(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	const n = 16
	var wg sync.WaitGroup
	results := make([]tokenstore.RotateResult, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.RotateRefresh(ctx, rotation("h0", fmt.Sprintf("next-%d", i), base, fmt.Sprintf("pair-%d", i)))
		}()
	}
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !results[i].Replayed {
			if winner >= 0 {
				t.Fatalf("callers %d and %d both rotated", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("nobody rotated")
	}
	for i := range n {
		if results[i].Replayed && string(results[i].Successor) != fmt.Sprintf("pair-%d", winner) {
			t.Fatalf("caller %d got %q, want the winner's pair-%d", i, results[i].Successor, winner)
		}
	}
	sess, err := s.Session(ctx, "s1", base)
	if err != nil || sess.RefreshHash != fmt.Sprintf("next-%d", winner) {
		t.Fatalf("session after race = %+v, %v", sess, err)
	}
}

func testReissue(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	now := base.Add(time.Minute)
	if err := s.ReissueRefresh(ctx, tokenstore.Reissue{SessionID: "s1", Next: "h9", NextExpiresAt: now.Add(time.Hour), Company: "2", Now: now}); err != nil {
		t.Fatalf("ReissueRefresh: %v", err)
	}
	sess, err := s.Session(ctx, "s1", now)
	if err != nil || sess.Company != "2" || sess.RefreshHash != "h9" || sess.Subject != "10" || !sameTime(sess.LastSeen, now) {
		t.Fatalf("reissued session = %+v, %v", sess, err)
	}
	if _, err := s.RotateRefresh(ctx, rotation("h0", "h1", now, "p")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("old refresh token after reissue: err = %v, want ErrNotFound", err)
	}
	err = s.ReissueRefresh(ctx, tokenstore.Reissue{SessionID: "gone", Next: "h9", NextExpiresAt: now.Add(time.Hour), Company: "2", Now: now})
	if !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("reissue of unknown session: err = %v", err)
	}
}

// testRotateRetried: a rotation sent again as it was (a client or driver
// retry after a lost reply) gets the same successor, even with no grace
// window, and the session lives on; another successor for the same token
// after that is the reuse it always was.
func testRotateRetried(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	now := base.Add(time.Minute)
	r := rotation("h0", "h1", now, "pair1")
	r.Grace = 0
	if _, err := s.RotateRefresh(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Now = now.Add(5 * time.Second)
	res, err := s.RotateRefresh(ctx, r)
	if err != nil || !res.Replayed || string(res.Successor) != "pair1" {
		t.Fatalf("the retried rotation = %+v, %v; want the replay of pair1", res, err)
	}
	if err := s.CheckSession(ctx, "s1", r.Now); err != nil {
		t.Fatalf("the retry ended the session: %v", err)
	}
	other := rotation("h0", "h-other", now.Add(6*time.Second), "pair-other")
	other.Grace = 0
	if _, err := s.RotateRefresh(ctx, other); !errors.Is(err, tokenstore.ErrReused) {
		t.Fatalf("another successor for a rotated token: err = %v, want ErrReused", err)
	}
}
