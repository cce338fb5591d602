// Package dialecttest runs a dialect on its own, over HTTP, for the tests
// in the dialect's package: Start builds an instance from a YAML block on
// a real store (the memory store, or a real Redis server whose keys are
// checked to expire), serves its endpoints and a protected route with
// httptest, and the contract (Contract) checks what every dialect owes the
// gateway. No gateway is involved: the gateway's own tests cover routing,
// header handling and assembly.
package dialecttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/authgate/authgate/dialects"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/tokenstore"
	"github.com/authgate/authgate/tokenstore/memstore"
	"github.com/authgate/authgate/tokenstore/redisstore"
)

// Clock is the injected time: tests move it instead of sleeping.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at the current second.
func NewClock() *Clock { return &Clock{t: time.Now().Truncate(time.Second)} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// SyncBuffer collects log output from concurrent handlers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Password is the password of every user of Users.
const Password = "demo123"

// UsersYAML is the test users file (see Users): bcrypt at its least
// cost, so tests spend their time on the dialect, not on hashing.
var UsersYAML = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(Password), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return `users:
  - id: 10
    account: demo
    password_hash: "` + string(h) + `"
    companies: [1, 2]
    default_company: 1
    mobile: "13800138000"
    name: Demo User
    nick_name: demo
    bo:
      user_id: ptdev
      client_id: ptdev
      push_name: 开发管理员
      role_id: [development]
      developer: 1
  - id: 12
    account: owned
    password_hash: "` + string(h) + `"
    bo:
      owners: [proj-a]
  - id: 11
    account: other
    password_hash: "` + string(h) + `"
    companies: [5]
`
})

