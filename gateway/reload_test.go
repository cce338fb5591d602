package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway"
)

// editConfig replaces from with to in the gateway's config file.
func (tg *testGateway) editConfig(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(tg.path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), from) {
		t.Fatalf("the config has no %q", from)
	}
	if err := os.WriteFile(tg.path, []byte(strings.Replace(string(raw), from, to, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestReloadWhileServing: requests flow through every reload and none
// fails: a reload that adds a route and rotates the mmm key (the old key
// under previous) applies at once; a broken file, and one that changes
// the listen address, are refused and the running config serves on; a
// request in flight across a reload finishes on the config it started
// with.
func TestReloadWhileServing(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		slow := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			time.Sleep(300 * time.Millisecond)
			_, _ = io.WriteString(w, "slow answer")
		}))
		rg := startGateway(t, gwOptions{store: store, routes: defaultRoutes + "  - path_prefix: /slow/\n    public: true\n    upstream: " + slow.URL + "\n"})
		old := rg.login(t)

		var failures atomic.Int64
		var sent atomic.Int64
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					r := dialecttest.Send(t, rg.URL, "GET", "/v1/x", map[string]string{"x-mmm-accesstoken": old.Access}, "")
					sent.Add(1)
					if r.Status != 200 || r.Header.Get("Content-Type") == "" || strings.Contains(string(r.Raw), `"code"`) {
						failures.Add(1)
					}
				}
			}()
		}
		inflight := make(chan int, 1)
		go func() {
			r := dialecttest.Send(t, rg.URL, "GET", "/slow/x", nil, "")
			inflight <- r.Status
		}()
		time.Sleep(50 * time.Millisecond)

		const newSecret = "reloaded-mmm-signing-key-0123456789abcdef"
		rg.editConfig(t, "    secret: "+testSecret+"\n", "    secret: "+newSecret+"\n    previous:\n      - secret: "+testSecret+"\n")
		rg.editConfig(t, "routes:\n", "routes:\n  - path_prefix: /v2/\n    dialects: [mmm]\n    upstream: echo\n")
		if err := rg.gw.Reload(rg.path, nil); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if r, seen := rg.echo(t, "/v2/x", map[string]string{"x-mmm-accesstoken": old.Access}); seen == nil {
			t.Fatalf("the added route with a token of the previous key: %s", r.raw)
		}
		fresh := rg.login(t)
		if fresh.Access == old.Access {
			t.Fatal("no new token")
		}
		if status := <-inflight; status != 200 {
			t.Fatalf("the request in flight across the reload: %d", status)
		}

		rg.editConfig(t, "routes:\n", "routes:\n  - path_prefx: /broken/\n")
		if err := rg.gw.Reload(rg.path, nil); err == nil || !strings.Contains(err.Error(), "routes[0].path_prefx: unknown key") {
			t.Fatalf("broken reload: %v", err)
		}
		if m := rg.metricsText(t); metricValue(m, "authgate_config_last_reload_successful") != 0 {
			t.Fatal("a failed reload is not shown")
		}
		if r, seen := rg.echo(t, "/v2/x", map[string]string{"x-mmm-accesstoken": fresh.Access}); seen == nil {
			t.Fatalf("after a broken reload: %s", r.raw)
		}
		rg.editConfig(t, "  - path_prefx: /broken/\n", "")
		rg.editConfig(t, "listen: 127.0.0.1:0\n", "listen: 127.0.0.1:1\n")
		if err := rg.gw.Reload(rg.path, nil); err == nil || !strings.Contains(err.Error(), "server.listen: cannot change while the gateway runs") {
			t.Fatalf("a reload changing server.listen: %v", err)
		}
		rg.editConfig(t, "listen: 127.0.0.1:1\n", "listen: 127.0.0.1:0\n")
		if err := rg.gw.Reload(rg.path, nil); err != nil {
			t.Fatalf("reload after the fix: %v", err)
		}
		m := rg.metricsText(t)
		if metricValue(m, "authgate_config_last_reload_successful") != 1 || metricValue(m, "authgate_config_last_reload_success_timestamp_seconds") <= 0 {
			t.Fatalf("reload metrics:\n%s", grepLines(m, "authgate_config"))
		}
		stop()
		wg.Wait()
		if n := failures.Load(); n != 0 {
			t.Fatalf("%d of %d requests failed during the reloads", n, sent.Load())
		}
		if !strings.Contains(rg.logs.String(), `"msg":"config reload failed; the running config stays"`) {
			t.Error("no log line for the failed reload")
		}
	})
}

// TestWatchConfigReloadsOnAFileItNames: with the watch on, a user added to
// the users file can log in without a signal or a restart.
func TestWatchConfigReloadsOnAFileItNames(t *testing.T) {
	rg := startGateway(t, gwOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rg.gw.WatchConfig(ctx, rg.path, nil, 20*time.Millisecond)
	users := filepath.Join(filepath.Dir(rg.path), "users.yaml")
	raw, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	login := `{"account":"newcomer","password":"demo123"}`
	if r := rg.do(t, "POST", "/auth/login", nil, login); r.code(t) != "10003" {
		t.Fatalf("an unknown account: %s", r.raw)
	}
	hash := strings.SplitN(strings.SplitN(string(raw), `password_hash: "`, 2)[1], `"`, 2)[0]
	added := string(raw) + "  - id: 77\n    account: newcomer\n    password_hash: \"" + hash + "\"\n    companies: [1]\n"
	if err := os.WriteFile(users, []byte(added), 0o600); err != nil {
		t.Fatal(err)
	}
	dialecttest.WaitFor(t, "the new user to log in", func() bool {
		return rg.do(t, "POST", "/auth/login", nil, login).body["code"] == "00000"
	})
}

// TestReloadTheDemoConfig: the repository's config.yaml, every dialect in
// it, reloads over itself, and each dialect's own series carry on across
// the reloads (the rebuilt instances take over the running ones'
// collectors) instead of starting again from zero.
func TestReloadTheDemoConfig(t *testing.T) {
	g := buildGateway(t, "../config.yaml", gateway.Options{})
	srv := newServer(t, g)
	badLogin := func() {
		t.Helper()
		r := dialecttest.Send(t, srv.URL, "POST", "/api/base/token/login", nil, `{"appId":"demo-app","appKey":"demo-key","appSecret":"wrong","loginType":"APP_KEY"}`)
		if r.Status != 401 {
			t.Fatalf("appkey login: %d %s", r.Status, r.Raw)
		}
	}
	badLogin()
	for range 2 {
		if err := g.Reload("../config.yaml", nil); err != nil {
			t.Fatal(err)
		}
	}
	badLogin()
	rec := httptest.NewRecorder()
	g.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if v := metricValue(rec.Body.String(), `authgate_appkey_logins_total{dialect="appkey",result="bad_credentials"}`); v != 2 {
		t.Fatalf("the appkey counter across two reloads = %v, want 2 (one login before, one after)", v)
	}
}
