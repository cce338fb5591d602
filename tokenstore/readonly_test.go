package tokenstore_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/tokenstore"
	"github.com/authgate/authgate/tokenstore/memstore"
)

// reads are the only operations a Guard lets through under a read-only
// context.
var reads = []string{"Session", "CheckSession", "SubjectSessions", "Account", "SeatState", "Overrides", "Ping"}

// TestGuardRefusesEveryWrite calls every method of Store through a Guard
// under a read-only context, by reflection with zero arguments, and checks
// that only the reads reach the store: a write added to Store that Guard
// does not refuse fails here.
func TestGuardRefusesEveryWrite(t *testing.T) {
	inner := memstore.New(nil)
	t.Cleanup(func() { _ = inner.Close() })
	var mu sync.Mutex
	var reached []string
	inner.SetObserver(func(op string, _ time.Duration, _ error) {
		mu.Lock()
		reached = append(reached, op)
		mu.Unlock()
	})
	var g tokenstore.Store = tokenstore.Guard{Store: inner}
	ctx := tokenstore.ReadOnly(context.Background())
	typ := reflect.TypeFor[tokenstore.Store]()
	v := reflect.ValueOf(g)
	ctxType := reflect.TypeFor[context.Context]()
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		if m.Name == "Close" {
			continue
		}
		t.Run(m.Name, func(t *testing.T) {
			mu.Lock()
			reached = nil
			mu.Unlock()
			fn := v.MethodByName(m.Name)
			args := make([]reflect.Value, fn.Type().NumIn())
			for j := range args {
				if in := fn.Type().In(j); in == ctxType {
					args[j] = reflect.ValueOf(ctx)
				} else {
					args[j] = reflect.Zero(in)
				}
			}
			out := fn.Call(args)
			err, _ := out[len(out)-1].Interface().(error)
			mu.Lock()
			defer mu.Unlock()
			if slices.Contains(reads, m.Name) {
				if len(reached) != 1 {
					t.Fatalf("read %s reached the store %d times; want once", m.Name, len(reached))
				}
				return
			}
			if !errors.Is(err, tokenstore.ErrReadOnly) || len(reached) != 0 {
				t.Fatalf("write %s under a read-only context: err = %v, reached the store as %v; want ErrReadOnly and nothing", m.Name, err, reached)
			}
		})
	}
}

// TestGuardPassesWritesOtherwise: outside a read-only context a Guard is
// the store it wraps.
func TestGuardPassesWritesOtherwise(t *testing.T) {
	inner := memstore.New(nil)
	t.Cleanup(func() { _ = inner.Close() })
	g := tokenstore.Guard{Store: inner}
	now := time.Now()
	ctx := context.Background()
	if fresh, err := g.UseNonce(ctx, "n", time.Minute, now); err != nil || !fresh {
		t.Fatalf("UseNonce through a Guard = %v, %v", fresh, err)
	}
	if fresh, _ := inner.UseNonce(ctx, "n", time.Minute, now); fresh {
		t.Fatal("the write through the Guard did not reach the store")
	}
}
