// Package security_test replays, over real HTTP, the published
// vulnerabilities of gateways of authgate's kind (oauth2-proxy, Traefik,
// Apache APISIX, Ory Oathkeeper, Pomerium, Envoy) that apply to an auth
// gateway, one test per advisory, named by it. SECURITY.md lists them
// with their class and result.
package security_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/config"

	"github.com/authgate/authgate/backend"
	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/gateway"
)

// upstream answers 200 and records what reached it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(context.Background()))
		u.mu.Unlock()
		_, _ = io.WriteString(w, "upstream "+r.URL.Path)
	}))
	t.Cleanup(u.Close)
	return u
}

// reached reports whether a request with path reached the upstream, and
// the last such request.
func (u *upstream) reached(path string) (*http.Request, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := len(u.seen) - 1; i >= 0; i-- {
		if u.seen[i].URL.Path == path {
			return u.seen[i], true
		}
	}
	return nil, false
}

// target is a gateway served on listeners of its own: an mmm route on
// /v1/ and a public route on /pub/, both to up.
type target struct {
	addr, admin string
	up          *upstream
}

// start serves a gateway with the demo users, on the memory store, with
// dialect blocks in more and further routes in extra (UPSTREAM in it is
// the recording upstream's URL).
func start(t *testing.T, more, extra string) *target {
	t.Helper()
	users, err := filepath.Abs("../deploy/demo/users.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return startWith(t, users, more, extra)
}

// startWith is start with a users file of the test's own.
func startWith(t *testing.T, users, more, extra string) *target {
	t.Helper()
	return startServer(t, "", users, more, extra)
}

// startServer is startWith with lines of the test's own under server.
func startServer(t *testing.T, server, users, more, extra string) *target {
	t.Helper()
	up := newUpstream(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	yaml := "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n  drain_delay: 0s\n" + server +
		"identity:\n  users_file: " + users + "\n" +
		"dialects:\n  mmm:\n    type: mmm\n    secret: security-suite-signing-key-0123456789\n" + more +
		"routes:\n  - name: api\n    path_prefix: /v1/\n    dialects: [mmm]\n    upstream: " + up.URL + "\n" +
		"  - name: pub\n    path_prefix: /pub/\n    public: true\n    upstream: " + up.URL + "\n" + strings.ReplaceAll(extra, "UPSTREAM", up.URL)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := backend.OpenStore(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, gateway.Options{Registry: builtin.Registry(), Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = g.Serve(ctx, ln, adminLn); close(done) }()
	t.Cleanup(func() { cancel(); <-done; _ = g.Close() })
	return &target{addr: ln.Addr().String(), admin: adminLn.Addr().String(), up: up}
}

// login logs the demo user in and returns its mmm pair.
func (tg *target) login(t *testing.T) (access, refresh string) {
	t.Helper()
	resp, err := http.Post("http://"+tg.addr+"/auth/login", "application/json", strings.NewReader(`{"account":"demo","password":"demo123"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Code string `json:"code"`
		Data struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Code != "00000" {
		t.Fatalf("login: %v %+v", err, env)
	}
	return env.Data.AccessToken, env.Data.RefreshToken
}

// raw sends req as written on a new connection and returns the first
// answer's status and body (0 when none came).
func (tg *target) raw(t *testing.T, req string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", tg.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// get sends a GET with headers through the client library.
func (tg *target) get(t *testing.T, path string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+tg.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header[k] = []string{v} // spelled as given, underscores and all
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// refused reports whether an mmm answer refused the request (a code that
// is not 00000, or no answer from the upstream).
func refused(body string) bool {
	return !strings.HasPrefix(body, "upstream ") && !strings.Contains(body, `"code":"00000"`)
}
