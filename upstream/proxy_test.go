package upstream_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/upstream"
)

// backend records what it received.
type backend struct {
	*httptest.Server
	got chan *http.Request
}

func newBackend(t *testing.T, h http.HandlerFunc) *backend {
	b := &backend{got: make(chan *http.Request, 1)}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case b.got <- r.Clone(r.Context()):
		default:
		}
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "secret-hop")
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(b.Close)
	return b
}

func serve(t *testing.T, p http.Handler, method, target string, h http.Header) *http.Response {
	t.Helper()
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	req, _ := http.NewRequest(method, front.URL+target, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestProxyForwardsToBackend(t *testing.T) {
	b := newBackend(t, nil)
	p, err := upstream.New(b.URL+"/base", upstream.Options{
		StripPrefix: "/api",
		Rewrite:     func(pr *httputil.ProxyRequest) { pr.Out.Header.Set("X-Set-By-Hook", "1") },
	})
	if err != nil {
		t.Fatal(err)
	}
	resp := serve(t, p, "GET", "/api/orders?id=7", http.Header{
		"Connection":      {"X-Drop-Me"},
		"X-Drop-Me":       {"1"},
		"Keep-Alive":      {"timeout=5"},
		"X-Forwarded-For": {"6.6.6.6"},
	})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp.Header.Get("X-Hop") != "" {
		t.Fatal("hop-by-hop response header passed back")
	}
	r := <-b.got
	if r.URL.Path != "/base/orders" || r.URL.RawQuery != "id=7" {
		t.Fatalf("backend got %s?%s, want /base/orders?id=7", r.URL.Path, r.URL.RawQuery)
	}
	if r.Header.Get("X-Drop-Me") != "" || r.Header.Get("Keep-Alive") != "" {
		t.Fatal("hop-by-hop request headers forwarded")
	}
	if xff := r.Header.Get("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Fatalf("X-Forwarded-For = %q: an untrusted client's value must not be kept", xff)
	}
	if r.Header.Get("X-Forwarded-Proto") != "http" || r.Header.Get("X-Forwarded-Host") == "" {
		t.Fatalf("X-Forwarded-Proto/Host not set: %v", r.Header)
	}
	if r.Header.Get("X-Set-By-Hook") != "1" {
		t.Fatal("Rewrite hook not run")
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var got error
	p, _ := upstream.New("http://"+addr, upstream.Options{ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
		got = err
		w.WriteHeader(599)
	}})
	resp := serve(t, p, "GET", "/x", nil)
	if resp.StatusCode != 599 || !errors.Is(got, upstream.ErrUnavailable) {
		t.Fatalf("down upstream: %d %v, want ErrUnavailable", resp.StatusCode, got)
	}
}

func TestProxyUpstreamTimeout(t *testing.T) {
	release := make(chan struct{})
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	p, _ := upstream.New(b.URL, upstream.Options{Timeout: 50 * time.Millisecond})
	resp := serve(t, p, "GET", "/slow", nil)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("slow upstream: %d, want 504", resp.StatusCode)
	}
}

func TestEchoTarget(t *testing.T) {
	p, err := upstream.New("echo", upstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	resp := serve(t, p, "GET", "/v1/a%20b?q=1", http.Header{"X-Custom": {"v"}})
	var e upstream.EchoReply
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if e.Method != "GET" || e.Path != "/v1/a b" || e.Query != "q=1" || e.Headers["X-Custom"][0] != "v" {
		t.Fatalf("echo = %+v", e)
	}
}

func TestNewRefusesBadTargets(t *testing.T) {
	for _, target := range []string{"", "ftp://x", "http://", "localhost:80", "http://h/?q=1"} {
		if _, err := upstream.New(target, upstream.Options{}); err == nil || !strings.Contains(err.Error(), "upstream") {
			t.Errorf("New(%q) accepted", target)
		}
	}
}
