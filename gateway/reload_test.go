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
	"github.com/authgate/authgate/gateway/gatewaytest"
)

// TestReloadWhileServing: requests flow through every reload and none
// fails: a reload that adds a route and rotates the mmm key (the old key
// under previous) applies at once; a broken file, and one that changes
// the listen address, are refused and the running config serves on; a
// request in flight across a reload finishes on the config it started
// with.
func TestReloadWhileServing(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		slow := gatewaytest.HTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			time.Sleep(300 * time.Millisecond)
			_, _ = io.WriteString(w, "slow answer")
		}))
		rg := gatewaytest.Start(t, gatewaytest.Options{Store: store, Routes: gatewaytest.DefaultRoutes + "  - path_prefix: /slow/\n    public: true\n    upstream: " + slow.URL + "\n"})
		old := rg.Login(t)

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
		rg.EditConfig(t, "    secret: "+gatewaytest.TestSecret+"\n", "    secret: "+newSecret+"\n    previous:\n      - secret: "+gatewaytest.TestSecret+"\n")
		rg.EditConfig(t, "routes:\n", "routes:\n  - path_prefix: /v2/\n    dialects: [mmm]\n    upstream: echo\n")
		if err := rg.GW.Reload(rg.Path, nil); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if r, seen := rg.Echo(t, "/v2/x", map[string]string{"x-mmm-accesstoken": old.Access}); seen == nil {
			t.Fatalf("the added route with a token of the previous key: %s", r.Raw)
		}
		fresh := rg.Login(t)
		if fresh.Access == old.Access {
			t.Fatal("no new token")
		}
		if status := <-inflight; status != 200 {
			t.Fatalf("the request in flight across the reload: %d", status)
		}

		rg.EditConfig(t, "routes:\n", "routes:\n  - path_prefx: /broken/\n")
		if err := rg.GW.Reload(rg.Path, nil); err == nil || !strings.Contains(err.Error(), "routes[0].path_prefx: unknown key") {
			t.Fatalf("broken reload: %v", err)
		}
		if m := rg.MetricsText(t); gatewaytest.MetricValue(m, "authgate_config_last_reload_successful") != 0 {
			t.Fatal("a failed reload is not shown")
		}
		if r, seen := rg.Echo(t, "/v2/x", map[string]string{"x-mmm-accesstoken": fresh.Access}); seen == nil {
			t.Fatalf("after a broken reload: %s", r.Raw)
		}
		rg.EditConfig(t, "  - path_prefx: /broken/\n", "")
		rg.EditConfig(t, "listen: 127.0.0.1:0\n", "listen: 127.0.0.1:1\n")
		if err := rg.GW.Reload(rg.Path, nil); err == nil || !strings.Contains(err.Error(), "server.listen: cannot change while the gateway runs") {
			t.Fatalf("a reload changing server.listen: %v", err)
		}
		rg.EditConfig(t, "listen: 127.0.0.1:1\n", "listen: 127.0.0.1:0\n")
		if err := rg.GW.Reload(rg.Path, nil); err != nil {
			t.Fatalf("reload after the fix: %v", err)
		}
		m := rg.MetricsText(t)
		if gatewaytest.MetricValue(m, "authgate_config_last_reload_successful") != 1 || gatewaytest.MetricValue(m, "authgate_config_last_reload_success_timestamp_seconds") <= 0 {
			t.Fatalf("reload metrics:\n%s", gatewaytest.GrepLines(m, "authgate_config"))
		}
		stop()
		wg.Wait()
		if n := failures.Load(); n != 0 {
			t.Fatalf("%d of %d requests failed during the reloads", n, sent.Load())
		}
		if !strings.Contains(rg.Logs.String(), `"msg":"config reload failed; the running config stays"`) {
			t.Error("no log line for the failed reload")
		}
	})
}

// TestWatchConfigReloadsOnAFileItNames: with the watch on, a user added to
// the users file can log in without a signal or a restart.
func TestWatchConfigReloadsOnAFileItNames(t *testing.T) {
	rg := gatewaytest.Start(t, gatewaytest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rg.GW.WatchConfig(ctx, rg.Path, nil, 20*time.Millisecond)
	users := filepath.Join(filepath.Dir(rg.Path), "users.yaml")
	raw, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	login := `{"account":"newcomer","password":"demo123"}`
	if r := rg.Do(t, "POST", "/auth/login", nil, login); r.Code(t) != "10003" {
		t.Fatalf("an unknown account: %s", r.Raw)
	}
	hash := strings.SplitN(strings.SplitN(string(raw), `password_hash: "`, 2)[1], `"`, 2)[0]
	added := string(raw) + "  - id: 77\n    account: newcomer\n    password_hash: \"" + hash + "\"\n    companies: [1]\n"
	if err := os.WriteFile(users, []byte(added), 0o600); err != nil {
		t.Fatal(err)
	}
	dialecttest.WaitFor(t, "the new user to log in", func() bool {
		return rg.Do(t, "POST", "/auth/login", nil, login).Body["code"] == "00000"
	})
}

// TestReloadTheDemoConfig: the repository's config.yaml, every dialect in
// it, reloads over itself, and each dialect's own series carry on across
// the reloads (the rebuilt instances take over the running ones'
// collectors) instead of starting again from zero.
func TestReloadTheDemoConfig(t *testing.T) {
	g := gatewaytest.Build(t, "../config.yaml", gateway.Options{})
	srv := gatewaytest.NewServer(t, g)
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
	if v := gatewaytest.MetricValue(rec.Body.String(), `authgate_appkey_logins_total{dialect="appkey",result="bad_credentials"}`); v != 2 {
		t.Fatalf("the appkey counter across two reloads = %v, want 2 (one login before, one after)", v)
	}
}
