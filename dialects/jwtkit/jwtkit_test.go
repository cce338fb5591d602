package jwtkit_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
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

// TestOneSpellingPerToken: a token spelt another way than strict unpadded
// base64url, or with a registered claim of the wrong JSON type, is
// malformed even though its signature verifies.
func TestOneSpellingPerToken(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	k := jwtkit.New(key, "iss-a", func() time.Time { return now }, 10)
	sign := func(header, payload string) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(header))
		p := base64.RawURLEncoding.EncodeToString([]byte(payload))
		m := hmac.New(sha256.New, key)
		m.Write([]byte(h + "." + p))
		return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	exp := fmt.Sprint(now.Add(time.Minute).Unix())
	// A sid whose encoding has "-" or "_", so the standard alphabet spells
	// the same bytes differently.
	var good string
	for sid := ">"; ; sid += "?" {
		good = sign(`{"alg":"HS256","typ":"JWT"}`, `{"exp":`+exp+`,"iss":"iss-a","sid":"`+sid+`"}`)
		if p := strings.Split(good, ".")[1]; strings.ContainsAny(p, "-_") {
			break
		}
	}
	if _, err := k.Verify(good); err != nil {
		t.Fatalf("a canonical token: %v", err)
	}
	for name, tok := range map[string]string{
		"spaces between members": sign(`{"alg" : "HS256"}`, `{"exp" : `+exp+` , "iss" :"iss-a",  "sid":"s" }`),
		"nested values":          sign(`{"alg":"HS256"}`, `{"x":{"a":"}\"]","b":[1,{"c":"d"}]},"exp":`+exp+`,"iss":"iss-a","sid":"s","y":[]}`),
		"escaped other names":    sign(`{"alg":"HS256"}`, `{"exp":`+exp+`,"iss":"iss-a","sid":"s","\u00e9":1,"é2":2}`),
	} {
		if _, err := k.Verify(tok); err != nil {
			t.Errorf("%s: %v, want it accepted", name, err)
		}
	}
	unsigned := strings.Join(strings.Split(sign(`{"alg":"none"}`, `{"exp":`+exp+`,"iss":"iss-a","sid":"s"}`), ".")[:2], ".") + ".AAAA"
	if _, err := k.Verify(unsigned); !errors.Is(err, jwtkit.ErrSignature) {
		t.Errorf("alg none: %v, want ErrSignature", err)
	}
	parts := strings.Split(good, ".")
	std := func(s string) string {
		raw, _ := base64.RawURLEncoding.DecodeString(s)
		return base64.RawStdEncoding.EncodeToString(raw)
	}
	// The last character of a segment whose length leaves stray bits: flip
	// one of those bits and the decoded bytes stay the same.
	stray := func(s string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		last := strings.IndexByte(alphabet, s[len(s)-1])
		return s[:len(s)-1] + string(alphabet[last^1])
	}
	for name, tok := range map[string]string{
		"padded payload":         parts[0] + "." + parts[1] + "==." + parts[2],
		"standard alphabet":      parts[0] + "." + std(parts[1]) + "." + parts[2],
		"stray bits in the sig":  parts[0] + "." + parts[1] + "." + stray(parts[2]),
		"exp as a string":        sign(`{"alg":"HS256"}`, `{"exp":"`+exp+`","iss":"iss-a","sid":"s"}`),
		"nbf as a string":        sign(`{"alg":"HS256"}`, `{"exp":`+exp+`,"nbf":"0","iss":"iss-a","sid":"s"}`),
		"iat as a bool":          sign(`{"alg":"HS256"}`, `{"exp":`+exp+`,"iat":true,"iss":"iss-a","sid":"s"}`),
		"iss as an array":        sign(`{"alg":"HS256"}`, `{"exp":`+exp+`,"iss":["iss-a"],"sid":"s"}`),
		"exp twice":              sign(`{"alg":"HS256"}`, `{"exp":1,"exp":`+exp+`,"iss":"iss-a","sid":"s"}`),
		"exp twice, escaped":     sign(`{"alg":"HS256"}`, `{"exp":1,"\u0065xp":`+exp+`,"iss":"iss-a","sid":"s"}`),
		"exp escaped as string":  sign(`{"alg":"HS256"}`, `{"\u0065xp":"`+exp+`","iss":"iss-a","sid":"s"}`),
		"alg twice":              sign(`{"alg":"none","alg":"HS256"}`, `{"exp":`+exp+`,"iss":"iss-a","sid":"s"}`),
		"claims not an object":   sign(`{"alg":"HS256"}`, `[1]`),
		"trailing data":          sign(`{"alg":"HS256"}`, `{"exp":`+exp+`,"iss":"iss-a"} {}`),
		"four segments":          good + ".x",
		"empty signature":        parts[0] + "." + parts[1] + ".",
		"space inside a segment": parts[0] + "." + parts[1][:4] + " " + parts[1][4:] + "." + parts[2],
	} {
		if _, err := k.Verify(tok); !errors.Is(err, jwtkit.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// BenchmarkVerify measures the verified-token cache's hit and what a miss
// costs: a token seen for the first time (canonical-spelling check, parse,
// signature, claims), and the refusal of a token signed with another key.
//
//	go test -run '^$' -bench Verify -benchmem ./dialects/jwtkit
func BenchmarkVerify(b *testing.B) {
	now := time.Now()
	clock := func() time.Time { return now }
	sign := func(h *jwtkit.HS256, i int) string {
		tok, err := h.Sign(jwt.NewBuilder().Expiration(now.Add(time.Hour)).IssuedAt(now).NotBefore(now).
			Claim("uid", 10).Claim("company_id", 1).Claim("sid", fmt.Sprintf("session-%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		return tok
	}
	b.Run("hit", func(b *testing.B) {
		h := jwtkit.New([]byte("0123456789abcdef0123456789abcdef"), "iss", clock, jwtkit.DefaultCacheSize)
		tok := sign(h, 0)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first-seen", func(b *testing.B) {
		h := jwtkit.New([]byte("0123456789abcdef0123456789abcdef"), "iss", clock, 0)
		tokens := make([]string, 1024)
		for i := range tokens {
			tokens[i] = sign(h, i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := h.Verify(tokens[i%len(tokens)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("other-key", func(b *testing.B) {
		h := jwtkit.New([]byte("0123456789abcdef0123456789abcdef"), "iss", clock, 0)
		other := jwtkit.New([]byte("another-key-0123456789abcdef-0123"), "iss", clock, 0)
		tok := sign(other, 0)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.Verify(tok); err != jwtkit.ErrSignature {
				b.Fatal(err)
			}
		}
	})
}

// FuzzCanonical checks the hand-written member walk of Canonical against
// encoding/json's token decoder: whatever the input, no panic, and a
// claims set Canonical accepts is one JSON object whose member names,
// unescaped, are all different.
//
//	go test -fuzz FuzzCanonical ./dialects/jwtkit
func FuzzCanonical(f *testing.F) {
	f.Add([]byte(`{"alg":"HS256"}`), []byte(`{"exp":1,"iss":"a","x":{"y":["}",1]}}`))
	f.Add([]byte(`{"alg":"HS256"}`), []byte(`{"exp":1,"\u0065xp":2}`))
	f.Add([]byte(` {}`), []byte(`{"a" : "\"" , "b":[ ]}`))
	f.Fuzz(func(t *testing.T, header, claims []byte) {
		enc := base64.RawURLEncoding.EncodeToString
		if !jwtkit.Canonical(enc(header) + "." + enc(claims) + ".c2ln") {
			return
		}
		for _, raw := range [][]byte{header, claims} {
			dec := json.NewDecoder(bytes.NewReader(raw))
			if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
				t.Fatalf("accepted %q: not an object", raw)
			}
			seen := map[string]bool{}
			for dec.More() {
				name, err := dec.Token()
				if err != nil {
					t.Fatalf("accepted %q: %v", raw, err)
				}
				if seen[name.(string)] {
					t.Fatalf("accepted %q: %q twice", raw, name)
				}
				seen[name.(string)] = true
				var v json.RawMessage
				if err := dec.Decode(&v); err != nil {
					t.Fatalf("accepted %q: %v", raw, err)
				}
			}
			if _, err := dec.Token(); err != nil {
				t.Fatalf("accepted %q: %v", raw, err)
			}
			if _, err := dec.Token(); err != io.EOF {
				t.Fatalf("accepted %q: trailing data", raw)
			}
		}
	})
}

// TestReadsAsJWXDoes: a token of the plain HS256 header is read without
// jwx's parse; its verdict and claims must be what jwx's parse, issuer
// check and validation give, for every JSON shape a claim can take, and
// for the headers that still go through jwx.
func TestReadsAsJWXDoes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	previous := []byte("the-previous-key-0123456789abcdef-01")
	k := jwtkit.New(key, "iss-a", clock, 0).AcceptAlso(previous)
	sign := func(with []byte, header, payload string) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(header))
		p := base64.RawURLEncoding.EncodeToString([]byte(payload))
		m := hmac.New(sha256.New, with)
		m.Write([]byte(h + "." + p))
		return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	// signedBy is the key whose HMAC the token carries.
	signedBy := func(token string) []byte {
		dot := strings.LastIndexByte(token, '.')
		for _, with := range [][]byte{key, previous} {
			m := hmac.New(sha256.New, with)
			m.Write([]byte(token[:dot]))
			if base64.RawURLEncoding.EncodeToString(m.Sum(nil)) == token[dot+1:] {
				return with
			}
		}
		return nil
	}
	// reference is the verdict of jwx's parse (this package before it
	// read plain tokens itself).
	reference := func(token string) (map[string]any, string) {
		if !jwtkit.Canonical(token) {
			return nil, "malformed"
		}
		tok, err := jwt.ParseString(token, jwt.WithKey(jwa.HS256, key), jwt.WithValidate(false))
		if err != nil {
			switch with := signedBy(token); {
			case with == nil:
				return nil, "signature"
			case bytes.Equal(with, key):
				return nil, "malformed"
			}
			if tok, err = jwt.ParseString(token, jwt.WithKey(jwa.HS256, previous), jwt.WithValidate(false)); err != nil {
				return nil, "malformed"
			}
		}
		if tok.Issuer() != "iss-a" {
			return nil, "malformed"
		}
		m, _ := tok.AsMap(context.Background())
		switch err := jwt.Validate(tok, jwt.WithClock(jwt.ClockFunc(clock)), jwt.WithRequiredClaim("exp")); {
		case err == nil:
			return m, "ok"
		case errors.Is(err, jwt.ErrTokenExpired()):
			return m, "expired"
		}
		return nil, "malformed"
	}
	verdict := func(err error) string {
		switch {
		case err == nil:
			return "ok"
		case errors.Is(err, jwtkit.ErrExpired):
			return "expired"
		case errors.Is(err, jwtkit.ErrSignature):
			return "signature"
		case errors.Is(err, jwtkit.ErrMalformed):
			return "malformed"
		}
		return err.Error()
	}
	plain := `{"alg":"HS256","typ":"JWT"}`
	exp := `"exp":1800000060`
	payloads := []string{
		`{` + exp + `,"iss":"iss-a","uid":10,"company_id":1,"sid":"s-1"}`,
		`{` + exp + `,"iss":"iss-a","iat":1799999990,"nbf":1799999990,"sub":"7","jti":"j"}`,
		`{"exp":1800000060.75,"iss":"iss-a","iat":1.79999999e9}`,
		`{"exp":-5,"iss":"iss-a"}`,
		`{"exp":1800000000,"iss":"iss-a"}`,
		`{"exp":1799999999,"iss":"iss-a"}`,
		`{"exp":1800000001,"iss":"iss-a","nbf":1800000030}`,
		`{"exp":1800000001,"iss":"iss-a","iat":1800000030}`,
		`{"iss":"iss-a","uid":10}`,
		`{` + exp + `,"iss":"iss-b"}`,
		`{` + exp + `}`,
		`{` + exp + `,"iss":"iss-a","aud":"api"}`,
		`{` + exp + `,"iss":"iss-a","aud":["api","web"]}`,
		`{` + exp + `,"iss":"iss-a","aud":[1]}`,
		`{` + exp + `,"iss":"iss-a","aud":[]}`,
		`{` + exp + `,"iss":"iss-a","name":"a\"b\\c\u00e9\n","emoji":"\ud83d\ude00"}`,
		`{` + exp + `,"iss":"iss-a","role_id":[1,2.5,"x",null,true],"dev":{"id":"d","n":[{}]}}`,
		`{` + exp + `,"iss":"iss-a","big":12345678901234567890,"neg":-0.0,"e":1e-7,"t":true,"f":false,"z":null}`,
		`{` + exp + `,"\u0069ss":"iss-a"}`,
		` { ` + exp + ` , "iss" : "iss-a" } `,
		`{` + exp + `,"iss":"iss-a","":"empty name"}`,
	}
	headers := []string{plain, `{"alg":"HS256"}`, `{"typ":"JWT","alg":"HS256","kid":"k1"}`,
		`{"alg":"HS256","kid":7}`, `{"alg":"HS384"}`, `{"alg":"none"}`, `{"alg":"HS256","crit":["exp"],"exp":1}`,
		`{"alg":"HS256","b64":false,"crit":["b64"]}`, `{"alg":"HS256","jku":"https://evil.example/jwks"}`}
	for _, with := range [][]byte{key, previous, []byte("a-third-key-nobody-accepts-0123456789")} {
		for _, header := range headers {
			for _, payload := range payloads {
				token := sign(with, header, payload)
				wantClaims, want := reference(token)
				tok, err := k.Verify(token)
				if got := verdict(err); got != want {
					t.Errorf("%s %s (key %.8s): verdict %q, jwx says %q", header, payload, with, got, want)
					continue
				}
				if want != "ok" && want != "expired" {
					continue
				}
				got, _ := tok.AsMap(context.Background())
				if !reflect.DeepEqual(got, wantClaims) {
					t.Errorf("%s %s: claims\n%#v\njwx reads\n%#v", header, payload, got, wantClaims)
				}
			}
		}
	}
}

// TestSignsAsJWXDoes: Sign writes, byte for byte, the token jwx's
// jwt.Sign writes for the same claims (legacy clients and the tokens'
// own signatures depend on the exact bytes), for every claim shape the
// dialects use and the ones they might.
func TestSignsAsJWXDoes(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	k := jwtkit.New(key, "iss-a", func() time.Time { return now }, 0)
	builders := map[string]func() *jwt.Builder{
		"mmm": func() *jwt.Builder {
			return jwt.NewBuilder().Expiration(now.Add(time.Hour)).IssuedAt(now).NotBefore(now).
				Claim("uid", 10).Claim("company_id", int64(1)).Claim("sid", "aR_2F9S-YO9E3ilW3uGexA")
		},
		"bov3": func() *jwt.Builder {
			return jwt.NewBuilder().Expiration(now.Add(time.Hour)).Audience([]string{"bo-web"}).Subject("u-1").
				Claim("owner", "o").Claim("role_id", []string{"1", "2"}).Claim("id", "7")
		},
		"two audiences": func() *jwt.Builder {
			return jwt.NewBuilder().Expiration(now.Add(time.Hour)).Audience([]string{"a", "b"})
		},
		"escapes": func() *jwt.Builder {
			return jwt.NewBuilder().Expiration(now.Add(time.Hour)).Claim("name", "a\"b\\c <x> & é \u2028 \n").
				Claim("mobile", "+86 138-0000-0000").Claim("empty", "").Claim("html", "<b>&</b>").Claim("del", "a\x7f")
		},
		"numbers and more": func() *jwt.Builder {
			return jwt.NewBuilder().Expiration(now.Add(1500*time.Millisecond)).JwtID("j").
				Claim("f", 2.5).Claim("big", 1e21).Claim("neg", -3).Claim("t", true).Claim("z", nil).
				Claim("dev", map[string]any{"id": "d", "n": []any{1, "x"}}).Claim("u8", uint8(7))
		},
		"bytes": func() *jwt.Builder {
			return jwt.NewBuilder().Expiration(now.Add(time.Hour)).Claim("raw", []byte{0, 1, 250})
		},
	}
	for name, b := range builders {
		got, err := k.Sign(b())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		tok, err := b().Issuer("iss-a").Build()
		if err != nil {
			t.Fatal(err)
		}
		tok.Options().Enable(jwt.FlattenAudience)
		want, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, key))
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			p := func(tok string) string {
				raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
				return string(raw)
			}
			t.Errorf("%s:\n%s\njwx writes\n%s", name, p(got), p(string(want)))
		}
	}
}

// BenchmarkSign measures signing an mmm access token's claims, beside
// jwx's own jwt.Sign of the same claims.
//
//	go test -run '^$' -bench Sign -benchmem ./dialects/jwtkit
func BenchmarkSign(b *testing.B) {
	now := time.Now()
	claims := func() *jwt.Builder {
		return jwt.NewBuilder().Expiration(now.Add(time.Hour)).IssuedAt(now).NotBefore(now).
			Claim("uid", 10).Claim("company_id", 1).Claim("sid", "aR_2F9S-YO9E3ilW3uGexA")
	}
	h := jwtkit.New(key, "iss", func() time.Time { return now }, 0)
	b.Run("jwtkit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := h.Sign(claims()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("jwx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			tok, _ := claims().Issuer("iss").Build()
			if _, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, key)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
