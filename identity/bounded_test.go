package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"golang.org/x/crypto/bcrypt"

	"github.com/authgate/authgate/identity"
)

func TestBoundedChecksQueueThenRefuse(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	v := identity.Bounded(func(hash, secret string) (bool, error) {
		if secret == "slow" {
			entered <- struct{}{}
			<-release
		}
		return secret == "right", nil
	}, 1, 20*time.Millisecond)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = v(context.Background(), "h", "slow")
	}()
	<-entered
	if _, err := v(context.Background(), "h", "right"); !errors.Is(err, identity.ErrBusy) {
		t.Fatalf("with every slot taken: err = %v, want ErrBusy", err)
	}
	close(release)
	<-done
	if ok, err := v(context.Background(), "h", "right"); !ok || err != nil {
		t.Fatalf("with a free slot: %v, %v", ok, err)
	}
}

func TestHashCostCaps(t *testing.T) {
	huge := "$argon2id$v=19$m=4194304,t=2,p=1$SDDlbnDk33JIQy3QdwI43Q$4+oknPw6W3dWzcCrJWHYjTvqoLmBCIvCkdUOrQJfx48"
	if err := identity.CheckHash(huge); !errors.Is(err, identity.ErrHashTooCostly) {
		t.Fatalf("a 4 GiB argon2id hash: %v", err)
	}
	if _, err := identity.VerifySecret(huge, "x"); !errors.Is(err, identity.ErrHashTooCostly) {
		t.Fatalf("VerifySecret ran a 4 GiB argon2id hash: %v", err)
	}
	many := strings.Replace(huge, "m=4194304,t=2", "m=19456,t=1000", 1)
	if err := identity.CheckHash(many); !errors.Is(err, identity.ErrHashTooCostly) {
		t.Fatalf("t=1000: %v", err)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	costly := strings.Replace(string(h), "$04$", "$16$", 1)
	if err := identity.CheckHash(costly); !errors.Is(err, identity.ErrHashTooCostly) {
		t.Fatalf("bcrypt cost 16: %v", err)
	}
	if err := identity.CheckHash(string(h)); err != nil {
		t.Fatalf("bcrypt cost 4: %v", err)
	}
	if _, err := identity.Parse([]byte("users:\n  - id: 1\n    account: a\n    password_hash: \"" + huge + "\"\n")); !errors.Is(err, identity.ErrHashTooCostly) {
		t.Fatalf("a users file with a 4 GiB hash: %v", err)
	}
}

// TestBoundedChecksAreTraced: within a sampled trace each check is a
// password.verify span under the caller's, naming the hash's scheme, the
// wait for a slot and the result (never the secret or the hash); a check
// refused for want of a slot says busy.
func TestBoundedChecksAreTraced(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	hash, err := identity.HashSecret("right-secret")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	v := identity.Bounded(func(h, secret string) (bool, error) {
		if secret == "slow" {
			entered <- struct{}{}
			<-release
		}
		return identity.VerifySecret(h, secret)
	}, 1, 20*time.Millisecond)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "login")
	if ok, err := v(ctx, hash, "right-secret"); !ok || err != nil {
		t.Fatalf("right secret: %v %v", ok, err)
	}
	if ok, err := v(ctx, "md5:0123", "wrong-secret"); ok || err == nil {
		t.Fatalf("a hash of no known scheme: %v %v", ok, err)
	}
	go func() { _, _ = v(context.Background(), hash, "slow") }()
	<-entered
	if _, err := v(ctx, hash, "wrong-secret"); !errors.Is(err, identity.ErrBusy) {
		t.Fatalf("busy: %v", err)
	}
	close(release)
	parent.End()
	var got []string
	for _, sp := range rec.Ended() {
		if sp.Name() != "password.verify" {
			continue
		}
		if sp.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("password.verify is not a child of the caller's span")
		}
		attrs := map[string]string{}
		for _, a := range sp.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
			if strings.Contains(a.Value.Emit(), "secret") || strings.Contains(a.Value.Emit(), "$") {
				t.Errorf("a secret or a hash in the span: %v", a)
			}
		}
		if _, ok := attrs["authgate.password.queued_ms"]; !ok {
			t.Errorf("no queued_ms: %v", attrs)
		}
		got = append(got, attrs["authgate.password.scheme"]+" "+attrs["authgate.password.result"]+" "+sp.Status().Code.String())
	}
	want := []string{"argon2id match Unset", "unknown error Error", "argon2id busy Unset"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("spans %q, want %q", got, want)
	}
}
