package e2e_test

import (
	"testing"

	"github.com/authgate/authgate/gateway/gatewaytest"
)

func TestMobileAndMMMTokensDoNotCross(t *testing.T) {
	e := gatewaytest.StartMobile(t, "memory", "")
	mob := e.Login(t, "13912340010", "d")
	mmm := e.Gateway.Login(t)
	if r, _ := e.Echo(t, "/app/x", gatewaytest.Bearer(mmm.Access)); r.Status != 401 || r.IntCode(t) != 1202 {
		t.Errorf("mmm token on a mobile route = %d %s, want 401 1202", r.Status, r.Raw)
	}
	if r, _ := e.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": mob.Access}); r.Code(t) != "10013" {
		t.Errorf("mobile token on an mmm route = %s, want 10013", r.Raw)
	}
	if r, _ := e.Echo(t, "/v1/x", gatewaytest.Bearer(mob.Access)); r.Code(t) != "10011" {
		t.Errorf("mobile bearer on an mmm route = %s, want 10011", r.Raw)
	}
}

// TestMobileEndToEnd: an SMS login through the gateway, and the identity
// headers a protected route's upstream receives (never the token).
func TestMobileEndToEnd(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		e := gatewaytest.StartMobile(t, store, "")
		l := e.Login(t, "13912345678", "phone-1")
		_, seen := e.Echo(t, "/app/profile", gatewaytest.Bearer(l.Access))
		want := map[string]string{"X-Auth-User-Id": "1000000", "X-Auth-Mobile": "13912345678", "X-Auth-Device": "phone-1",
			"X-Auth-Company-Type": "1", "X-Auth-Product-Type": "2", "X-Auth-Dialect": "mobile"}
		for k, v := range want {
			if got := seen[k]; len(got) != 1 || got[0] != v {
				t.Errorf("upstream %s = %v, want %s", k, got, v)
			}
		}
		if _, ok := seen["Authorization"]; ok {
			t.Error("the token reached the upstream")
		}
	})
}
