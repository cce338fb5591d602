package gateway_test

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway/gatewaytest"
	"github.com/authgate/authgate/identity"
	"github.com/authgate/authgate/sms/smstest"
)

const adminToken = "admin-token-of-ops-0123456789"

// adminBlock names two admin callers: ops holds adminToken, stored as its
// digest; ci another token, stored as a bcrypt hash (the form of earlier
// versions, which still works).
func adminBlock(t testing.TB) string {
	other, err := bcrypt.GenerateFromPassword([]byte("another-admin-token-0123456789"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return "admin:\n  tokens:\n    - name: ci\n      hash: \"" + string(other) + "\"\n    - name: ops\n      hash: \"" + identity.DigestToken(adminToken) + "\"\n"
}

// TestAdminAPI: every call of the admin API over HTTP, on memory and on
// Redis (where a second gateway process refuses what the first revoked),
// and its refusal without a token or with a wrong one; audited, counted,
// never a token in an answer.
func TestAdminAPI(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		svc := smstest.NewReceiver(t)
		tg := gatewaytest.Start(t, gatewaytest.Options{Store: store, Extra: adminBlock(t),
			More:   "  mobile:\n    type: mobile\n    secret: mobile-test-signing-key-0123456789abcdef\n" + svc.SenderYAML("    "),
			Routes: gatewaytest.DefaultRoutes + "  - path_prefix: /app/\n    dialects: [mobile]\n    upstream: echo\n"})
		list := "/admin/v1/dialects/mmm/subjects/10/sessions"

		for _, tok := range []string{"", "wrong-token"} {
			r := tg.AdminCall(t, "GET", list, tok)
			if r.Status != 401 || r.Header.Get("WWW-Authenticate") == "" || r.Body["error"] == nil {
				t.Fatalf("token %q: %d %s", tok, r.Status, r.Raw)
			}
		}

		p1, p2 := tg.Login(t), tg.Login(t)
		_, seen := tg.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p1.Access})
		sid1 := seen["X-Auth-Session-Id"][0]
		var b *gatewaytest.Gateway
		if store == "redis" {
			b = gatewaytest.StartReplica(t, tg)
			b.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p1.Access}) // cached there
		}

		r := tg.AdminCall(t, "GET", list, adminToken)
		sessions, _ := r.Body["sessions"].([]any)
		if r.Status != 200 || len(sessions) != 2 || r.Body["subject"] != "10" || r.Body["dialect"] != "mmm" {
			t.Fatalf("list: %d %s", r.Status, r.Raw)
		}
		first := sessions[0].(map[string]any)
		for _, k := range []string{"id", "device", "company", "created_at", "last_seen", "expires_at"} {
			if _, ok := first[k].(string); !ok {
				t.Errorf("session field %s = %v, want a string", k, first[k])
			}
		}
		for _, secret := range []string{p1.Access, p1.Refresh, p2.Access, p2.Refresh} {
			if strings.Contains(string(r.Raw), secret) {
				t.Fatal("a token in the admin answer")
			}
		}

		if r := tg.AdminCall(t, "DELETE", "/admin/v1/dialects/mmm/sessions/"+sid1, adminToken); r.Status != 200 || r.Body["revoked"] == nil {
			t.Fatalf("revoke session: %d %s", r.Status, r.Raw)
		}
		if r, _ := tg.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p1.Access}); r.Code(t) != "10014" {
			t.Fatalf("the revoked session still works: %s", r.Raw)
		}
		if b != nil {
			dialecttest.WaitFor(t, "the second process to refuse the revoked session", func() bool {
				r, _ := b.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p1.Access})
				return r.Body["code"] == "10014"
			})
		}
		if r, _ := tg.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p2.Access}); r.Status != 200 {
			t.Fatalf("the other session ended too: %s", r.Raw)
		}
		for _, path := range []string{"/admin/v1/dialects/mmm/sessions/" + sid1, "/admin/v1/dialects/mobile/sessions/" + sid1, "/admin/v1/dialects/nope/sessions/x"} {
			if r := tg.AdminCall(t, "DELETE", path, adminToken); r.Status != 404 {
				t.Errorf("DELETE %s: %d %s, want 404", path, r.Status, r.Raw)
			}
		}

		r = tg.AdminCall(t, "DELETE", list, adminToken)
		if r.Status != 200 || r.Body["revoked"] == nil {
			t.Fatalf("revoke subject: %d %s", r.Status, r.Raw)
		}
		if r, _ := tg.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p2.Access}); r.Code(t) != "10014" {
			t.Fatalf("logout everywhere left a session: %s", r.Raw)
		}

		e := &gatewaytest.MobileEnv{Gateway: tg, SMS: svc}
		l := e.Login(t, "13912345678", "pc-1")
		r = tg.AdminCall(t, "DELETE", "/admin/v1/dialects/mobile/subjects/1000000/devices/pc-1", adminToken)
		if r.Status != 200 || r.Body["revoked"] == nil {
			t.Fatalf("kick device: %d %s", r.Status, r.Raw)
		}
		if r, _ := e.Echo(t, "/app/x", gatewaytest.Bearer(l.Access)); r.Status == 200 {
			t.Fatalf("the kicked device still works: %s", r.Raw)
		}

		m := tg.MetricsText(t)
		for _, want := range []string{
			`authgate_admin_requests_total{action="any",result="unauthorized"} 2`,
			`authgate_admin_requests_total{action="list_sessions",result="ok"} 1`,
			`authgate_admin_requests_total{action="revoke_session",result="ok"} 1`,
			`authgate_admin_requests_total{action="revoke_session",result="not_found"} 3`,
			`authgate_admin_requests_total{action="revoke_subject",result="ok"} 1`,
			`authgate_admin_requests_total{action="kick_device",result="ok"} 1`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s:\n%s", want, gatewaytest.GrepLines(m, "authgate_admin"))
			}
		}
		gatewaytest.CheckDashboard(t, m, "authgate_admin_")
		logs := tg.Logs.String()
		if !strings.Contains(logs, `"event":"admin.revoke_session"`) || !strings.Contains(logs, `"admin":"ops"`) || strings.Contains(logs, adminToken) {
			t.Errorf("audit lines: want admin.revoke_session by ops, never the token:\n%s", gatewaytest.GrepLines(logs, "admin"))
		}
	})
}

