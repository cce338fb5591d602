package e2e_test

import (
	"testing"

	"github.com/authgate/authgate/gateway/gatewaytest"
)

// springShape checks Spring Boot's default error body.

// TestAppkeyEndToEnd: an app login through the gateway, the identity
// headers its upstream receives, and tokens that do not cross dialects.
func TestAppkeyEndToEnd(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		e := gatewaytest.StartAppkey(t, store, "")
		access, _ := e.Login(t, "app-1")
		_, seen := e.Echo(t, "/api/orders", gatewaytest.Bearer(access))
		for k, v := range map[string]string{"X-Auth-User-Id": "9001", "X-Auth-App-Id": "app-1", "X-Auth-Org-Id": "501",
			"X-Auth-Product-Id": "701", "X-Auth-User-Type": "CLIENT", "X-Auth-Dialect": "appkey"} {
			if g := seen[k]; len(g) != 1 || g[0] != v {
				t.Errorf("upstream %s = %v, want %s", k, g, v)
			}
		}
		if _, ok := seen["Authorization"]; ok {
			t.Error("the token reached the upstream")
		}
		mmm := e.Gateway.Login(t)
		if r, _ := e.Echo(t, "/api/orders", gatewaytest.Bearer(mmm.Access)); r.Status != 401 {
			t.Errorf("mmm token on /api/: %d", r.Status)
		}
		if r, _ := e.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": access}); r.Code(t) != "10013" {
			t.Errorf("appkey token on an mmm route: %s", r.Raw)
		}
	})
}
