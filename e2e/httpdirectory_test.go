package e2e_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/authgate/authgate/gateway/gatewaytest"
)

// TestMMMLogsInThroughTheLegacyService: with identity.type http the mmm
// login asks the legacy service, and its refresh re-validates the user
// there; a legacy service that fails is the store-unavailable code, not
// a wrong password.
func TestMMMLogsInThroughTheLegacyService(t *testing.T) {
	var failing atomic.Bool
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		demo := map[string]any{"id": 10, "account": "demo", "name": "Demo User", "companies": []int{1, 2}}
		switch {
		case r.Method == "POST" && r.URL.Path == "/check":
			var req map[string]string
			_ = json.NewDecoder(r.Body).Decode(&req)
			if req["account"] != "demo" || req["password"] != "demo123" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_ = json.NewEncoder(w).Encode(demo)
		case r.Method == "GET" && r.URL.Path == "/users" && r.URL.Query().Get("id") == "10":
			_ = json.NewEncoder(w).Encode(demo)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer svc.Close()
	tg := gatewaytest.Start(t, gatewaytest.Options{IdentityBlock: "identity:\n  type: http\n  http:\n    check_url: " + svc.URL + "/check\n    lookup_url: " + svc.URL + "/users\n"})
	p := tg.Login(t)
	if _, seen := tg.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p.Access}); seen == nil || seen["X-Auth-User-Id"][0] != "10" || seen["X-Auth-Company-Id"][0] != "1" {
		t.Fatalf("identity from the legacy service: %v", seen)
	}
	if r := tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, ""); r.Code(t) != "00000" {
		t.Fatalf("refresh re-validated through lookup_url: %s", r.Raw)
	}
	if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"nope"}`); r.Code(t) != "10003" {
		t.Fatalf("wrong password = %s", r.Raw)
	}
	failing.Store(true)
	if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`); r.Status != 503 || r.Code(t) != "50300" {
		t.Fatalf("legacy service failing = %d %s, want 503 50300", r.Status, r.Raw)
	}
}
