package jwtkit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/authgate/authgate/dialects/jwtkit"
)

var key = []byte("jwtkit-test-key-0123456789abcdef0123")

func TestVerdicts(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { return now }
	k := jwtkit.New(key, "iss-a", clock, 10)
	token, err := k.Sign(jwt.NewBuilder().Expiration(now.Add(time.Minute)).Claim("uid", 7).Claim("sid", "s1"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := k.Verify(token)
	if err != nil {
		t.Fatalf("own token: %v", err)
	}
	if uid, ok := jwtkit.Int(tok, "uid"); !ok || uid != 7 {
		t.Fatalf("uid = %d, %v", uid, ok)
	}
	if sid, ok := jwtkit.String(tok, "sid"); !ok || sid != "s1" {
		t.Fatalf("sid = %q, %v", sid, ok)
	}
	if _, ok := jwtkit.String(tok, "uid"); ok {
		t.Fatal("a number read as a string")
	}
	if _, ok := jwtkit.Int(tok, "sid"); ok {
		t.Fatal("a string read as a number")
	}

	otherKey := jwtkit.New([]byte("another-key-another-key-another-key!"), "iss-a", clock, 0)
	otherIssuer := jwtkit.New(key, "iss-b", clock, 0)
	for name, c := range map[string]struct {
		k    *jwtkit.HS256
		tok  string
		want error
	}{
		"garbage":            {k, "garbage", jwtkit.ErrMalformed},
		"three bad segments": {k, "a.b.c", jwtkit.ErrMalformed},
		"another key":        {otherKey, token, jwtkit.ErrSignature},
		"another issuer":     {otherIssuer, token, jwtkit.ErrMalformed},
	} {
		if _, err := c.k.Verify(c.tok); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}

	// A cached token still expires by the clock, and comes back with its
	// claims so refresh protocols know whose it was.
	now = now.Add(time.Minute)
	tok, err = k.Verify(token)
	if !errors.Is(err, jwtkit.ErrExpired) || tok == nil {
		t.Fatalf("expired: %v, %v", tok, err)
	}
}
