package e2e_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/authgate/authgate/gateway/gatewaytest"
)

// writeKey writes a fresh private key of alg (ES256 or EdDSA) as PKCS#8
// PEM into dir and returns its file name.
func writeKey(t *testing.T, dir, name, alg string) string {
	t.Helper()
	var key any
	var err error
	switch alg {
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// identityClaims are the claims an upstream reads.
type identityClaims struct {
	jwt.RegisteredClaims
	Dialect string            `json:"dialect"`
	SID     string            `json:"sid"`
	Company string            `json:"company"`
	Attrs   map[string]string `json:"attrs"`
}

// TestIdentityTokenVerifiedFromTheJWKS: a route with identity_token sends
// its upstream a signed token beside the X-Auth-* headers, which an
// independent verifier (keyfunc fetching the JWKS over HTTP, golang-jwt
// checking it) accepts with the identity the headers carry; a client's
// own copy of the header never passes; the token is reused until a
// quarter of its life is left; across a key rotation by reloads (the next
// key published first, then signing, the previous one published, then
// dropped) every token verifies; with only, the headers are gone.
func TestIdentityTokenVerifiedFromTheJWKS(t *testing.T) {
	clk := gatewaytest.NewClock()
	keys := t.TempDir()
	writeKey(t, keys, "k1.pem", "ES256")
	writeKey(t, keys, "k2.pem", "EdDSA")
	tg := gatewaytest.Start(t, gatewaytest.Options{Clock: clk, Routes: `routes:
  - path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
    identity_token: {header: X-Auth-Token, audience: orders-api}
  - path_prefix: /v2/
    dialects: [mmm]
    upstream: echo
    identity_token: {header: Authorization-Identity, audience: billing, ttl: 2m, only: true}
`, Extra: "identity_token:\n  issuer: https://authgate.test\n  jwks_max_age: 1m\n  keys:\n    - {kid: k1, private_key_file: " + keys + "/k1.pem, signs: true}\n"})

	resp, err := http.Get(tg.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Fatalf("JWKS: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	verifier, err := keyfunc.NewDefaultCtx(ctx, []string{tg.URL + "/.well-known/jwks.json"})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(tok, aud string) identityClaims {
		t.Helper()
		var c identityClaims
		parsed, err := jwt.ParseWithClaims(tok, &c, verifier.Keyfunc, jwt.WithAudience(aud), jwt.WithIssuer("https://authgate.test"),
			jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(clk.Now), jwt.WithValidMethods([]string{"ES256", "EdDSA"}))
		if err != nil || !parsed.Valid {
			t.Fatalf("the token does not verify from the JWKS: %v", err)
		}
		return c
	}

	p := tg.Login(t)
	call := func(path string) (string, map[string][]string) {
		t.Helper()
		_, seen := tg.Echo(t, path, map[string]string{"x-mmm-accesstoken": p.Access, "X-Auth-Token": "forged", "Authorization-Identity": "forged"})
		if seen == nil {
			t.Fatalf("%s was not forwarded", path)
		}
		name := "X-Auth-Token"
		if strings.HasPrefix(path, "/v2/") {
			name = "Authorization-Identity"
		}
		if len(seen[name]) != 1 || seen[name][0] == "forged" {
			t.Fatalf("%s upstream: %q, want the gateway's token alone", name, seen[name])
		}
		return seen[name][0], seen
	}
	tok, seen := call("/v1/orders")
	c := verify(tok, "orders-api")
	if c.Subject != "10" || c.Dialect != "mmm" || c.Company != "1" || c.SID == "" || c.SID != seen["X-Auth-Session-Id"][0] || c.ID == "" {
		t.Fatalf("claims %+v against headers %v", c, seen)
	}
	if exp := c.ExpiresAt.Sub(c.IssuedAt.Time); exp != time.Minute {
		t.Fatalf("a token of %v, want the default 60s", exp)
	}
	if again, _ := call("/v1/orders"); again != tok {
		t.Fatal("a second request within the token's life got another token")
	}
	clk.Advance(46 * time.Second)
	renewed, _ := call("/v1/orders")
	if renewed == tok {
		t.Fatal("a token with less than a quarter of its life left was sent again")
	}
	verify(renewed, "orders-api")

	only, seen := call("/v2/bills")
	if verify(only, "billing").Subject != "10" || seen["X-Auth-User-Id"] != nil || seen["X-Auth-Session-Id"] != nil {
		t.Fatalf("with only: %v", seen)
	}

	// Rotation: k2 published first, then it signs and k1 is published
	// until its tokens have expired, then k1 is dropped.
	tg.EditConfig(t, "    - {kid: k1, private_key_file: "+keys+"/k1.pem, signs: true}\n",
		"    - {kid: k1, private_key_file: "+keys+"/k1.pem, signs: true}\n    - {kid: k2, algorithm: EdDSA, private_key_file: "+keys+"/k2.pem}\n")
	if err := tg.GW.Reload(tg.Path, nil); err != nil {
		t.Fatal(err)
	}
	old := renewed
	tg.EditConfig(t, "signs: true}\n    - {kid: k2, algorithm: EdDSA, private_key_file: "+keys+"/k2.pem}", "signs: false}\n    - {kid: k2, algorithm: EdDSA, private_key_file: "+keys+"/k2.pem, signs: true}")
	if err := tg.GW.Reload(tg.Path, nil); err != nil {
		t.Fatal(err)
	}
	next, _ := call("/v1/orders")
	if kid := headerKID(t, next); kid != "k2" {
		t.Fatalf("after the rotation the token is signed by %q, want k2", kid)
	}
	verify(next, "orders-api")
	verify(old, "orders-api") // k1 is still published
	tg.EditConfig(t, "    - {kid: k1, private_key_file: "+keys+"/k1.pem, signs: false}\n", "")
	if err := tg.GW.Reload(tg.Path, nil); err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
			Alg string `json:"alg"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	resp, err = http.Get(tg.Admin.URL + "/.well-known/jwks.json") // the admin listener serves it too
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 || set.Keys[0].KID != "k2" || set.Keys[0].Alg != "EdDSA" || set.Keys[0].D != "" {
		t.Fatalf("JWKS after k1 was dropped: %+v %v", set, err)
	}
}

// headerKID reads a JWS's kid without verifying it.
func headerKID(t *testing.T, tok string) string {
	t.Helper()
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := parsed.Header["kid"].(string)
	return kid
}
