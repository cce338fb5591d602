package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/tokenstore"
)

func putCode(t *testing.T, s tokenstore.Codes, key string) {
	t.Helper()
	if err := s.PutCode(context.Background(), key, tokenstore.Code{Hash: "right", MaxAttempts: 3, ExpiresAt: base.Add(5 * time.Minute)}, base); err != nil {
		t.Fatalf("PutCode: %v", err)
	}
}

func testCodeAttempts(t *testing.T, s tokenstore.Codes) {
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

func testCodeExpires(t *testing.T, s tokenstore.Codes) {
	putCode(t, s, "k")
	if _, err := s.VerifyCode(context.Background(), "k", "right", base.Add(5*time.Minute)); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("expired code: err = %v, want ErrNotFound", err)
	}
}

func testCodeConcurrent(t *testing.T, s tokenstore.Codes) {
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
