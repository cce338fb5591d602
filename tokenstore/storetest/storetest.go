// Package storetest is the conformance suite every tokenstore.Store must
// pass, split by role like the interface: RunSessions, RunCodes,
// RunNonces, RunCounters, RunAccounts and RunSeats each need only their
// role, and Run runs them all plus the checks of the whole store (every
// operation reports to the observer). Each implementation's own test calls
// Run with a factory; the suite drives time through the "now" arguments,
// so no test sleeps.
package storetest

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/authgate/authgate/tokenstore"
)

// Factory returns a fresh, empty store for one subtest and registers its
// own cleanup (closing it, dropping its keys) with t.Cleanup.
type Factory func(t *testing.T) tokenstore.Store

var base = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

type suite[S any] []struct {
	name string
	fn   func(t *testing.T, s S)
}

func (cases suite[S]) run(t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// RunSessions checks the Sessions role.
func RunSessions(t *testing.T, newStore func(t *testing.T) tokenstore.Sessions) {
	suite[tokenstore.Sessions]{
		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionExpires", testSessionExpires},
		{"CheckSession", testCheckSession},
		{"CreateRejectsInvalid", testCreateRejectsInvalid},
		{"RotateReplacesToken", testRotateReplacesToken},
		{"RotateGraceReturnsSameSuccessor", testRotateGrace},
		{"RotateReuseAfterGraceRevokes", testRotateReuseAfterGrace},
		{"RotateGraceZeroRevokesAtOnce", testRotateGraceZero},
		{"RotateUnknownToken", testRotateUnknown},
		{"RotateConcurrentOneWinner", testRotateConcurrent},
		{"RotateRetriedIsAReplay", testRotateRetried},
		{"ReissueChangesCompanyAndToken", testReissue},
		{"RevokeSession", testRevokeSession},
		{"RevokeSubject", testRevokeSubject},
		{"SubjectSessionsLiveOnly", testSubjectSessions},
		{"AdoptOnceNeverAgain", testAdopt},
		{"AdoptConcurrentOneSession", testAdoptConcurrent},
	}.run(t, newStore)
}

// RunCodes checks the Codes role.
func RunCodes(t *testing.T, newStore func(t *testing.T) tokenstore.Codes) {
	suite[tokenstore.Codes]{
		{"CodeAttempts", testCodeAttempts},
		{"CodeExpires", testCodeExpires},
		{"CodeConcurrentConsumeOnce", testCodeConcurrent},
	}.run(t, newStore)
}

// RunNonces checks the Nonces role.
func RunNonces(t *testing.T, newStore func(t *testing.T) tokenstore.Nonces) {
	suite[tokenstore.Nonces]{{"NonceReplay", testNonce}}.run(t, newStore)
}

// RunCounters checks the Counters role.
func RunCounters(t *testing.T, newStore func(t *testing.T) tokenstore.Counters) {
	suite[tokenstore.Counters]{
		{"HitWindow", testHit},
		{"ReleaseTakesBackAHit", testRelease},
	}.run(t, newStore)
}

// RunAccounts checks the Accounts role.
func RunAccounts(t *testing.T, newStore func(t *testing.T) tokenstore.Accounts) {
	suite[tokenstore.Accounts]{
		{"EnsureAccountOnce", testEnsureAccount},
		{"EnsureAccountConcurrentOneID", testEnsureAccountConcurrent},
	}.run(t, newStore)
}

// RunSeats checks the Seats role.
func RunSeats(t *testing.T, newStore func(t *testing.T) tokenstore.Seats) {
	suite[tokenstore.Seats]{
		{"SeatClaimAndDisplacement", testSeat},
		{"SeatConcurrentClaimsOneHolder", testSeatConcurrent},
	}.run(t, newStore)
}

// as narrows a Factory to one role.
func as[R any](newStore Factory) func(t *testing.T) R {
	return func(t *testing.T) R { return any(newStore(t)).(R) }
}

// Run runs every role's suite and the whole-store checks.
func Run(t *testing.T, newStore Factory) {
	t.Run("Sessions", func(t *testing.T) { RunSessions(t, as[tokenstore.Sessions](newStore)) })
	t.Run("Codes", func(t *testing.T) { RunCodes(t, as[tokenstore.Codes](newStore)) })
	t.Run("Nonces", func(t *testing.T) { RunNonces(t, as[tokenstore.Nonces](newStore)) })
	t.Run("Counters", func(t *testing.T) { RunCounters(t, as[tokenstore.Counters](newStore)) })
	t.Run("Accounts", func(t *testing.T) { RunAccounts(t, as[tokenstore.Accounts](newStore)) })
	t.Run("Seats", func(t *testing.T) { RunSeats(t, as[tokenstore.Seats](newStore)) })
	t.Run("Overrides", func(t *testing.T) { testOverrides(t, as[tokenstore.Overrides](newStore)(t)) })
	t.Run("EveryOperationObserved", func(t *testing.T) { testEveryOperationObserved(t, newStore(t)) })
}

// OpName is the observer's name of a Store method: CreateSession is
// create_session.
func OpName(method string) string {
	var b strings.Builder
	for i, r := range method {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// testEveryOperationObserved calls every method of tokenstore.Store (but
// Close) by reflection, with zero arguments, and requires each to report
// under its own name: a method added to the interface without reporting
// fails here without anyone having to remember this test.
func testEveryOperationObserved(t *testing.T, s tokenstore.Store) {
	obs, ok := s.(tokenstore.Observable)
	if !ok {
		t.Fatalf("%T does not implement tokenstore.Observable", s)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	obs.SetObserver(func(op string, took time.Duration, _ error) {
		mu.Lock()
		seen[op]++
		mu.Unlock()
		if took < 0 {
			t.Errorf("%s took %v", op, took)
		}
	})
	defer obs.SetObserver(nil)
	typ := reflect.TypeFor[tokenstore.Store]()
	v := reflect.ValueOf(s)
	ctxType := reflect.TypeFor[context.Context]()
	for i := range typ.NumMethod() {
		m := typ.Method(i)
		if m.Name == "Close" {
			continue
		}
		args := make([]reflect.Value, m.Type.NumIn())
		for j := range args {
			in := m.Type.In(j)
			if in == ctxType {
				args[j] = reflect.ValueOf(context.Background())
			} else {
				args[j] = reflect.Zero(in)
			}
		}
		v.MethodByName(m.Name).Call(args)
		mu.Lock()
		n := seen[OpName(m.Name)]
		mu.Unlock()
		if n != 1 {
			t.Errorf("%s reported %d times as %q, want once", m.Name, n, OpName(m.Name))
		}
	}
}

// testOverrides: set, read by prefix, overwrite, remove.
func testOverrides(t *testing.T, s tokenstore.Overrides) {
	ctx := context.Background()
	for k, v := range map[string]string{"appkey:p:app:a": "disabled", "appkey:p:app:b": "disabled", "appkey:q:app:a": "disabled"} {
		if err := s.SetOverride(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Overrides(ctx, "appkey:p:")
	if err != nil || len(got) != 2 || got["appkey:p:app:a"] != "disabled" || got["appkey:p:app:b"] != "disabled" {
		t.Fatalf("Overrides(appkey:p:) = %v, %v", got, err)
	}
	if err := s.SetOverride(ctx, "appkey:p:app:a", ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Overrides(ctx, "appkey:p:"); len(got) != 1 || got["appkey:p:app:b"] != "disabled" {
		t.Fatalf("after removing one: %v", got)
	}
	if got, err := s.Overrides(ctx, "none:"); err != nil || len(got) != 0 {
		t.Fatalf("Overrides(none:) = %v, %v", got, err)
	}
}