// TestAdminAPIOff: without admin tokens the admin API does not exist.
func TestAdminAPIOff(t *testing.T) {
	tg := gatewaytest.Start(t, gatewaytest.Options{})
	if r := tg.AdminCall(t, "GET", "/admin/v1/dialects/mmm/subjects/10/sessions", adminToken); r.Status != 404 {
		t.Fatalf("admin API without tokens: %d %s", r.Status, r.Raw)
	}
}

// TestAdminOpenAPIMatchesHandlers: deploy/admin-openapi.yaml documents
// exactly the routes the admin API serves, method by method, the calls
// dialects serve through it (appkey's apps) among them.
func TestAdminOpenAPIMatchesHandlers(t *testing.T) {
	raw, err := os.ReadFile("../deploy/admin-openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
			responses, _ := op.(map[string]any)["responses"].(map[string]any)
			for _, code := range []string{"200", "401"} {
				if _, ok := responses[code]; !ok {
					t.Errorf("%s %s documents no %s answer", method, path, code)
				}
			}
		}
	}
	// With an appkey instance, whose apps calls the admin API serves for it.
	tg := gatewaytest.StartAppkeyRoutes(t, "memory", "", gatewaytest.DefaultRoutes+"  - path_prefix: /api/\n    dialects: [appkey]\n    upstream: echo\n"+adminBlock(t)).Gateway
	var served []string
	err = chi.Walk(tg.GW.AdminHandler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/admin/") {
			served = append(served, method+" "+route)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("documented:\n  %s\nserved:\n  %s", strings.Join(documented, "\n  "), strings.Join(served, "\n  "))
	}
}

