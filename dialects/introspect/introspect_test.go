package introspect_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/dialects/introspect"
	"github.com/authgate/authgate/identity"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// legacy answers as a legacy service's introspection endpoint: the token
// it finds (wherever the test's config puts it) decides the answer.
func legacy(t *testing.T, find func(r *http.Request) string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch find(r) {
		case "good":
			_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "sub": "user-7", "exp": 1900000000})
		case "nested":
			_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "data": map[string]any{"valid": "true", "user": map[string]any{"id": 42}}})
		case "inactive":
			_ = json.NewEncoder(w).Encode(map[string]any{"active": false})
		case "no-subject":
			_ = json.NewEncoder(w).Encode(map[string]any{"active": true})
		case "gone":
			w.WriteHeader(http.StatusUnauthorized)
		case "hang":
			time.Sleep(300 * time.Millisecond)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func client(t *testing.T, mutate func(*introspect.Config)) *introspect.Client {
	t.Helper()
	cfg := introspect.Defaults()
	cfg.Timeout = 100 * time.Millisecond
	mutate(&cfg)
	c, err := introspect.Open(cfg, t.TempDir(), func(k string) (string, bool) { return "gateway-credential", k == "LEGACY_TOKEN" })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIntrospectRFC7662(t *testing.T) {
	var auth atomic.Value
	s := legacy(t, func(r *http.Request) string {
		auth.Store(r.Header.Get("Authorization"))
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			return "wrong call"
		}
		return r.PostFormValue("token")
	})
	c := client(t, func(c *introspect.Config) { c.URL = s.URL; c.AuthTokenEnv = "LEGACY_TOKEN" })
	ctx := context.Background()
	a, err := c.Introspect(ctx, "good")
	if err != nil || a.Subject != "user-7" || a.Expires.Unix() != 1900000000 {
		t.Fatalf("good token = %+v, %v", a, err)
	}
	if auth := auth.Load(); auth != "Bearer gateway-credential" {
		t.Errorf("the gateway's credential was sent as %q", auth)
	}
	for _, tok := range []string{"inactive", "gone"} {
		if _, err := c.Introspect(ctx, tok); !errors.Is(err, introspect.ErrNotGenuine) {
			t.Errorf("%s: err = %v, want ErrNotGenuine", tok, err)
		}
	}
	for _, tok := range []string{"no-subject", "hang", "server-error"} {
		if _, err := c.Introspect(ctx, tok); !errors.Is(err, identity.ErrUnavailable) {
			t.Errorf("%s: err = %v, want ErrUnavailable (fail closed)", tok, err)
		}
	}
}

func TestIntrospectWhereTheTokenGoes(t *testing.T) {
	cases := map[string]struct {
		mutate func(*introspect.Config)
		find   func(r *http.Request) string
	}{
		"query": {func(c *introspect.Config) { c.Method, c.TokenIn, c.TokenName = "GET", "query", "refreshToken" },
			func(r *http.Request) string { return r.URL.Query().Get("refreshToken") }},
		"json": {func(c *introspect.Config) { c.TokenIn = "json" },
			func(r *http.Request) string {
				var v map[string]string
				raw, _ := io.ReadAll(r.Body)
				_ = json.Unmarshal(raw, &v)
				return v["token"]
			}},
		"bearer header": {func(c *introspect.Config) { c.Method, c.TokenIn, c.TokenName = "GET", "header", "Authorization" },
			func(r *http.Request) string { return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := legacy(t, tc.find)
			c := client(t, func(c *introspect.Config) { c.URL = s.URL; tc.mutate(c) })
			if a, err := c.Introspect(context.Background(), "good"); err != nil || a.Subject != "user-7" {
				t.Fatalf("= %+v, %v", a, err)
			}
		})
	}
	t.Run("nested fields", func(t *testing.T) {
		s := legacy(t, func(r *http.Request) string { return r.PostFormValue("token") })
		c := client(t, func(c *introspect.Config) {
			c.URL = s.URL
			c.Fields = introspect.Fields{Active: "data.valid", Subject: "data.user.id"}
		})
		a, err := c.Introspect(context.Background(), "nested")
		if err != nil || a.Subject != "42" || !a.Expires.IsZero() {
			t.Fatalf("= %+v, %v", a, err)
		}
	})
}

func TestIntrospectConfigProblems(t *testing.T) {
	cfg := introspect.Defaults()
	cfg.URL, cfg.Method, cfg.TokenIn, cfg.AuthTokenEnv = "ftp://x", "PUT", "cookie", "UNSET"
	cfg.Fields.Subject = ""
	_, err := introspect.Open(cfg, t.TempDir(), func(string) (string, bool) { return "", false })
	if err == nil {
		t.Fatal("a broken block was accepted")
	}
	for _, key := range []string{"url: ", "method: ", "token_in: ", "fields.subject: ", "auth_token_env: "} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no problem names %s in:\n%v", key, err)
		}
	}
}

// TestIntrospectionIsTraced: with a tracer provider set (tracing on), each
// call is a client span of the request's trace, marked an error when the
// token is not exchanged, and carrying no token.
func TestIntrospectionIsTraced(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	s := legacy(t, func(r *http.Request) string { return r.PostFormValue("token") })
	c := client(t, func(cfg *introspect.Config) { cfg.URL = s.URL })
	ctx, parent := otel.Tracer("test").Start(context.Background(), "request")
	if _, err := c.Introspect(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Introspect(ctx, "inactive"); err == nil {
		t.Fatal("an inactive token was exchanged")
	}
	parent.End()
	var calls []sdktrace.ReadOnlySpan
	for _, sp := range rec.Ended() {
		if sp.Name() == "legacy.introspect" {
			calls = append(calls, sp)
		}
	}
	if len(calls) != 2 {
		t.Fatalf("%d introspection spans, want 2", len(calls))
	}
	for i, sp := range calls {
		if sp.Parent().SpanID() != parent.SpanContext().SpanID() || sp.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %d: parent %v kind %v", i, sp.Parent().SpanID(), sp.SpanKind())
		}
	}
	if calls[0].Status().Code == codes.Error || calls[1].Status().Code != codes.Error {
		t.Errorf("statuses %v, %v: want ok, then error", calls[0].Status(), calls[1].Status())
	}
}
