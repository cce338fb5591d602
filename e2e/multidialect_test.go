package e2e_test

import (
	"testing"
	"time"

	"github.com/authgate/authgate/gateway/gatewaytest"
	"github.com/authgate/authgate/sms/smstest"
)

// TestRouteTriesItsDialectsInOrder: mobile and appkey both read
// Authorization. On a route listing both, in either order, each one's
// token is accepted and decided by its own dialect; a token of neither is
// refused in the envelope of the route's first dialect.
func TestRouteTriesItsDialectsInOrder(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		svc := smstest.NewReceiver(t)
		e := gatewaytest.StartAppkeyRoutes(t, store, "  mobile:\n    type: mobile\n    secret: mobile-test-signing-key-0123456789abcdef\n"+svc.SenderYAML("    "), `routes:
  - name: mobile-first
    path_prefix: /ma/
    dialects: [mobile, appkey]
    upstream: echo
  - name: appkey-first
    path_prefix: /am/
    dialects: [appkey, mobile]
    upstream: echo
`)
		m := &gatewaytest.MobileEnv{Gateway: e.Gateway, SMS: svc}
		mob := m.Login(t, "13800138000", "dev-1")
		app, _ := e.Login(t, "app-1")

		for _, prefix := range []string{"/ma/", "/am/"} {
			for name, tc := range map[string]struct{ token, dialect, user string }{
				"mobile token": {mob.Access, "mobile", "10"},
				"appkey token": {app, "appkey", "9001"},
			} {
				r, seen := e.Echo(t, prefix+"x", gatewaytest.Bearer(tc.token))
				if seen == nil {
					t.Fatalf("%s%s: %d %s", prefix, name, r.Status, r.Raw)
				}
				if got := seen["X-Auth-Dialect"]; len(got) != 1 || got[0] != tc.dialect {
					t.Errorf("%s with a %s: decided by %v, want %s", prefix, name, got, tc.dialect)
				}
				if got := seen["X-Auth-User-Id"]; len(got) != 1 || got[0] != tc.user {
					t.Errorf("%s with a %s: user %v, want %s", prefix, name, got, tc.user)
				}
			}
		}

		// Garbage and no credential: the first dialect's refusal.
		for _, h := range []map[string]string{gatewaytest.Bearer("garbage"), gatewaytest.Bearer("a.b.c"), nil} {
			if r, _ := e.Echo(t, "/ma/x", h); r.Status != 401 || (r.IntCode(t) != 1202 && r.IntCode(t) != 1201) {
				t.Errorf("/ma/ with %v: %d %s, want the mobile envelope", h, r.Status, r.Raw)
			}
			r, _ := e.Echo(t, "/am/x", h)
			if r.Status != 401 || r.Body["error"] != "Unauthorized" || r.Body["path"] != "/am/x" {
				t.Errorf("/am/ with %v: %d %s, want Spring's 401 body", h, r.Status, r.Raw)
			}
		}

		// An expired mobile token is still mobile's to answer, behind appkey.
		e.Clock.Advance(3 * time.Hour)
		if r, _ := e.Echo(t, "/am/x", gatewaytest.Bearer(mob.Access)); r.Status != 401 || r.IntCode(t) != 1203 {
			t.Errorf("expired mobile token on /am/: %d %s, want mobile's 1203", r.Status, r.Raw)
		}
	})
}
