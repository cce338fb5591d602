package gateway_test

import (
	"testing"
	"time"

	"github.com/authgate/authgate/sms/smstest"
)

// TestRouteTriesItsDialectsInOrder: mobile and appkey both read
// Authorization. On a route listing both, in either order, each one's
// token is accepted and decided by its own dialect; a token of neither is
// refused in the envelope of the route's first dialect.
func TestRouteTriesItsDialectsInOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		svc := smstest.NewReceiver(t)
		e := startAppkeyRoutes(t, store, "  mobile:\n    type: mobile\n    secret: mobile-test-signing-key-0123456789abcdef\n"+svc.SenderYAML("    "), `routes:
  - name: mobile-first
    path_prefix: /ma/
    dialects: [mobile, appkey]
    upstream: echo
  - name: appkey-first
    path_prefix: /am/
    dialects: [appkey, mobile]
    upstream: echo
`)
		m := &mobileEnv{testGateway: e.testGateway, sms: svc}
		mob := m.login(t, "13800138000", "dev-1")
		app, _ := e.login(t, "app-1")

		for _, prefix := range []string{"/ma/", "/am/"} {
			for name, tc := range map[string]struct{ token, dialect, user string }{
				"mobile token": {mob.access, "mobile", "10"},
				"appkey token": {app, "appkey", "9001"},
			} {
				r, seen := e.echo(t, prefix+"x", bearer(tc.token))
				if seen == nil {
					t.Fatalf("%s%s: %d %s", prefix, name, r.status, r.raw)
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
		for _, h := range []map[string]string{bearer("garbage"), bearer("a.b.c"), nil} {
			if r, _ := e.echo(t, "/ma/x", h); r.status != 401 || (r.intCode(t) != 1202 && r.intCode(t) != 1201) {
				t.Errorf("/ma/ with %v: %d %s, want the mobile envelope", h, r.status, r.raw)
			}
			r, _ := e.echo(t, "/am/x", h)
			if r.status != 401 || r.body["error"] != "Unauthorized" || r.body["path"] != "/am/x" {
				t.Errorf("/am/ with %v: %d %s, want Spring's 401 body", h, r.status, r.raw)
			}
		}

		// An expired mobile token is still mobile's to answer, behind appkey.
		e.clock.Advance(3 * time.Hour)
		if r, _ := e.echo(t, "/am/x", bearer(mob.access)); r.status != 401 || r.intCode(t) != 1203 {
			t.Errorf("expired mobile token on /am/: %d %s, want mobile's 1203", r.status, r.raw)
		}
	})
}