// TestAdminApps: an appkey app switched off from the admin API cannot log
// in or go on with its sessions, on this replica and (Redis) another one;
// switched on again, it logs in.
func TestAdminApps(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		e := gatewaytest.StartAppkeyRoutes(t, store, "", gatewaytest.DefaultRoutes+"  - path_prefix: /api/\n    dialects: [appkey]\n    upstream: echo\nadmin:\n  tokens:\n"+
			strings.TrimPrefix(adminBlock(t), "admin:\n  tokens:\n"))
		access, _ := e.Login(t, "app-1")
		var other *gatewaytest.AppEnv
		if store == "redis" {
			other = gatewaytest.StartAppkeyWith(t, e.Opts)
			if r, _ := other.Echo(t, "/api/x", gatewaytest.Bearer(access)); r.Status != 200 { // cached there
				t.Fatalf("the other replica: %s", r.Raw)
			}
		}

		r := e.AdminCall(t, "GET", "/admin/v1/dialects/appkey/apps", adminToken)
		apps, _ := r.Body["apps"].([]any)
		if r.Status != 200 || len(apps) != 2 || apps[0].(map[string]any)["app_id"] != "app-1" || apps[0].(map[string]any)["enabled"] != true || apps[1].(map[string]any)["enabled"] != false {
			t.Fatalf("list apps: %d %s", r.Status, r.Raw)
		}
		if strings.Contains(string(r.Raw), "hash") || strings.Contains(string(r.Raw), "key-app-1") {
			t.Fatal("a secret in the apps list")
		}
		r = e.AdminCall(t, "POST", "/admin/v1/dialects/appkey/apps/app-1/disable", adminToken)
		if r.Status != 200 || r.Body["enabled"] != false || r.Body["revoked"] == nil {
			t.Fatalf("disable: %d %s", r.Status, r.Raw)
		}
		if r, _ := e.Echo(t, "/api/x", gatewaytest.Bearer(access)); r.Status == 200 {
			t.Fatalf("a session of the disabled app still works: %s", r.Raw)
		}
		if r := e.Do(t, "POST", "/api/base/token/login", nil, gatewaytest.AppLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")); r.Status != 403 {
			t.Fatalf("login of the disabled app: %d %s", r.Status, r.Raw)
		}
		if other != nil {
			dialecttest.WaitFor(t, "the other replica to refuse the disabled app", func() bool {
				r, _ := other.Echo(t, "/api/x", gatewaytest.Bearer(access))
				login := other.Do(t, "POST", "/api/base/token/login", nil, gatewaytest.AppLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY"))
				return r.Status != 200 && login.Status == 403
			})
		}
		for _, path := range []string{"/admin/v1/dialects/appkey/apps/nope/disable", "/admin/v1/dialects/mmm/apps/app-1/disable"} {
			if r := e.AdminCall(t, "POST", path, adminToken); r.Status != 404 {
				t.Errorf("POST %s: %d %s", path, r.Status, r.Raw)
			}
		}
		r = e.AdminCall(t, "POST", "/admin/v1/dialects/appkey/apps/app-1/enable", adminToken)
		if r.Status != 200 || r.Body["enabled"] != true {
			t.Fatalf("enable: %d %s", r.Status, r.Raw)
		}
		if r := e.Do(t, "POST", "/api/base/token/login", nil, gatewaytest.AppLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY")); r.Status != 200 {
			t.Fatalf("login after enabling: %d %s", r.Status, r.Raw)
		}
	})
}

