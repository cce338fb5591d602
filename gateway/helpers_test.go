package gateway_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authgate/authgate/config"

	"github.com/authgate/authgate/backend"
	"github.com/authgate/authgate/dialects/builtin"
	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway"
)

// The clock, log buffer, users file and Redis key prefixes of the
// dialects' own tests.
type (
	clock      = dialecttest.Clock
	syncBuffer = dialecttest.SyncBuffer
)

var (
	newClock  = dialecttest.NewClock
	usersFile = dialecttest.UsersYAML
	redisAddr = dialecttest.RedisAddr
	newPrefix = dialecttest.NewPrefix
)

const testSecret = "test-mmm-signing-key-0123456789abcdef0123"

// usersFile is a users file with bcrypt at its least cost, so the tests
// spend their time on the gateway, not on hashing.
// storeYAML is the store block for a kind: "memory", or "redis" with a
// key prefix of the test's own.
func storeYAML(kind, prefix string) string {
	if kind == "memory" {
		return "store:\n  driver: memory\n"
	}
	return "store:\n  driver: redis\n  redis:\n    addrs: [\"" + redisAddr() + "\"]\n    key_prefix: \"" + prefix + "\"\n"
}

// testGateway is a gateway served over HTTP by httptest.
type testGateway struct {
	*httptest.Server
	gw    *gateway.Gateway
	clock *clock
	logs  *syncBuffer
	admin *httptest.Server
	opts  gwOptions
	// path is the config file it was built from.
	path string
}

// startReplica starts a second gateway on the same Redis prefix and clock.
func startReplica(t testing.TB, of *testGateway) *testGateway {
	return startGateway(t, of.opts)
}

type gwOptions struct {
	store  string // memory | redis
	prefix string // Redis key prefix; a new one when empty
	clock  *clock
	routes string // replaces the default routes block
	mmm    string // extra lines for the mmm dialect block
	extra  string // extra top-level YAML
	server string // extra lines for the server block
	more   string // further dialect instances, under dialects:
	// storeBlock replaces the store block (a Sentinel or Cluster topology).
	storeBlock string
	// identityBlock replaces the identity block (a sql directory).
	identityBlock string
}

const defaultRoutes = `routes:
  - name: mmm-api
    path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
`

func writeConfig(t testing.TB, o gwOptions) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users.yaml"), []byte(usersFile()), 0o600); err != nil {
		t.Fatal(err)
	}
	if o.store == "" {
		o.store = "memory"
	}
	if o.routes == "" {
		o.routes = defaultRoutes
	}
	if !strings.Contains(o.server, "drain_delay") {
		o.server += "  drain_delay: 0s\n" // tests that drain say so
	}
	store := storeYAML(o.store, o.prefix)
	if o.storeBlock != "" {
		store = o.storeBlock
	}
	cfg := "server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n" + o.server + store +
		identityBlock(o) +
		"dialects:\n  mmm:\n    type: mmm\n    secret: " + testSecret + "\n" + o.mmm + o.more + o.routes + o.extra
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func identityBlock(o gwOptions) string {
	if o.identityBlock != "" {
		return o.identityBlock
	}
	return "identity:\n  users_file: users.yaml\n"
}

