// Package storetest is the conformance suite every tokenstore.Store must
// pass. Each implementation's own test calls Run with a factory; the suite
// drives time through the "now" arguments, so no test sleeps.
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

// Factory returns a fresh, empty store for one subtest and registers its
// own cleanup (closing it, dropping its keys) with t.Cleanup.
type Factory func(t *testing.T) tokenstore.Store

var base = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// Run runs the whole suite against stores made by newStore.
func Run(t *testing.T, newStore Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s tokenstore.Store)
	}{
		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionExpires", testSessionExpires},
		{"CreateRejectsInvalid", testCreateRejectsInvalid},
		{"RotateReplacesToken", testRotateReplacesToken},
		{"RotateGraceReturnsSameSuccessor", testRotateGrace},
		{"RotateReuseAfterGraceRevokes", testRotateReuseAfterGrace},
		{"RotateGraceZeroRevokesAtOnce", testRotateGraceZero},
		{"RotateUnknownToken", testRotateUnknown},
		{"RotateConcurrentOneWinner", testRotateConcurrent},
		{"ReissueChangesCompanyAndToken", testReissue},
		{"RevokeSession", testRevokeSession},
		{"RevokeSubject", testRevokeSubject},
		{"CodeAttempts", testCodeAttempts},
		{"CodeExpires", testCodeExpires},
		{"CodeConcurrentConsumeOnce", testCodeConcurrent},
		{"NonceReplay", testNonce},
		{"HitWindow", testHit},
		{"ReleaseTakesBackAHit", testRelease},
		{"EnsureAccountOnce", testEnsureAccount},
		{"EnsureAccountConcurrentOneID", testEnsureAccountConcurrent},
		{"SeatClaimAndDisplacement", testSeat},
		{"SeatConcurrentClaimsOneHolder", testSeatConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

func newSession(id string) tokenstore.Session {
	return tokenstore.Session{
		ID: id, Dialect: "mmm", Subject: "10", Company: "1", Device: "dev-1",
		Attrs:     map[string]string{"product": "2"},
		CreatedAt: base, LastSeen: base, ExpiresAt: base.Add(time.Hour),
		RefreshHash: "h0",
	}
}

func mustCreate(t *testing.T, s tokenstore.Store, sess tokenstore.Session) {
	t.Helper()
	if err := s.CreateSession(context.Background(), sess, base); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

func sameTime(a, b time.Time) bool { return a.UnixMilli() == b.UnixMilli() }

func testSessionRoundTrip(t *testing.T, s tokenstore.Store) {
	want := newSession("s1")
	mustCreate(t, s, want)
	got, err := s.Session(context.Background(), "s1", base.Add(time.Minute))
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if got.ID != want.ID || got.Dialect != want.Dialect || got.Subject != want.Subject ||
		got.Company != want.Company || got.Device != want.Device || got.RefreshHash != want.RefreshHash ||
		got.Attrs["product"] != "2" || len(got.Attrs) != 1 ||
		!sameTime(got.CreatedAt, want.CreatedAt) || !sameTime(got.LastSeen, want.LastSeen) ||
		!sameTime(got.ExpiresAt, want.ExpiresAt) {
		t.Fatalf("Session = %+v, want %+v", got, want)
	}
	got.Attrs["product"] = "changed"
	again, _ := s.Session(context.Background(), "s1", base)
	if again.Attrs["product"] != "2" {
		t.Fatal("store shares its Attrs map with callers")
	}
}

func testSessionExpires(t *testing.T, s tokenstore.Store) {
	mustCreate(t, s, newSession("s1"))
	_, err := s.Session(context.Background(), "s1", base.Add(time.Hour))
	if !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Session at expiry: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Session(context.Background(), "nope", base); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("unknown session: err = %v, want ErrNotFound", err)
	}
}

func testCreateRejectsInvalid(t *testing.T, s tokenstore.Store) {
	for name, mod := range map[string]func(*tokenstore.Session){
		"empty id":      func(x *tokenstore.Session) { x.ID = "" },
		"empty hash":    func(x *tokenstore.Session) { x.RefreshHash = "" },
		"already dead":  func(x *tokenstore.Session) { x.ExpiresAt = base },
		"expired early": func(x *tokenstore.Session) { x.ExpiresAt = base.Add(-time.Second) },
	} {
		sess := newSession("bad")
		mod(&sess)
		if err := s.CreateSession(context.Background(), sess, base); !errors.Is(err, tokenstore.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := s.Session(context.Background(), "bad", base); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("invalid session was stored: %v", err)
	}
}

func rotation(presented, next string, now time.Time, succ string) tokenstore.Rotation {
	return tokenstore.Rotation{
		SessionID: "s1", Presented: presented, Next: next,
		NextExpiresAt: now.Add(2 * time.Hour), Successor: []byte(succ),
		Grace: 10 * time.Second, Now: now,
	}
}

func testRotateReplacesToken(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	now := base.Add(time.Minute)
	res, err := s.RotateRefresh(ctx, rotation("h0", "h1", now, "pair1"))
	if err != nil || res.Replayed {
		t.Fatalf("RotateRefresh = %+v, %v", res, err)
	}
	if res.Session.RefreshHash != "h1" || !sameTime(res.Session.ExpiresAt, now.Add(2*time.Hour)) ||
		!sameTime(res.Session.LastSeen, now) || res.Session.Subject != "10" || res.Session.Attrs["product"] != "2" {
		t.Fatalf("rotated session = %+v", res.Session)
	}
	// The session now outlives its original expiry.
	if _, err := s.Session(ctx, "s1", base.Add(90*time.Minute)); err != nil {
		t.Fatalf("session after rotation: %v", err)
	}
	if _, err := s.RotateRefresh(ctx, rotation("h1", "h2", now.Add(time.Minute), "pair2")); err != nil {
		t.Fatalf("second rotation: %v", err)
	}
}

func testRotateGrace(t *testing.T, s tokenstore.Store) {
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

func testRotateReuseAfterGrace(t *testing.T, s tokenstore.Store) {
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

func testRotateGraceZero(t *testing.T, s tokenstore.Store) {
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

func testRotateUnknown(t *testing.T, s tokenstore.Store) {
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
func testRotateConcurrent(t *testing.T, s tokenstore.Store) {
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

func testReissue(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	now := base.Add(time.Minute)
	sess, err := s.ReissueRefresh(ctx, tokenstore.Reissue{SessionID: "s1", Next: "h9", NextExpiresAt: now.Add(time.Hour), Company: "2", Now: now})
	if err != nil {
		t.Fatalf("ReissueRefresh: %v", err)
	}
	if sess.Company != "2" || sess.RefreshHash != "h9" || sess.Subject != "10" || !sameTime(sess.LastSeen, now) {
		t.Fatalf("reissued session = %+v", sess)
	}
	if _, err := s.RotateRefresh(ctx, rotation("h0", "h1", now, "p")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("old refresh token after reissue: err = %v, want ErrNotFound", err)
	}
	_, err = s.ReissueRefresh(ctx, tokenstore.Reissue{SessionID: "gone", Next: "h9", NextExpiresAt: now.Add(time.Hour), Company: "2", Now: now})
	if !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("reissue of unknown session: err = %v", err)
	}
}

func testRevokeSession(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	if err := s.RevokeSession(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "s1", base); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("revoked session: err = %v", err)
	}
	if _, err := s.RotateRefresh(ctx, rotation("h0", "h1", base, "p")); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("rotate revoked session: err = %v", err)
	}
	if err := s.RevokeSession(ctx, "s1"); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
}

func testRevokeSubject(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		mustCreate(t, s, newSession(id))
	}
	other := newSession("d")
	other.Subject = "11"
	mustCreate(t, s, other)
	otherDialect := newSession("e")
	otherDialect.Dialect = "mobile"
	mustCreate(t, s, otherDialect)

	n, err := s.RevokeSubject(ctx, "mmm", "10", base)
	if err != nil || n != 3 {
		t.Fatalf("RevokeSubject = %d, %v; want 3", n, err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := s.Session(ctx, id, base); !errors.Is(err, tokenstore.ErrNotFound) {
			t.Errorf("session %s survived: %v", id, err)
		}
	}
	for _, id := range []string{"d", "e"} {
		if _, err := s.Session(ctx, id, base); err != nil {
			t.Errorf("session %s of another subject or dialect revoked: %v", id, err)
		}
	}
	if n, err := s.RevokeSubject(ctx, "mmm", "10", base); err != nil || n != 0 {
		t.Fatalf("second RevokeSubject = %d, %v", n, err)
	}
}

func putCode(t *testing.T, s tokenstore.Store, key string) {
	t.Helper()
	if err := s.PutCode(context.Background(), key, tokenstore.Code{Hash: "right", MaxAttempts: 3, ExpiresAt: base.Add(5 * time.Minute)}, base); err != nil {
		t.Fatalf("PutCode: %v", err)
	}
}

func testCodeAttempts(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	putCode(t, s, "k")
	for i := range 2 {
		if r, err := s.VerifyCode(ctx, "k", "wrong", base); err != nil || r != tokenstore.CodeMismatch {
			t.Fatalf("attempt %d: %v %v, want mismatch", i, r, err)
		}
	}
	if r, err := s.VerifyCode(ctx, "k", "right", base); err != nil || r != tokenstore.CodeMatched {
		t.Fatalf("third attempt: %v %v, want matched", r, err)
	}
	if _, err := s.VerifyCode(ctx, "k", "right", base); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("consumed code used again: %v", err)
	}

	putCode(t, s, "k2")
	for range 3 {
		_, _ = s.VerifyCode(ctx, "k2", "wrong", base)
	}
	if r, err := s.VerifyCode(ctx, "k2", "right", base); err != nil || r != tokenstore.CodeExhausted {
		t.Fatalf("fourth attempt with the right code: %v %v, want exhausted", r, err)
	}
	if _, err := s.VerifyCode(ctx, "k2", "right", base); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("exhausted code still there: %v", err)
	}
	if err := s.PutCode(ctx, "k3", tokenstore.Code{Hash: "x", MaxAttempts: 0, ExpiresAt: base.Add(time.Minute)}, base); !errors.Is(err, tokenstore.ErrInvalid) {
		t.Fatalf("PutCode with no attempts: %v", err)
	}
}

func testCodeExpires(t *testing.T, s tokenstore.Store) {
	putCode(t, s, "k")
	if _, err := s.VerifyCode(context.Background(), "k", "right", base.Add(5*time.Minute)); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("expired code: err = %v, want ErrNotFound", err)
	}
}

func testCodeConcurrent(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	if err := s.PutCode(ctx, "k", tokenstore.Code{Hash: "right", MaxAttempts: 50, ExpiresAt: base.Add(time.Minute)}, base); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	matched := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := s.VerifyCode(ctx, "k", "right", base); err == nil && r == tokenstore.CodeMatched {
				mu.Lock()
				matched++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if matched != 1 {
		t.Fatalf("code consumed %d times, want once", matched)
	}
}

func testNonce(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	fresh, err := s.UseNonce(ctx, "guid-1", time.Minute, base)
	if err != nil || !fresh {
		t.Fatalf("first use = %v, %v", fresh, err)
	}
	if fresh, err := s.UseNonce(ctx, "guid-1", time.Minute, base.Add(59*time.Second)); err != nil || fresh {
		t.Fatalf("replay = %v, %v; want not fresh", fresh, err)
	}
	if fresh, err := s.UseNonce(ctx, "guid-1", time.Minute, base.Add(time.Minute)); err != nil || !fresh {
		t.Fatalf("after the window = %v, %v; want fresh", fresh, err)
	}
	if _, err := s.UseNonce(ctx, "", time.Minute, base); !errors.Is(err, tokenstore.ErrInvalid) {
		t.Fatalf("empty nonce: %v", err)
	}
}

func testHit(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	for i := int64(1); i <= 3; i++ {
		n, reset, err := s.Hit(ctx, "ip:1", time.Minute, base.Add(time.Duration(i)*time.Second))
		if err != nil || n != i {
			t.Fatalf("hit %d = %d, %v", i, n, err)
		}
		if want := time.Minute - time.Duration(i-1)*time.Second; reset != want {
			t.Fatalf("hit %d reset = %v, want %v", i, reset, want)
		}
	}
	if n, _, _ := s.Hit(ctx, "ip:2", time.Minute, base); n != 1 {
		t.Fatalf("other key counted %d", n)
	}
	if n, reset, err := s.Hit(ctx, "ip:1", time.Minute, base.Add(61*time.Second)); err != nil || n != 1 || reset != time.Minute {
		t.Fatalf("new window = %d, %v, %v", n, reset, err)
	}
}

func testRelease(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	for range 2 {
		if _, _, err := s.Hit(ctx, "k", time.Minute, base); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Release(ctx, "k", base); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.Hit(ctx, "k", time.Minute, base); n != 2 {
		t.Fatalf("count after a release and a hit = %d, want 2", n)
	}
	if err := s.Release(ctx, "never-hit", base); err != nil {
		t.Fatalf("release of an unknown key: %v", err)
	}
	if n, _, _ := s.Hit(ctx, "never-hit", time.Minute, base); n != 1 {
		t.Fatalf("release of an unknown key went below zero: next hit counts %d", n)
	}
}

func testEnsureAccount(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	if _, err := s.Account(ctx, "mobile:138"); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Account before creation: %v", err)
	}
	a, created, err := s.EnsureAccount(ctx, "mobile:138", map[string]string{"source": "app"}, 1000, base)
	if err != nil || !created || a.ID != 1000 || a.Attrs["source"] != "app" || !sameTime(a.CreatedAt, base) {
		t.Fatalf("first EnsureAccount = %+v, %v, %v", a, created, err)
	}
	again, created, err := s.EnsureAccount(ctx, "mobile:138", map[string]string{"source": "other"}, 1000, base.Add(time.Hour))
	if err != nil || created || again.ID != 1000 || again.Attrs["source"] != "app" || !sameTime(again.CreatedAt, base) {
		t.Fatalf("second EnsureAccount = %+v, %v, %v; want the first account unchanged", again, created, err)
	}
	b, created, err := s.EnsureAccount(ctx, "mobile:139", nil, 1000, base)
	if err != nil || !created || b.ID != 1001 {
		t.Fatalf("next account = %+v, %v, %v; want id 1001", b, created, err)
	}
	got, err := s.Account(ctx, "mobile:138")
	if err != nil || got.ID != 1000 || got.Attrs["source"] != "app" {
		t.Fatalf("Account = %+v, %v", got, err)
	}
}

// testEnsureAccountConcurrent registers one new number from many logins at
// once: one account, one id.
func testEnsureAccountConcurrent(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	const n = 16
	ids := make([]int64, n)
	created := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, c, err := s.EnsureAccount(ctx, "mobile:new", nil, 1, base)
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
			}
			ids[i], created[i] = a.ID, c
		}()
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if ids[i] != ids[0] {
			t.Fatalf("callers got ids %d and %d", ids[0], ids[i])
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Fatalf("%d callers created the account, want 1", creators)
	}
}

func testSeat(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	claim := func(sid, dev string, at time.Time) tokenstore.Seat {
		t.Helper()
		prev, err := s.ClaimSeat(ctx, tokenstore.SeatClaim{Key: "u1", SessionID: sid, Device: dev, ExpiresAt: at.Add(time.Hour), Now: at})
		if err != nil {
			t.Fatal(err)
		}
		return prev
	}
	if st, err := s.SeatState(ctx, "u1", "pc", base); err != nil || st.Holder.SessionID != "" {
		t.Fatalf("empty seat = %+v, %v", st, err)
	}
	if prev := claim("s-pc", "pc", base); prev.SessionID != "" {
		t.Fatalf("first claim replaced %+v", prev)
	}
	t1 := base.Add(time.Minute)
	prev := claim("s-phone", "phone", t1)
	if prev.SessionID != "s-pc" || prev.Device != "pc" || !sameTime(prev.Since, base) {
		t.Fatalf("second claim replaced %+v, want the pc session", prev)
	}
	st, err := s.SeatState(ctx, "u1", "pc", t1)
	if err != nil || st.Holder.SessionID != "s-phone" || st.Holder.Device != "phone" ||
		!sameTime(st.DisplacedAt, t1) || st.DisplacedBy != "s-phone" {
		t.Fatalf("pc's state = %+v, %v; want displaced at t1 by s-phone", st, err)
	}
	if st, _ := s.SeatState(ctx, "u1", "phone", t1); !st.DisplacedAt.IsZero() {
		t.Fatalf("the holder is marked displaced: %+v", st)
	}
	// Logging in again on the pc clears its displacement; the same device
	// replacing itself is no displacement.
	t2 := t1.Add(time.Minute)
	claim("s-pc2", "pc", t2)
	if st, _ := s.SeatState(ctx, "u1", "pc", t2); !st.DisplacedAt.IsZero() || st.Holder.SessionID != "s-pc2" {
		t.Fatalf("pc after logging in again = %+v", st)
	}
	claim("s-pc3", "pc", t2)
	if st, _ := s.SeatState(ctx, "u1", "pc", t2); !st.DisplacedAt.IsZero() {
		t.Fatalf("same-device relogin recorded as displacement: %+v", st)
	}
	if st, _ := s.SeatState(ctx, "u1", "phone", t2); st.DisplacedBy != "s-pc2" {
		t.Fatalf("phone displaced by %q, want s-pc2", st.DisplacedBy)
	}
	if _, err := s.ClaimSeat(ctx, tokenstore.SeatClaim{Key: "u1", SessionID: "", Device: "x", ExpiresAt: t2.Add(time.Hour), Now: t2}); !errors.Is(err, tokenstore.ErrInvalid) {
		t.Fatalf("claim without a session: %v", err)
	}
}

// testSeatConcurrent: logins racing for one seat each displace exactly the
// holder before them, so exactly one ends up holding it.
func testSeatConcurrent(t *testing.T, s tokenstore.Store) {
	ctx := context.Background()
	const n = 12
	prevs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := s.ClaimSeat(ctx, tokenstore.SeatClaim{Key: "u", SessionID: fmt.Sprintf("s%d", i), Device: fmt.Sprintf("d%d", i), ExpiresAt: base.Add(time.Hour), Now: base})
			if err != nil {
				t.Error(err)
			}
			prevs[i] = p.SessionID
		}()
	}
	wg.Wait()
	st, err := s.SeatState(ctx, "u", "none", base)
	if err != nil {
		t.Fatal(err)
	}
	// The replaced holders form one chain: every session but the final
	// holder was replaced exactly once, and one claim found the seat empty.
	replaced := map[string]int{}
	empty := 0
	for _, p := range prevs {
		if p == "" {
			empty++
		} else {
			replaced[p]++
		}
	}
	if empty != 1 || len(replaced) != n-1 || replaced[st.Holder.SessionID] != 0 {
		t.Fatalf("holder %s, replaced %v, %d claims found it empty", st.Holder.SessionID, replaced, empty)
	}
	for sid, c := range replaced {
		if c != 1 {
			t.Fatalf("session %s replaced %d times", sid, c)
		}
	}
}
