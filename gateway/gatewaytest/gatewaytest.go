// Package gatewaytest is the harness of the whole-gateway tests: a
// gateway built from a config of the test's own (memory store or a Redis
// key prefix of its own, an injected clock), served over HTTP with
// httptest, and the clients of each dialect (mmm pairs, mobile SMS
// logins, bov3 XverifyApi headers, appkey apps) and of its metrics.
// Tests of the gateway package and of the end-to-end package (e2e) share
// it.
package gatewaytest

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/authgate/authgate/config"

	"github.com/authgate/authgate/backend"
	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway"
)

// The clock, log buffer, users file (bcrypt at its least cost, so the
// tests spend their time on the gateway, not on hashing) and Redis key
// prefixes of the dialects' own tests.
type (
	Clock      = dialecttest.Clock
	SyncBuffer = dialecttest.SyncBuffer
)

var (
	NewClock  = dialecttest.NewClock
	UsersFile = dialecttest.UsersYAML
	RedisAddr = dialecttest.RedisAddr
	NewPrefix = dialecttest.NewPrefix
)

// TestSecret is the mmm instance's signing key.
const TestSecret = "test-mmm-signing-key-0123456789abcdef0123"

// StoreYAML is the store block for a kind: "memory", or "redis" with a
// key prefix of the test's own.
func StoreYAML(kind, prefix string) string {
	if kind == "memory" {
		return "store:\n  driver: memory\n"
	}
	return "store:\n  driver: redis\n  redis:\n    addrs: [\"" + RedisAddr() + "\"]\n    key_prefix: \"" + prefix + "\"\n"
}

// Gateway is a gateway served over HTTP by httptest.
type Gateway struct {
	*httptest.Server
	GW    *gateway.Gateway
	Clock *Clock
	Logs  *SyncBuffer
	Admin *httptest.Server
	Opts  Options
	// path is the config file it was built from.
	Path string
}

// StartReplica starts a second gateway on the same Redis prefix and clock.
func StartReplica(t testing.TB, of *Gateway) *Gateway {
	return Start(t, of.Opts)
}

// Options shape a test gateway's config; zero values take the defaults
// (memory store, DefaultRoutes, the users file).
type Options struct {
	Store  string // memory | redis
	Prefix string // Redis key prefix; a new one when empty
	Clock  *Clock
	Routes string // replaces the default routes block
	MMM    string // extra lines for the mmm dialect block
	Extra  string // extra top-level YAML
	Server string // extra lines for the server block
	More   string // further dialect instances, under dialects:
	// storeBlock replaces the store block (a Sentinel or Cluster topology).
	StoreBlock string
	// IdentityBlock replaces the identity block (a sql directory).
	IdentityBlock string
}

// DefaultRoutes are the routes of a test gateway unless Options.Routes
// replaces them.
const DefaultRoutes = `routes:
  - name: mmm-api
    path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
`

// WriteConfig writes a test gateway's config (and its users file) to a
// folder of the test's own and returns the config's path.
func WriteConfig(t testing.TB, o Options) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users.yaml"), []byte(UsersFile()), 0o600); err != nil {
		t.Fatal(err)
	}
	if o.Store == "" {
		o.Store = "memory"
	}
	if o.Routes == "" {
		o.Routes = DefaultRoutes
	}
	if !strings.Contains(o.Server, "drain_delay") {
		o.Server += "  drain_delay: 0s\n" // tests that drain say so
	}
	store := StoreYAML(o.Store, o.Prefix)
	if o.StoreBlock != "" {
		store = o.StoreBlock
	}
	cfg := "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n" + o.Server + store +
		IdentityBlock(o) +
		"dialects:\n  mmm:\n    type: mmm\n    secret: " + TestSecret + "\n" + o.MMM + o.More + o.Routes + o.Extra
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// IdentityBlock is o's identity block: its own, or the users file.
func IdentityBlock(o Options) string {
	if o.IdentityBlock != "" {
		return o.IdentityBlock
	}
	return "identity:\n  users_file: users.yaml\n"
}

