package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authgate/authgate/tokenstore"
)

func testNonce(t *testing.T, s tokenstore.Nonces) {
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

func testHit(t *testing.T, s tokenstore.Counters) {
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

func testRelease(t *testing.T, s tokenstore.Counters) {
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
