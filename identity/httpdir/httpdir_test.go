package httpdir_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/identity/directorytest"
	"github.com/authgate/authgate/identity/httpdir"
)

// legacyService is a real HTTP legacy login service over
// directorytest.Fixtures: it answers in its own envelope
// {"code": 0, "data": {"user": {...}}}, 401 for a wrong password, and
// registers numbers once under a lock (its database's unique constraint).
type legacyService struct {
	*httptest.Server
	mu     sync.Mutex
	users  map[int64]directorytest.FixtureUser
	nextID int64
}

func newLegacyService(t *testing.T) *legacyService {
	s := &legacyService{users: map[int64]directorytest.FixtureUser{}, nextID: 1000}
	for _, u := range directorytest.Fixtures() {
		s.users[u.ID] = u
	}
	answer := func(w http.ResponseWriter, status int, u directorytest.FixtureUser) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		user := map[string]any{"uid": u.ID, "login": u.Account, "name": u.Name, "nick_name": u.NickName, "mobile": u.Mobile, "companies": u.Companies}
		if p := u.Profiles["bo"]; p != nil {
			user["bo"] = map[string]any{"user_id": p.First("user_id"), "roles": p["role_id"]}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"code": 0, "data": map[string]any{"user": user}})
	}
	find := func(match func(directorytest.FixtureUser) bool) (directorytest.FixtureUser, bool) {
		for _, u := range s.users {
			if match(u) {
				return u, true
			}
		}
		return directorytest.FixtureUser{}, false
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /check", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer service-token" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var req struct{ Login, Pwd string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		s.mu.Lock()
		u, ok := find(func(u directorytest.FixtureUser) bool { return u.Account == req.Login })
		s.mu.Unlock()
		if ok && u.Matches(req.Pwd) {
			answer(w, 200, u)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.HandleFunc("GET /users", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s.mu.Lock()
		u, ok := find(func(u directorytest.FixtureUser) bool {
			return q.Get("id") != "" && strconv.FormatInt(u.ID, 10) == q.Get("id") ||
				q.Get("account") != "" && u.Account == q.Get("account") || q.Get("mobile") != "" && u.Mobile == q.Get("mobile")
		})
		s.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		answer(w, 200, u)
	})
	mux.HandleFunc("POST /register", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Mobile, Source, Name string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		s.mu.Lock()
		defer s.mu.Unlock()
		if u, ok := find(func(u directorytest.FixtureUser) bool { return u.Mobile == req.Mobile }); ok {
			answer(w, http.StatusConflict, u)
			return
		}
		s.nextID++
		u := directorytest.FixtureUser{User: identity.User{ID: s.nextID, Account: req.Mobile, Mobile: req.Mobile, Name: req.Name}}
		s.users[u.ID] = u
		answer(w, http.StatusCreated, u)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func config(base string) httpdir.Config {
	c := httpdir.Defaults()
	c.CheckURL, c.LookupURL, c.RegisterURL = base+"/check", base+"/users", base+"/register"
	c.AuthTokenEnv = "SERVICE_TOKEN"
	c.Fields.Account, c.Fields.Password = "login", "pwd"
	c.Fields.ID, c.Fields.AccountOut = "data.user.uid", "data.user.login"
	c.Fields.Name, c.Fields.NickName, c.Fields.Mobile = "data.user.name", "data.user.nick_name", "data.user.mobile"
	c.Fields.Companies, c.Fields.DefaultCompany = "data.user.companies", ""
	c.Fields.Code, c.Fields.CodeOK = "code", "0"
	c.Fields.BOUserID, c.Fields.BORoles = "data.user.bo.user_id", "data.user.bo.roles"
	return c
}

func env(k string) (string, bool) {
	if k == "SERVICE_TOKEN" {
		return "service-token", true
	}
	return "", false
}

func TestConformance(t *testing.T) {
	directorytest.Run(t, func(t *testing.T) directorytest.Subject {
		svc := newLegacyService(t)
		d, err := httpdir.Open(config(svc.URL), t.TempDir(), env)
		if err != nil {
			t.Fatal(err)
		}
		return directorytest.Subject{Dir: d}
	})
}

// TestLegacyServiceFailingFailsClosed: a service that errs, is gone, or
// does not answer within the timeout is ErrUnavailable, never a wrong
// password; and the legacy user's digest is the service's business (it
// answers 200).
func TestLegacyServiceFailingFailsClosed(t *testing.T) {
	svc := newLegacyService(t)
	d, err := httpdir.Open(config(svc.URL), t.TempDir(), env)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := d.Authenticate(context.Background(), "legacy", "old-pass"); err != nil || u.ID != 11 || u.DefaultCompany != 5 {
		t.Fatalf("legacy user through the service = %+v, %v", u, err)
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }))
	defer broken.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := "http://" + ln.Addr().String()
	ln.Close()
	// A service that accepts connections and never answers.
	hung, _ := net.Listen("tcp", "127.0.0.1:0")
	defer hung.Close()
	for name, base := range map[string]string{"5xx": broken.URL, "gone": gone, "hung": "http://" + hung.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			c := config(base)
			c.Timeout = 200 * time.Millisecond
			d, err := httpdir.Open(c, t.TempDir(), env)
			if err != nil {
				t.Fatal(err)
			}
			directorytest.AssertUnavailable(t, d)
		})
	}
	if _, err := httpdir.Open(httpdir.Defaults(), t.TempDir(), env); err == nil {
		t.Fatal("a block without URLs opened")
	}
	c := config(svc.URL)
	c.AuthTokenEnv = "NOPE"
	if _, err := httpdir.Open(c, t.TempDir(), env); err == nil || !strings.Contains(err.Error(), "auth_token_env") {
		t.Fatalf("an unset auth_token_env opened, or its error did not name it: %v", err)
	}
}