// Start builds a gateway from o and serves it (public and admin
// listeners) with httptest, closed with the test.
func Start(t testing.TB, o Options) *Gateway {
	t.Helper()
	if o.Clock == nil {
		o.Clock = NewClock()
	}
	if o.Store == "redis" && o.Prefix == "" {
		o.Prefix = NewPrefix(t)
	}
	path := WriteConfig(t, o)
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &SyncBuffer{}
	gw, err := Open(cfg, gateway.Options{
		Registry: builtin.Registry(), Now: o.Clock.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := &Gateway{Server: httptest.NewServer(gw.Handler()), GW: gw, Clock: o.Clock, Logs: logs,
		Admin: httptest.NewServer(gw.AdminHandler()), Opts: o, Path: path}
	t.Cleanup(func() {
		tg.Close()
		tg.Admin.Close()
		_ = gw.Close()
	})
	return tg
}

// Reply is a decoded response.
type Reply struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// Do sends a request to the gateway's public listener.
func (tg *Gateway) Do(t testing.TB, method, path string, headers map[string]string, body string) Reply {
	t.Helper()
	r := dialecttest.Send(t, tg.URL, method, path, headers, body)
	return Reply{Status: r.Status, Header: r.Header, Raw: r.Raw, Body: r.Body}
}

// Code returns the mmm envelope's code, failing unless it is a string.
func (r Reply) Code(t testing.TB) string {
	t.Helper()
	c, ok := r.Body["code"].(string)
	if !ok {
		t.Fatalf("code is %T (%v), want a JSON string; body %s", r.Body["code"], r.Body["code"], r.Raw)
	}
	return c
}

// Data returns the mmm envelope's data object, failing unless it is one.
func (r Reply) Data(t testing.TB) map[string]any {
	t.Helper()
	d, ok := r.Body["data"].(map[string]any)
	if !ok {
		t.Fatalf("data is %T, want an object; body %s", r.Body["data"], r.Raw)
	}
	return d
}

// Pair is an mmm token pair as the seed's login answers it.
type Pair struct {
	Access, Refresh           string
	ExpiresIn, RefreshExpires int64
}

// ReadPair checks the seed's token pair shape: two strings, two integers.
func ReadPair(t testing.TB, r Reply) Pair {
	t.Helper()
	d := r.Data(t)
	if len(d) != 4 {
		t.Fatalf("data has %d keys, want exactly access_token, expires_in, refresh_token, refresh_expires: %s", len(d), r.Raw)
	}
	var p Pair
	var ok1, ok2 bool
	p.Access, ok1 = d["access_token"].(string)
	p.Refresh, ok2 = d["refresh_token"].(string)
	if !ok1 || !ok2 {
		t.Fatalf("tokens are not strings: %s", r.Raw)
	}
	for key, dst := range map[string]*int64{"expires_in": &p.ExpiresIn, "refresh_expires": &p.RefreshExpires} {
		n, ok := d[key].(json.Number)
		if !ok || strings.ContainsAny(n.String(), ".eE") {
			t.Fatalf("%s = %v, want a JSON integer: %s", key, d[key], r.Raw)
		}
		*dst, _ = n.Int64()
	}
	return p
}

// Login logs the demo user in through mmm and returns its pair.
func (tg *Gateway) Login(t testing.TB) Pair {
	t.Helper()
	r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`)
	if r.Status != 200 || r.Code(t) != "00000" {
		t.Fatalf("login: %d %s", r.Status, r.Raw)
	}
	return ReadPair(t, r)
}

// Echo calls a protected route and returns what the echo upstream saw.
func (tg *Gateway) Echo(t testing.TB, path string, headers map[string]string) (Reply, map[string][]string) {
	t.Helper()
	r := tg.Do(t, "GET", path, headers, "")
	var seen struct {
		Headers map[string][]string `json:"headers"`
		Path    string              `json:"path"`
	}
	if r.Status == 200 {
		if err := json.Unmarshal(r.Raw, &seen); err == nil && seen.Headers != nil {
			seen.Headers[":path"] = []string{seen.Path}
			return r, seen.Headers
		}
	}
	return r, nil
}

// ForEachStore runs fn as a subtest on the memory store and on Redis.
func ForEachStore(t *testing.T, fn func(t *testing.T, store string)) {
	for _, s := range []string{"memory", "redis"} {
		t.Run(s, func(t *testing.T) { fn(t, s) })
	}
}

// NewServer serves g's public handler with httptest, closed with the
// test.
func NewServer(t testing.TB, g *gateway.Gateway) *httptest.Server {
	s := httptest.NewServer(g.Handler())
	t.Cleanup(s.Close)
	return s
}

// HTTPTestServer serves h with httptest, closed with the test (an
// upstream of the test's own).
func HTTPTestServer(t testing.TB, h http.Handler) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// Build loads the config at path and builds a gateway from it, with
// a silent logger unless o has one; the gateway is closed with the test.
func Build(t testing.TB, path string, o gateway.Options) *gateway.Gateway {
	t.Helper()
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Registry = builtin.Registry()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g, err := Open(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// Open opens the store cfg names, as cmd/gateway does, and builds a
// gateway on it.
func Open(cfg *config.Config, o gateway.Options) (*gateway.Gateway, error) {
	store, err := backend.OpenStore(cfg, o.LookupEnv, o.Now)
	if err != nil {
		return nil, err
	}
	o.Store = store
	return gateway.New(cfg, o)
}

// BuildError is the error of loading and building the gateway of o,
// failing the test when either succeeds.
func BuildError(t testing.TB, o Options) string {
	t.Helper()
	if o.Clock == nil {
		o.Clock = NewClock()
	}
	cfg, err := config.Load(WriteConfig(t, o), nil)
	if err == nil {
		var gw *gateway.Gateway
		if gw, err = Open(cfg, gateway.Options{Registry: builtin.Registry(), Now: o.Clock.Now}); err == nil {
			_ = gw.Close()
			t.Fatalf("the config was accepted")
		}
	}
	return err.Error()
}

// AdminCall calls the admin API on tg's admin listener.
func (tg *Gateway) AdminCall(t testing.TB, method, path, token string) Reply {
	t.Helper()
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	r := dialecttest.Send(t, tg.Admin.URL, method, path, h, "")
	return Reply{Status: r.Status, Header: r.Header, Raw: r.Raw, Body: r.Body}
}

// EditConfig replaces from with to in the gateway's config file.
func (tg *Gateway) EditConfig(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(tg.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), from) {
		t.Fatalf("the config has no %q", from)
	}
	if err := os.WriteFile(tg.Path, []byte(strings.Replace(string(raw), from, to, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Statuses lists the responses' status codes, for a failure message.
func Statuses(rs []*http.Response) string {
	var out []string
	for _, r := range rs {
		out = append(out, strconv.Itoa(r.StatusCode))
	}
	return strings.Join(out, " ")
}