// TestAdminWrongTokensAreCheap: 200 concurrent requests with wrong tokens
// against digest tokens cost a SHA-256 each: the heap stays within a few
// MiB (an argon2id check holds 19 MiB each); the bcrypt token of the old
// form is checked under the shared bound and warned about.
func TestAdminWrongTokensAreCheap(t *testing.T) {
	tg := gatewaytest.Start(t, gatewaytest.Options{Extra: adminBlock(t) + "  failure_limit: 100000\n"})
	if w := strings.Join(tg.GW.Warnings(), "\n"); !strings.Contains(w, "admin.tokens[0].hash: a password hash") || strings.Contains(w, "admin.tokens[1]") {
		t.Errorf("warnings = %q, want one for the bcrypt token only", w)
	}
	list := "/admin/v1/dialects/mmm/subjects/10/sessions"
	if r := tg.AdminCall(t, "GET", list, adminToken); r.Status != 200 {
		t.Fatalf("the digest token: %d %s", r.Status, r.Raw)
	}
	if r := tg.AdminCall(t, "GET", list, "another-admin-token-0123456789"); r.Status != 200 {
		t.Fatalf("the bcrypt token: %d %s", r.Status, r.Raw)
	}
	// Only digests configured: the wrong tokens' cost.
	dg := gatewaytest.Start(t, gatewaytest.Options{Extra: "admin:\n  failure_limit: 100000\n  tokens:\n    - name: a\n      hash: " + identity.DigestToken(adminToken) +
		"\n    - name: b\n      hash: " + identity.DigestToken(adminToken+"-b") + "\n    - name: c\n      hash: " + identity.DigestToken(adminToken+"-c") + "\n"})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	var peak atomic.Uint64
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := dg.AdminCall(t, "GET", list, fmt.Sprintf("wrong-admin-token-%d-0123456789abcdef", i))
			if r.Status != 401 {
				t.Errorf("a wrong token: %d", r.Status)
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			for {
				p := peak.Load()
				if m.HeapAlloc <= p || peak.CompareAndSwap(p, m.HeapAlloc) {
					break
				}
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(peak.Load()) - int64(before.HeapAlloc)
	t.Logf("heap %d MiB before, peak %+d MiB during 200 concurrent wrong tokens, %d MiB after", before.HeapAlloc>>20, grew>>20, after.HeapAlloc>>20)
	if grew > 16<<20 {
		t.Errorf("200 concurrent wrong admin tokens grew the heap by %d MiB", grew>>20)
	}
}

// TestAdminFailuresAreLimited: past admin.failure_limit failed
// authentications in a window, an address gets 429 with Retry-After,
// even with a good token, counted and audited; the window passes and it
// may try again. A success does not count.
func TestAdminFailuresAreLimited(t *testing.T) {
	tg := gatewaytest.Start(t, gatewaytest.Options{Extra: adminBlock(t) + "  failure_limit: 3\n  failure_window: 1m\n"})
	list := "/admin/v1/dialects/mmm/subjects/10/sessions"
	for range 5 {
		if r := tg.AdminCall(t, "GET", list, adminToken); r.Status != 200 {
			t.Fatalf("a good token: %d %s", r.Status, r.Raw)
		}
	}
	for i := range 3 {
		if r := tg.AdminCall(t, "GET", list, "wrong-token"); r.Status != 401 {
			t.Fatalf("failure %d: %d %s", i, r.Status, r.Raw)
		}
	}
	for _, tok := range []string{"wrong-token", adminToken} {
		r := tg.AdminCall(t, "GET", list, tok)
		if r.Status != 429 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("past the limit (%s): %d %v %s", tok, r.Status, r.Header, r.Raw)
		}
	}
	if m := tg.MetricsText(t); gatewaytest.MetricValue(m, `authgate_admin_requests_total{action="any",result="rate_limited"}`) != 2 {
		t.Errorf("rate-limited calls not counted:\n%s", gatewaytest.GrepLines(m, "authgate_admin_requests_total"))
	}
	if logs := tg.Logs.String(); !strings.Contains(logs, `"event":"admin.any"`) || !strings.Contains(logs, `"result":"rate_limited"`) || strings.Contains(logs, adminToken) {
		t.Errorf("the refusal is not audited (or a token is logged):\n%s", logs)
	}
	tg.Clock.Advance(61 * time.Second)
	if r := tg.AdminCall(t, "GET", list, adminToken); r.Status != 200 {
		t.Fatalf("after the window: %d %s", r.Status, r.Raw)
	}
}

// TestAdminPprof: Go's runtime profiles are on the admin listener only
// when admin.pprof is set, and never on the public one.
func TestAdminPprof(t *testing.T) {
	off := gatewaytest.Start(t, gatewaytest.Options{})
	if r := off.AdminCall(t, "GET", "/debug/pprof/heap?debug=1", ""); r.Status != 404 {
		t.Fatalf("pprof without admin.pprof: %d", r.Status)
	}
	on := gatewaytest.Start(t, gatewaytest.Options{Extra: "admin:\n  pprof: true\n"})
	if r := on.AdminCall(t, "GET", "/debug/pprof/heap?debug=1", ""); r.Status != 200 || !strings.Contains(string(r.Raw), "heap profile:") {
		t.Fatalf("pprof heap profile: %d %.200s", r.Status, r.Raw)
	}
	if r := on.AdminCall(t, "GET", "/debug/pprof/profile?seconds=1", ""); r.Status != 200 || r.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("pprof CPU profile: %d %v", r.Status, r.Header)
	}
	if r := on.Do(t, "GET", "/debug/pprof/heap?debug=1", nil, ""); r.Status == 200 {
		t.Fatalf("pprof on the public listener: %d %.200s", r.Status, r.Raw)
	}
}