// Users is the test directory: demo (id 10, companies 1 and 2, mobile
// 13800138000, a bo profile), owned (id 12, bo owner proj-a only) and
// other (id 11, company 5), all with Password.
func Users(t testing.TB) *identity.File {
	t.Helper()
	d, err := identity.Parse([]byte(UsersYAML()))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// RedisAddr is the real Redis server the Redis runs use. A missing server
// fails them: a skipped Redis run would hide exactly its bugs.
func RedisAddr() string {
	if a := os.Getenv("GATEWAY_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// Kinds are the store kinds every dialect test runs on.
var Kinds = []string{"memory", "redis"}

// ForEachStore runs fn once on the memory store and once on Redis.
func ForEachStore(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, k := range Kinds {
		t.Run(k, func(t *testing.T) { fn(t, k) })
	}
}

// NewStore opens a store of kind for the test; a Redis store has a key
// prefix of its own (NewPrefix).
func NewStore(t testing.TB, kind string, now func() time.Time) tokenstore.Store {
	t.Helper()
	if kind == "memory" {
		s := memstore.New(now)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	prefix := NewPrefix(t)
	s, err := redisstore.New(redisstore.Options{Addrs: []string{RedisAddr()}, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("redis at %s (set GATEWAY_TEST_REDIS_ADDR): %v", RedisAddr(), err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewPrefix is a Redis key prefix of the test's own. When the test ends,
// every key under it must carry a TTL (registered accounts, records,
// excepted), and all are deleted.
func NewPrefix(t testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "authgate-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: RedisAddr()})
		defer c.Close()
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		for _, k := range keys {
			if redisstore.Record(prefix, k) {
				continue
			}
			if ttl := c.PTTL(ctx, k).Val(); ttl == -1 || ttl == -1*time.Millisecond {
				t.Errorf("redis key %s has no TTL", k)
			}
		}
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return prefix
}

// Env is one dialect instance served over HTTP: its endpoints, and every
// other path a protected route whose answer is the Identity as JSON.
type Env struct {
	*httptest.Server
	Dialect dialects.Dialect
	Name    string
	Clock   *Clock
	// Store is the store the dialect was given (an Outage around a real
	// store); Down makes it fail.
	Store *Outage
	Logs  *SyncBuffer
	// Dir is the folder the block's relative *_file paths resolve in.
	Dir     string
	metrics *prometheus.Registry
	// log is the instance's logger, which also logs the errors it answers.
	log *slog.Logger
}

// Options adjust Start.
type Options struct {
	// Kind is "memory" (default) or "redis".
	Kind string
	// Clock is shared with another Env (a second replica); new when nil.
	Clock *Clock
	// Store is shared with another Env instead of a new one of Kind.
	Store tokenstore.Store
	// Users is the directory; Users(t) when nil, none when NoUsers.
	Users   identity.Directory
	NoUsers bool
	// Dir is the config folder (a new temporary one when empty).
	Dir string
	// Env answers *_env secrets.
	Env map[string]string
	// VerifySecret replaces identity.VerifySecret (to count calls).
	VerifySecret func(hash, secret string) (bool, error)
	// StoreKind is what wire formats report ("local" when empty).
	StoreKind string
}

// Build constructs an instance of f named name from a YAML block,
// without serving it; the error is the factory's.
func Build(t testing.TB, f dialects.Factory, name, block string, o Options) (*Env, error) {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(block), &m); err != nil {
		t.Fatalf("block: %v", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	if o.Clock == nil {
		o.Clock = NewClock()
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	store := o.Store
	if store == nil {
		store = NewStore(t, o.Kind, o.Clock.Now)
	}
	var users identity.Directory
	if !o.NoUsers {
		users = o.Users
		if users == nil {
			users = Users(t)
		}
	}
	verify := identity.Unbounded(identity.VerifySecret)
	if o.VerifySecret != nil {
		verify = identity.Unbounded(o.VerifySecret)
	}
	kind := o.StoreKind
	if kind == "" {
		kind = "local"
	}
	logs := &SyncBuffer{}
	reg := prometheus.NewRegistry()
	e := &Env{Name: name, Clock: o.Clock, Store: &Outage{Store: store}, Logs: logs, Dir: o.Dir, metrics: reg}
	e.log = slog.New(slog.NewJSONHandler(logs, nil)).With("dialect", name)
	d, err := f.New(name, m, dialects.Deps{
		// Guarded as the gateway guards it: a shadow check cannot write.
		Store: tokenstore.Guard{Store: e.Store}, Users: users, Now: o.Clock.Now,
		Logger:  e.log,
		Metrics: dialects.NewMetrics(reg), Registerer: prometheus.WrapRegistererWith(prometheus.Labels{"dialect": name}, reg),
		LookupEnv: func(k string) (string, bool) { v, ok := o.Env[k]; return v, ok },
		ConfigDir: o.Dir, StoreKind: kind, VerifySecret: verify,
	})
	if err != nil {
		return nil, err
	}
	if c, ok := d.(io.Closer); ok {
		t.Cleanup(func() { _ = c.Close() })
	}
	e.Dialect = d
	return e, nil
}

// Start builds an instance and serves it; a config error fails the test.
func Start(t testing.TB, f dialects.Factory, name, block string, o Options) *Env {
	t.Helper()
	e, err := Build(t, f, name, block, o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	e.Server = httptest.NewServer(Handler(e.Dialect, e.log))
	t.Cleanup(e.Server.Close)
	return e
}

// identityHeader marks the protected route's own answer, told apart from a
// refusal that uses status 200 (mmm's).
const identityHeader = "X-Dialecttest-Identity"

// Handler serves d's endpoints (other methods answer ErrMethodNotAllowed
// in its envelope) and, on every other path, a protected route: the
// refusal in d's envelope, or 200 with the Identity as JSON.
func Handler(d dialects.Dialect, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	byPath := map[string][]dialects.Endpoint{}
	for _, ep := range d.Endpoints() {
		byPath[ep.Path] = append(byPath[ep.Path], ep)
	}
	for path, eps := range byPath {
		h := func(w http.ResponseWriter, r *http.Request) {
			for _, ep := range eps {
				if r.Method == ep.Method {
					dialects.Serve(d, log, ep.Handler)(w, r)
					return
				}
			}
			dialects.WriteError(w, r, d, log, dialects.ErrMethodNotAllowed)
		}
		mux.HandleFunc(path, h)
		for _, ep := range eps {
			if ep.Prefix {
				mux.HandleFunc(strings.TrimSuffix(path, "/")+"/", h)
			}
		}
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		id, err := d.Authenticate(r)
		if err != nil {
			dialects.WriteError(w, r, d, log, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(identityHeader, "1")
		_ = json.NewEncoder(w).Encode(id)
	})
	return mux
}

// Metrics is the instance's metrics in the Prometheus text format.
func (e *Env) Metrics(t testing.TB) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(e.metrics, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// Reply is a decoded response; Body keeps JSON numbers as json.Number so
// tests can tell an integer from a string.
type Reply struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// Do sends one request to the Env.
func (e *Env) Do(t testing.TB, method, path string, headers map[string]string, body string) Reply {
	t.Helper()
	return Send(t, e.URL, method, path, headers, body)
}

// Send sends one request to the server at base and decodes the answer.
func Send(t testing.TB, base, method, path string, headers map[string]string, body string) Reply {
	t.Helper()
	var rdr io.Reader
	if body != "" {
		rdr = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rdr)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := Reply{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&r.Body)
	return r
}

// Protected calls the protected route and returns the Identity it was
// given, or nil with the refusal.
func (e *Env) Protected(t testing.TB, path string, headers map[string]string) (Reply, *dialects.Identity) {
	t.Helper()
	r := e.Do(t, "GET", path, headers, "")
	if r.Status != 200 || r.Header.Get(identityHeader) == "" {
		return r, nil
	}
	var id dialects.Identity
	if err := json.Unmarshal(r.Raw, &id); err != nil {
		t.Fatalf("protected route answered 200 with %s", r.Raw)
	}
	return r, &id
}

// Str reads a string field of the body, failing unless it is one.
func (r Reply) Str(t testing.TB, key string) string {
	t.Helper()
	s, ok := r.Body[key].(string)
	if !ok {
		t.Fatalf("%s is %T (%v), want a JSON string; body %s", key, r.Body[key], r.Body[key], r.Raw)
	}
	return s
}

// Int reads an integer field of the body, failing unless it is a JSON
// integer.
func (r Reply) Int(t testing.TB, key string) int64 {
	t.Helper()
	return AsInt(t, r.Body[key], key, r.Raw)
}

// AsInt reads v as a JSON integer, naming key and the body on failure.
func AsInt(t testing.TB, v any, key string, raw []byte) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok || strings.ContainsAny(n.String(), ".eE") {
		t.Fatalf("%s is %T (%v), want a JSON integer; body %s", key, v, v, raw)
	}
	i, _ := n.Int64()
	return i
}

// Obj reads an object field of the body.
func (r Reply) Obj(t testing.TB, key string) map[string]any {
	t.Helper()
	d, ok := r.Body[key].(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, want an object; body %s", key, r.Body[key], r.Raw)
	}
	return d
}

// Bearer is an Authorization header carrying token.
func Bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// Claims decodes a JWT's claims (numbers as json.Number) without
// verifying it, and fails unless it is an HS256 JWS.
func Claims(t testing.TB, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var c map[string]any
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	head, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if !strings.Contains(string(head), `"alg":"HS256"`) {
		t.Fatalf("header %s, want HS256", head)
	}
	return c
}

// Shape describes a JSON value's structure, its keys and types, to compare
// an answer with a seed document's example field by field.
func Shape(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range t {
			out[k] = Shape(val)
		}
		return out
	case []any:
		return "array"
	case json.Number:
		return "number"
	case string:
		return "string"
	case bool:
		return "bool"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// DecodeNumbers decodes JSON keeping numbers as json.Number.
func DecodeNumbers(t testing.TB, raw string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// WaitFor polls cond until it holds, for events on real timers (a file
// watcher's tick, a listener coming up); never for token expiry, which
// tests drive with the Clock.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
