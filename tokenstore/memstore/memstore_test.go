package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/authgate/authgate/tokenstore"
	"github.com/authgate/authgate/tokenstore/memstore"
	"github.com/authgate/authgate/tokenstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) tokenstore.Store {
		s := memstore.New(nil)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestSweepDropsExpired(t *testing.T) {
	s := memstore.New(nil)
	defer s.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.CreateSession(context.Background(), tokenstore.Session{ID: "a", Subject: "1", RefreshHash: "h", ExpiresAt: now.Add(time.Minute)}, now)
	if err != nil {
		t.Fatal(err)
	}
	s.Sweep(now.Add(59 * time.Second))
	if s.Len() != 1 {
		t.Fatalf("live session swept")
	}
	s.Sweep(now.Add(time.Minute))
	if s.Len() != 0 {
		t.Fatalf("expired session kept: %d", s.Len())
	}
}
