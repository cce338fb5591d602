package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/tokenstore"
)

func newSession(id string) tokenstore.Session {
	return tokenstore.Session{
		ID: id, Dialect: "mmm", Subject: "10", Company: "1", Device: "dev-1",
		Attrs:     map[string]string{"product": "2"},
		CreatedAt: base, LastSeen: base, ExpiresAt: base.Add(time.Hour),
		RefreshHash: "h0",
	}
}

func mustCreate(t *testing.T, s tokenstore.Sessions, sess tokenstore.Session) {
	t.Helper()
	if err := s.CreateSession(context.Background(), sess, base); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

func sameTime(a, b time.Time) bool { return a.UnixMilli() == b.UnixMilli() }

func testSessionRoundTrip(t *testing.T, s tokenstore.Sessions) {
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

func testSessionExpires(t *testing.T, s tokenstore.Sessions) {
	mustCreate(t, s, newSession("s1"))
	_, err := s.Session(context.Background(), "s1", base.Add(time.Hour))
	if !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("Session at expiry: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Session(context.Background(), "nope", base); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("unknown session: err = %v, want ErrNotFound", err)
	}
}

func testCreateRejectsInvalid(t *testing.T, s tokenstore.Sessions) {
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

func testRevokeSession(t *testing.T, s tokenstore.Sessions) {
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

func testRevokeSubject(t *testing.T, s tokenstore.Sessions) {
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

func testCheckSession(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	mustCreate(t, s, newSession("s1"))
	if err := s.CheckSession(ctx, "s1", base.Add(59*time.Minute)); err != nil {
		t.Fatalf("CheckSession of a live session: %v", err)
	}
	if err := s.CheckSession(ctx, "s1", base.Add(time.Hour)); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("CheckSession at expiry: err = %v, want ErrNotFound", err)
	}
	if err := s.CheckSession(ctx, "nope", base); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("CheckSession of an unknown session: err = %v, want ErrNotFound", err)
	}
	if err := s.RevokeSession(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckSession(ctx, "s1", base); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("CheckSession of a revoked session: err = %v, want ErrNotFound", err)
	}
}

// testAdopt: an adopted session is created once; adopting its id again
// creates nothing, even after the session was revoked, until the
// adoption's own expiry.
func testAdopt(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	sess := newSession("legacy-1")
	// Remembered for a day, while the session itself lasts an hour: the
	// legacy token may live longer than the session it becomes.
	remember := base.Add(24 * time.Hour)
	created, err := s.AdoptSession(ctx, sess, remember, base)
	if err != nil || !created {
		t.Fatalf("first AdoptSession = %v, %v; want created", created, err)
	}
	got, err := s.Session(ctx, "legacy-1", base.Add(time.Minute))
	if err != nil || got.RefreshHash != "h0" || got.Subject != "10" {
		t.Fatalf("adopted session = %+v, %v", got, err)
	}
	again := sess
	again.RefreshHash = "h-other"
	if created, err := s.AdoptSession(ctx, again, remember, base.Add(time.Minute)); err != nil || created {
		t.Fatalf("second AdoptSession = %v, %v; want not created", created, err)
	}
	if got, _ := s.Session(ctx, "legacy-1", base.Add(time.Minute)); got.RefreshHash != "h0" {
		t.Fatalf("a second adoption overwrote the session: refresh hash %q", got.RefreshHash)
	}
	if err := s.RevokeSession(ctx, "legacy-1"); err != nil {
		t.Fatal(err)
	}
	if created, err := s.AdoptSession(ctx, sess, remember, base.Add(2*time.Minute)); err != nil || created {
		t.Fatalf("AdoptSession after revocation = %v, %v; want not created", created, err)
	}
	// After the session's own end, still remembered.
	later := sess
	later.ExpiresAt = base.Add(3 * time.Hour)
	if created, err := s.AdoptSession(ctx, later, remember, base.Add(2*time.Hour)); err != nil || created {
		t.Fatalf("AdoptSession after the session's end, before remember = %v, %v; want not created", created, err)
	}
	if err := s.CheckSession(ctx, "legacy-1", base.Add(2*time.Minute)); !errors.Is(err, tokenstore.ErrNotFound) {
		t.Fatalf("a revoked adopted session came back: %v", err)
	}
	if _, err := s.AdoptSession(ctx, tokenstore.Session{ID: "x", RefreshHash: "h", ExpiresAt: base}, remember, base); !errors.Is(err, tokenstore.ErrInvalid) {
		t.Fatalf("AdoptSession of an expired session: err = %v, want ErrInvalid", err)
	}
}

// testAdoptConcurrent: many replicas adopting one id create one session.
func testAdoptConcurrent(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	createdN := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created, err := s.AdoptSession(ctx, newSession("legacy-c"), base, base)
			if err != nil {
				t.Error(err)
			}
			if created {
				mu.Lock()
				createdN++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if createdN != 1 {
		t.Fatalf("%d adoptions created the session; want 1", createdN)
	}
}

// testSubjectSessions: a subject's live sessions of one dialect, whole,
// without its ended or expired ones or another dialect's.
func testSubjectSessions(t *testing.T, s tokenstore.Sessions) {
	ctx := context.Background()
	for _, id := range []string{"a", "b", "ended"} {
		mustCreate(t, s, newSession(id))
	}
	short := newSession("short")
	short.ExpiresAt = base.Add(time.Minute)
	mustCreate(t, s, short)
	other := newSession("other")
	other.Dialect = "app"
	mustCreate(t, s, other)
	if err := s.RevokeSession(ctx, "ended"); err != nil {
		t.Fatal(err)
	}
	got, err := s.SubjectSessions(ctx, "mmm", "10", base.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]tokenstore.Session{}
	for _, sess := range got {
		ids[sess.ID] = sess
	}
	if len(ids) != 2 || ids["a"].ID == "" || ids["b"].ID == "" {
		t.Fatalf("SubjectSessions = %v, want a and b", got)
	}
	if a := ids["a"]; a.Device != "dev-1" || a.Company != "1" || !sameTime(a.CreatedAt, base) || !sameTime(a.ExpiresAt, base.Add(time.Hour)) {
		t.Fatalf("session a = %+v", a)
	}
	if none, err := s.SubjectSessions(ctx, "mmm", "nobody", base); err != nil || len(none) != 0 {
		t.Fatalf("SubjectSessions of nobody = %v, %v", none, err)
	}
}
