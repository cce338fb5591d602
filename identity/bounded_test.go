package identity_test

import (
	"errors"
	"strings"
	"testing"
	"time"

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
		_, _ = v("h", "slow")
	}()
	<-entered
	if _, err := v("h", "right"); !errors.Is(err, identity.ErrBusy) {
		t.Fatalf("with every slot taken: err = %v, want ErrBusy", err)
	}
	close(release)
	<-done
	if ok, err := v("h", "right"); !ok || err != nil {
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
