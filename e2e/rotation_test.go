package e2e_test

import (
	"testing"

	"github.com/authgate/authgate/gateway/gatewaytest"
)

// TestKeyRotation: a rolling key rotation on Redis replicas. Tokens signed
// with the old secret keep working on a replica that signs with the new one
// and lists the old one under previous — access tokens, refresh tokens
// (rotated into pairs of the new key) and bov3 sessions found by their
// refresh token — and are refused by one that does not list it.
func TestKeyRotation(t *testing.T) {
	const (
		oldKey = "rotation-old-signing-key-0123456789abcdef"
		newKey = "rotation-new-signing-key-0123456789abcdef"
	)
	instances := func(secret, previous string) string {
		prev := ""
		if previous != "" {
			prev = "    previous:\n      - secret: " + previous + "\n"
		}
		return "  web:\n    type: mmm\n    secret: " + secret + "\n" + prev +
			"    login_path: /web/login\n    refresh_path: /web/refresh\n    change_company_path: /web/company\n    logout_path: /web/logout\n" +
			"  bo:\n    type: bov3\n    secret: " + secret + "\n" + prev + "    verify_api:\n      enforcement: \"off\"\n"
	}
	routes := gatewaytest.DefaultRoutes + "  - path_prefix: /w/\n    dialects: [web]\n    upstream: echo\n  - path_prefix: /bo/api/v3/\n    dialects: [bo]\n    upstream: echo\n"
	before := gatewaytest.Start(t, gatewaytest.Options{Store: "redis", More: instances(oldKey, ""), Routes: routes})
	r := before.Do(t, "POST", "/web/login", nil, `{"account":"demo","password":"demo123"}`)
	old := gatewaytest.ReadPair(t, r)
	owner := map[string]string{"XownerId": "proj-1"}
	r = before.Do(t, "POST", "/bo/api/v3/auth/login", owner, `{"userName":"demo","password":"demo123"}`)
	boRefresh, _ := r.Data(t)["refreshToken"].(string)
	if boRefresh == "" {
		t.Fatalf("bov3 login: %s", r.Raw)
	}

	after := gatewaytest.Start(t, gatewaytest.Options{Store: "redis", Prefix: before.Opts.Prefix, Clock: before.Clock, More: instances(newKey, oldKey), Routes: routes})
	if r, seen := after.Echo(t, "/w/x", map[string]string{"x-mmm-accesstoken": old.Access}); seen == nil {
		t.Fatalf("an access token of the previous key: %s", r.Raw)
	}
	r = after.Do(t, "GET", "/web/refresh", map[string]string{"x-mmm-refreshtoken": old.Refresh}, "")
	if r.Code(t) != "00000" {
		t.Fatalf("a refresh token of the previous key: %s", r.Raw)
	}
	next := gatewaytest.ReadPair(t, r)
	if r, seen := after.Echo(t, "/w/x", map[string]string{"x-mmm-accesstoken": next.Access}); seen == nil {
		t.Fatalf("the new pair: %s", r.Raw)
	}
	r = after.Do(t, "GET", "/bo/api/v3/auth/token/refresh?_nodejs=common-data&refreshToken="+boRefresh, owner, "")
	if r.Status != 200 || r.Body["success"] != true {
		t.Fatalf("a bov3 refresh token of before the rotation: %d %s", r.Status, r.Raw)
	}

	// The old key dropped from previous: its tokens are done with.
	done := gatewaytest.Start(t, gatewaytest.Options{Store: "redis", Prefix: before.Opts.Prefix, Clock: before.Clock, More: instances(newKey, ""), Routes: routes})
	if r, _ := done.Echo(t, "/w/x", map[string]string{"x-mmm-accesstoken": old.Access}); r.Code(t) != "10013" {
		t.Fatalf("an access token of a dropped key: %s", r.Raw)
	}
	if r, seen := done.Echo(t, "/w/x", map[string]string{"x-mmm-accesstoken": next.Access}); seen == nil {
		t.Fatalf("a token of the new key: %s", r.Raw)
	}
}
