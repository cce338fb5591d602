package idtoken_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/idtoken"
)

// keyFile writes key as PKCS#8 PEM into dir.
func keyFile(t testing.TB, dir, name string, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func keys(t testing.TB) (ec, rs, ed, smallRSA, ec384 string) {
	dir := t.TempDir()
	e, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	r, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, d, _ := ed25519.GenerateKey(rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	return keyFile(t, dir, "ec.pem", e), keyFile(t, dir, "rsa.pem", r), keyFile(t, dir, "ed.pem", d), keyFile(t, dir, "small.pem", small), keyFile(t, dir, "p384.pem", p384)
}

// TestEveryAlgorithmVerifiesFromItsJWKS: a token of each algorithm
// verifies with golang-jwt against the signer's JWKS (read by keyfunc),
// carries the identity, and is the same token until a quarter of its
// life is left.
func TestEveryAlgorithmVerifiesFromItsJWKS(t *testing.T) {
	ec, rs, ed, _, _ := keys(t)
	for alg, file := range map[string]string{"ES256": ec, "RS256": rs, "EdDSA": ed} {
		t.Run(alg, func(t *testing.T) {
			now := time.Now().Truncate(time.Second)
			s, err := idtoken.Open(idtoken.Config{Issuer: "iss", JWKSMaxAge: time.Minute,
				Keys: []idtoken.KeyConfig{{KID: "k", Algorithm: alg, PrivateKeyFile: file, Signs: true}}}, "", nil, func() time.Time { return now })
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			s.JWKS().ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
			if strings.Contains(rec.Body.String(), `"d":`) {
				t.Fatalf("a private part in the JWKS: %s", rec.Body)
			}
			kf, err := keyfunc.NewJWKSetJSON(rec.Body.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			id := idtoken.Identity{Subject: "10", Dialect: "mmm", SessionID: "s1", Company: "1", Attrs: map[string]string{"device": "d1"}}
			tok, err := s.Token(id, "api", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			claims := jwt.MapClaims{}
			if _, err := jwt.ParseWithClaims(tok, claims, kf.Keyfunc, jwt.WithAudience("api"), jwt.WithIssuer("iss"), jwt.WithValidMethods([]string{alg})); err != nil {
				t.Fatalf("%s token: %v", alg, err)
			}
			if claims["sub"] != "10" || claims["sid"] != "s1" || claims["company"] != "1" || claims["dialect"] != "mmm" || claims["attrs"].(map[string]any)["device"] != "d1" {
				t.Fatalf("claims %v", claims)
			}
			if again, _ := s.Token(id, "api", time.Minute); again != tok {
				t.Fatal("the same identity got another token at once")
			}
			now = now.Add(46 * time.Second)
			if later, _ := s.Token(id, "api", time.Minute); later == tok {
				t.Fatal("a token with less than a quarter of its life was reused")
			}
			other := id
			other.Company = "2"
			if o, _ := s.Token(other, "api", time.Minute); o == tok {
				t.Fatal("another company got the same token")
			}
		})
	}
}

// TestKeyProblemsNameTheirKey: every mistake in the keys block is a
// problem naming its key.
func TestKeyProblemsNameTheirKey(t *testing.T) {
	ec, rs, _, small, p384 := keys(t)
	_, err := idtoken.Open(idtoken.Config{Issuer: "", JWKSMaxAge: -1, Keys: []idtoken.KeyConfig{
		{KID: "a", PrivateKeyFile: rs, Signs: true},                      // ES256 by default, an RSA key
		{KID: "a", Algorithm: "RS256", PrivateKeyFile: small},            // duplicate kid, a small key
		{KID: "", Algorithm: "ES256", PrivateKeyFile: p384, Signs: true}, // no kid, P-384, a second signer
		{KID: "c", Algorithm: "HS256", PrivateKeyFile: ec},               // a symmetric algorithm
		{KID: "d", PrivateKeyEnv: "NOT_SET"},
	}}, "", func(string) (string, bool) { return "", false }, time.Now)
	if err == nil {
		t.Fatal("a broken keys block opened")
	}
	for _, want := range []string{
		"issuer: required", "jwks_max_age: must not be negative",
		"keys[0].private_key: ES256 needs a P-256 EC private key",
		`keys[1].kid: "a" is also another key's`, "keys[1].private_key: RS256 needs an RSA private key of 2048 bits or more",
		"keys[2].kid: required", "keys[2].private_key: ES256 needs a P-256",
		`keys[3].algorithm: "HS256" is not one of ES256, RS256, EdDSA`,
		"keys[4].private_key", "keys: exactly one key signs (signs: true), 2 do",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in\n%v", want, err)
		}
	}
	if s, err := idtoken.Open(idtoken.Defaults(), "", nil, time.Now); err != nil || s.Enabled() {
		t.Fatalf("no keys: %v, enabled %v", err, s.Enabled())
	}
}

// BenchmarkSign is the cost of one signature (a token not yet cached).
func BenchmarkSign(b *testing.B) {
	ec, _, _, _, _ := keys(b)
	s, err := idtoken.Open(idtoken.Config{Issuer: "iss", Keys: []idtoken.KeyConfig{{KID: "k", PrivateKeyFile: ec, Signs: true}}}, "", nil, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Token(idtoken.Identity{Subject: "10", SessionID: string(rune(i))}, "api", time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