func startGateway(t testing.TB, o gwOptions) *testGateway {
	t.Helper()
	if o.clock == nil {
		o.clock = newClock()
	}
	if o.store == "redis" && o.prefix == "" {
		o.prefix = newPrefix(t)
	}
	path := writeConfig(t, o)
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	gw, err := openGateway(cfg, gateway.Options{
		Registry: builtin.Registry(), Now: o.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGateway{Server: httptest.NewServer(gw.Handler()), gw: gw, clock: o.clock, logs: logs,
		admin: httptest.NewServer(gw.AdminHandler()), opts: o, path: path}
	t.Cleanup(func() {
		tg.Close()
		tg.admin.Close()
		_ = gw.Close()
	})
	return tg
}

// reply is a decoded response.
type reply struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (tg *testGateway) do(t testing.TB, method, path string, headers map[string]string, body string) reply {
	t.Helper()
	r := dialecttest.Send(t, tg.URL, method, path, headers, body)
	return reply{status: r.Status, header: r.Header, raw: r.Raw, body: r.Body}
}

// code returns the mmm envelope's code, failing unless it is a string.
func (r reply) code(t testing.TB) string {
	t.Helper()
	c, ok := r.body["code"].(string)
	if !ok {
		t.Fatalf("code is %T (%v), want a JSON string; body %s", r.body["code"], r.body["code"], r.raw)
	}
	return c
}

func (r reply) data(t testing.TB) map[string]any {
	t.Helper()
	d, ok := r.body["data"].(map[string]any)
	if !ok {
		t.Fatalf("data is %T, want an object; body %s", r.body["data"], r.raw)
	}
	return d
}

type pair struct {
	Access, Refresh           string
	ExpiresIn, RefreshExpires int64
}

// readPair checks the seed's token pair shape: two strings, two integers.
func readPair(t testing.TB, r reply) pair {
	t.Helper()
	d := r.data(t)
	if len(d) != 4 {
		t.Fatalf("data has %d keys, want exactly access_token, expires_in, refresh_token, refresh_expires: %s", len(d), r.raw)
	}
	var p pair
	var ok1, ok2 bool
	p.Access, ok1 = d["access_token"].(string)
	p.Refresh, ok2 = d["refresh_token"].(string)
	if !ok1 || !ok2 {
		t.Fatalf("tokens are not strings: %s", r.raw)
	}
	for key, dst := range map[string]*int64{"expires_in": &p.ExpiresIn, "refresh_expires": &p.RefreshExpires} {
		n, ok := d[key].(json.Number)
		if !ok || strings.ContainsAny(n.String(), ".eE") {
			t.Fatalf("%s = %v, want a JSON integer: %s", key, d[key], r.raw)
		}
		*dst, _ = n.Int64()
	}
	return p
}

func (tg *testGateway) login(t testing.TB) pair {
	t.Helper()
	r := tg.do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`)
	if r.status != 200 || r.code(t) != "00000" {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	return readPair(t, r)
}

// echo calls a protected route and returns what the echo upstream saw.
func (tg *testGateway) echo(t testing.TB, path string, headers map[string]string) (reply, map[string][]string) {
	t.Helper()
	r := tg.do(t, "GET", path, headers, "")
	var seen struct {
		Headers map[string][]string `json:"headers"`
		Path    string              `json:"path"`
	}
	if r.status == 200 {
		if err := json.Unmarshal(r.raw, &seen); err == nil && seen.Headers != nil {
			seen.Headers[":path"] = []string{seen.Path}
			return r, seen.Headers
		}
	}
	return r, nil
}

func forEachStore(t *testing.T, fn func(t *testing.T, store string)) {
	for _, s := range []string{"memory", "redis"} {
		t.Run(s, func(t *testing.T) { fn(t, s) })
	}
}

func newServer(t testing.TB, g *gateway.Gateway) *httptest.Server {
	s := httptest.NewServer(g.Handler())
	t.Cleanup(s.Close)
	return s
}

func httptestServer(t testing.TB, h http.Handler) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// buildGateway loads the config at path and builds a gateway from it, with
// a silent logger unless o has one; the gateway is closed with the test.
func buildGateway(t testing.TB, path string, o gateway.Options) *gateway.Gateway {
	t.Helper()
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Registry = builtin.Registry()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g, err := openGateway(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// openGateway opens the store cfg names, as cmd/gateway does, and builds a
// gateway on it.
func openGateway(cfg *config.Config, o gateway.Options) (*gateway.Gateway, error) {
	store, err := backend.OpenStore(cfg, o.LookupEnv, o.Now)
	if err != nil {
		return nil, err
	}
	o.Store = store
	return gateway.New(cfg, o)
}

// buildError is the error of loading and building the gateway of o,
// failing the test when either succeeds.
func buildError(t testing.TB, o gwOptions) string {
	t.Helper()
	if o.clock == nil {
		o.clock = newClock()
	}
	cfg, err := config.Load(writeConfig(t, o), nil)
	if err == nil {
		var gw *gateway.Gateway
		if gw, err = openGateway(cfg, gateway.Options{Registry: builtin.Registry(), Now: o.clock.Now}); err == nil {
			_ = gw.Close()
			t.Fatalf("the config was accepted")
		}
	}
	return err.Error()
}
