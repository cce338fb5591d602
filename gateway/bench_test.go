package gateway_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/gateway/gatewaytest"

	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/gateway"
)

// BenchmarkAuthenticatedProxy measures the hot path: an mmm request to a
// protected route, token verified, session checked in the store, identity
// headers set, forwarded to the in-process echo upstream.
//
//	go test -run '^$' -bench AuthenticatedProxy -benchmem ./gateway
func BenchmarkAuthenticatedProxy(b *testing.B) {
	for _, store := range []string{"memory", "redis"} {
		b.Run(store, func(b *testing.B) {
			g, access := benchGateway(b, gatewaytest.Options{Store: store})
			h := g.Handler()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest("GET", "/v1/orders/7?page=2", nil)
				req.Header.Set("X-Mmm-Accesstoken", access)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"X-Auth-User-Id":["10"]`) {
					b.Fatalf("%d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// benchGateway builds a gateway of o (closed with b) and logs demo in
// through it: the gateway and an mmm access token.
func benchGateway(b *testing.B, o gatewaytest.Options) (*gateway.Gateway, string) {
	b.Helper()
	return benchGatewayLogging(b, o, slog.LevelInfo)
}

// benchGatewayLogging is benchGateway with its log at level (JSON, to
// io.Discard): at info every request writes its access-log line.
func benchGatewayLogging(b *testing.B, o gatewaytest.Options, level slog.Level) (*gateway.Gateway, string) {
	b.Helper()
	if o.Store == "redis" {
		o.Prefix = gatewaytest.NewPrefix(b)
	}
	cfg, err := config.Load(gatewaytest.WriteConfig(b, o), nil)
	if err != nil {
		b.Fatal(err)
	}
	g, err := gatewaytest.Open(cfg, gateway.Options{Registry: builtin.Registry(), Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = g.Close() })
	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/auth/login", strings.NewReader(`{"account":"demo","password":"demo123"}`)))
	access := gatewaytest.Between(rec.Body.String(), `"access_token":"`, `"`)
	if access == "" {
		b.Fatalf("login: %s", rec.Body)
	}
	return g, access
}

// BenchmarkShadowProxy measures what shadow mode adds to a forwarded
// request: the same mmm request on an enforce route, on a shadow route
// (the check runs in a goroutine beside the forward) and on a public
// route (a forward with no check at all), on memory and on Redis.
// skipped/op is the share of shadow requests forwarded without a check
// because shadowMaxChecks were already running.
//
//	go test -run '^$' -bench ShadowProxy -benchmem ./gateway
func BenchmarkShadowProxy(b *testing.B) {
	for _, store := range []string{"memory", "redis"} {
		o := gatewaytest.Options{Store: store, More: "  old:\n    type: mmm\n    secret: " + gatewaytest.TestSecret + "\n", Routes: `routes:
  - path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
  - path_prefix: /old/
    dialects: [old]
    mode: shadow
    upstream: echo
  - path_prefix: /pub/
    public: true
    upstream: echo
`}
		g, access := benchGateway(b, o)
		h := g.Handler()
		for _, path := range []string{"/v1/orders", "/old/orders", "/pub/orders"} {
			skipped := func() float64 {
				m := httptest.NewRecorder()
				g.AdminHandler().ServeHTTP(m, httptest.NewRequest("GET", "/metrics", nil))
				n, _ := strconv.ParseFloat(gatewaytest.Between(m.Body.String(), `authgate_shadow_checks_skipped_total{route="/old/"} `, "\n"), 64)
				return n
			}
			b.Run(store+path, func(b *testing.B) {
				before := skipped()
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest("GET", path, nil)
					req.Header.Set("X-Mmm-Accesstoken", access)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
				if path == "/old/orders" {
					b.ReportMetric((skipped()-before)/float64(b.N), "skipped/op")
				}
			})
		}
	}
}

// BenchmarkIdentityToken measures what each of issue 24's route features
// adds to a forwarded request, beside the same mmm request on a plain
// route (/v1/): a signed identity token (/tok/: signed once per session
// and route, reused until a quarter of its life is left, the steady
// state measured here; idtoken's BenchmarkSign is a signature itself),
// three authorization rules (/rules/), a rate limit (/limited/: one
// memory-store counter per request).
//
//	go test -run '^$' -bench IdentityToken -benchmem ./gateway
func BenchmarkIdentityToken(b *testing.B) {
	dir := b.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(dir, "k.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	g, access := benchGateway(b, gatewaytest.Options{Store: "memory", Routes: `routes:
  - path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
  - path_prefix: /tok/
    dialects: [mmm]
    upstream: echo
    identity_token: {header: X-Auth-Token}
  - path_prefix: /rules/
    dialects: [mmm]
    upstream: echo
    authorize:
      - {name: member, allow: 'company in ["1", "2"]'}
      - {name: reads, allow: 'method == "GET" && path.startsWith("/rules/")'}
      - {name: dialect, allow: 'dialect == "mmm"'}
  - path_prefix: /limited/
    dialects: [mmm]
    upstream: echo
    rate_limit: {rate: 1000000000, burst: 1000000000}
`, Extra: "identity_token:\n  keys:\n    - {kid: k, private_key_file: " + keyFile + ", signs: true}\n"})
	h := g.Handler()
	for _, path := range []string{"/v1/orders", "/tok/orders", "/rules/orders", "/limited/orders"} {
		b.Run(path, func(b *testing.B) { proxyLoop(b, h, path, func(int) string { return access }) })
	}
}

// BenchmarkManyTokens is BenchmarkAuthenticatedProxy with 20,000 sessions
// presented round-robin, twice what the verified-token cache holds: every
// request reads a token the gateway has not kept (the first-seen path), as
// the traffic of many users does. "one" is the same gateway with one token,
// for the difference.
//
//	go test -run '^$' -bench ManyTokens -benchmem ./gateway
func BenchmarkManyTokens(b *testing.B) {
	g, one := benchGateway(b, gatewaytest.Options{Store: "memory", MMM: "    login_limit: 1000000000\n"})
	h := g.Handler()
	tokens := make([]string, 20_000)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("POST", "/auth/login", strings.NewReader(`{"account":"demo","password":"demo123"}`)))
				tokens[i] = gatewaytest.Between(rec.Body.String(), `"access_token":"`, `"`)
			}
		})
	}
	for i := range tokens {
		next <- i
	}
	close(next)
	wg.Wait()
	for name, pick := range map[string]func(i int) string{
		"one":   func(int) string { return one },
		"20000": func(i int) string { return tokens[i%len(tokens)] },
	} {
		b.Run(name, func(b *testing.B) { proxyLoop(b, h, "/v1/orders/7?page=2", pick) })
	}
}

// BenchmarkTracing measures what tracing adds to BenchmarkAuthenticatedProxy's
// request: off (the no-op tracer), on at the default 1 % (an unsampled
// request: a non-recording span and the traceparent it sends upstream) and
// on at 100 % (every request's spans recorded and exported to an OTLP/HTTP
// sink in the test).
//
//	go test -run '^$' -bench Tracing -benchmem ./gateway
func BenchmarkTracing(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(sink.Close)
	for _, c := range []struct{ name, block string }{
		{"off", ""},
		{"1%", "tracing: {endpoint: " + sink.URL + ", sampling_ratio: 0.01}\n"},
		{"100%", "tracing: {endpoint: " + sink.URL + ", sampling_ratio: 1}\n"},
	} {
		b.Run(c.name, func(b *testing.B) {
			g, access := benchGateway(b, gatewaytest.Options{Store: "memory", Extra: c.block})
			proxyLoop(b, g.Handler(), "/v1/orders/7?page=2", func(int) string { return access })
		})
	}
}

// BenchmarkAccessLog measures the access-log line of
// BenchmarkAuthenticatedProxy's request: the log at info (a JSON line a
// request) beside the log at warn (none).
//
//	go test -run '^$' -bench AccessLog -benchmem ./gateway
func BenchmarkAccessLog(b *testing.B) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		b.Run(level.String(), func(b *testing.B) {
			g, access := benchGatewayLogging(b, gatewaytest.Options{Store: "memory"}, level)
			proxyLoop(b, g.Handler(), "/v1/orders/7?page=2", func(int) string { return access })
		})
	}
}

// proxyLoop sends GET path through h for the benchmark's iterations, the
// i-th with token(i) as its mmm access token, and fails on anything but
// 200.
func proxyLoop(b *testing.B, h http.Handler, path string, token func(i int) string) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("X-Mmm-Accesstoken", token(i))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
		i++
	}
}
