package e2e_test

import (
	"testing"

	"github.com/authgate/authgate/gateway/gatewaytest"
)

// TestBov3EndToEnd: a bo login through the gateway; the upstream gets the
// identity headers and the context headers in their legacy spelling, never
// the token or the anti-replay header; the token is worth nothing on
// another dialect's route.
func TestBov3EndToEnd(t *testing.T) {
	gatewaytest.ForEachStore(t, func(t *testing.T, store string) {
		e := gatewaytest.StartBov3(t, store)
		r := e.Do(t, "POST", "/bo/api/v3/auth/login", e.Headers("proj-1"), `{"userName":"demo","password":"demo123"}`)
		if r.Status != 200 || r.Body["success"] != true {
			t.Fatalf("login = %d %s", r.Status, r.Raw)
		}
		access := r.Data(t)["accessToken"].(string)
		_, seen := e.Echo(t, "/bo/api/v3/users?page=1", e.Headers("proj-1", "Authorization", "Bearer "+access,
			"XsysId", "sys-9", "XuserFromFirstShareId", "u1", "XuserFromSecondShareId", "u2", "XfilterAreaCode", "310000", "X-Auth-Roles", "admin"))
		if seen == nil {
			t.Fatal("protected call refused")
		}
		for k, v := range map[string]string{"X-Auth-User-Id": "ptdev", "X-Auth-Owner-Id": "proj-1", "X-Auth-Roles": "development",
			"X-Auth-Dialect": "bov3", "XownerId": "proj-1", "XsysId": "sys-9", "XuserFromFirstShareId": "u1",
			"XuserFromSecondShareId": "u2", "XfilterAreaCode": "310000"} {
			if got := seen[k]; len(got) != 1 || got[0] != v {
				t.Errorf("upstream %s = %v, want [%s]", k, got, v)
			}
		}
		for _, k := range []string{"Authorization", "XverifyApi", "Xverifyapi"} {
			if _, ok := seen[k]; ok {
				t.Errorf("upstream received %s", k)
			}
		}
		if r, _ := e.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": access}); r.Code(t) != "10013" {
			t.Fatalf("bov3 token on an mmm route = %s", r.Raw)
		}
	})
}
