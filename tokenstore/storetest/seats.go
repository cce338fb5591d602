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

func testSeat(t *testing.T, s tokenstore.Seats) {
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
	if prev.SessionID != "s-pc" || prev.Device != "pc" {
		t.Fatalf("second claim replaced %+v, want the pc session", prev)
	}
	st, err := s.SeatState(ctx, "u1", "pc", t1)
	if err != nil || st.Holder.SessionID != "s-phone" || st.Holder.Device != "phone" ||
		!sameTime(st.DisplacedAt, t1) {
		t.Fatalf("pc's state = %+v, %v; want displaced at t1", st, err)
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
	if st, _ := s.SeatState(ctx, "u1", "phone", t2); !sameTime(st.DisplacedAt, t2) {
		t.Fatalf("phone's state = %+v, want displaced at t2", st)
	}
	if _, err := s.ClaimSeat(ctx, tokenstore.SeatClaim{Key: "u1", SessionID: "", Device: "x", ExpiresAt: t2.Add(time.Hour), Now: t2}); !errors.Is(err, tokenstore.ErrInvalid) {
		t.Fatalf("claim without a session: %v", err)
	}
}

// testSeatConcurrent: logins racing for one seat each displace exactly the
// holder before them, so exactly one ends up holding it.
func testSeatConcurrent(t *testing.T, s tokenstore.Seats) {
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
