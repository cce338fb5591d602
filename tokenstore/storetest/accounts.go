package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/tokenstore"
)

func testEnsureAccount(t *testing.T, s tokenstore.Accounts) {
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
func testEnsureAccountConcurrent(t *testing.T, s tokenstore.Accounts) {
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