// TestTokenEnvIsTheOldSpellingOfAuthTokenEnv: the earlier key still sends
// the credential, with a warning; both keys naming other variables is a
// problem naming the old one.
func TestTokenEnvIsTheOldSpellingOfAuthTokenEnv(t *testing.T) {
	svc := newLegacyService(t)
	c := config(svc.URL)
	c.AuthTokenEnv, c.TokenEnv = "", "SERVICE_TOKEN"
	d, err := httpdir.Open(c, t.TempDir(), env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(context.Background(), "legacy", "old-pass"); err != nil {
		t.Fatalf("the credential under token_env was not sent: %v", err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.HasPrefix(w[0], "token_env: deprecated: rename it auth_token_env") {
		t.Fatalf("warnings = %q", w)
	}
	if w := config(svc.URL).Warnings(); len(w) != 0 {
		t.Fatalf("auth_token_env warned: %q", w)
	}
	c.AuthTokenEnv = "OTHER_TOKEN"
	if _, err := httpdir.Open(c, t.TempDir(), env); err == nil || !strings.HasPrefix(err.Error(), "token_env: the deprecated spelling of auth_token_env") {
		t.Fatalf("two spellings naming two variables: %v", err)
	}
}

// TestCallsAreTraced: with a tracer provider set (tracing on), each call
// to the legacy service is a client span of the request's trace naming
// the call, never its values (an account, a password); a service that
// errs marks its span, a wrong password or an unknown user does not.
func TestCallsAreTraced(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	svc := newLegacyService(t)
	d, err := httpdir.Open(config(svc.URL), t.TempDir(), env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := otel.Tracer("test").Start(context.Background(), "request")
	if _, err := d.Authenticate(ctx, "demo", "demo123"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, "demo", "wrong-password"); err == nil {
		t.Fatal("a wrong password accepted")
	}
	if _, err := d.ByAccount(ctx, "nobody-here"); err == nil {
		t.Fatal("an unknown account found")
	}
	svc.Close()
	if _, err := d.ByMobile(ctx, "13900000011"); err == nil {
		t.Fatal("a closed service answered")
	}
	parent.End()
	var got []string
	for _, sp := range rec.Ended() {
		if sp.Name() != "directory.query" {
			continue
		}
		if sp.Parent().SpanID() != parent.SpanContext().SpanID() || sp.SpanKind() != trace.SpanKindClient {
			t.Errorf("span: parent %v kind %v", sp.Parent().SpanID(), sp.SpanKind())
		}
		query := ""
		for _, a := range sp.Attributes() {
			if v := a.Value.Emit(); strings.Contains(v, "demo") || strings.Contains(v, "nobody") || strings.Contains(v, "1390") || strings.Contains(v, "password") {
				t.Errorf("a value in the span: %v", a)
			}
			if a.Key == "authgate.query" {
				query = a.Value.AsString()
			}
		}
		got = append(got, query+" "+sp.Status().Code.String())
	}
	want := "check Unset, check Unset, by_account Unset, by_mobile Error"
	if strings.Join(got, ", ") != want {
		t.Fatalf("spans %q, want %s", got, want)
	}
}
