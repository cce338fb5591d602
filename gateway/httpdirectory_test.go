package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
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
	tg := startGateway(t, gwOptions{identityBlock: "identity:\n  type: http\n  http:\n    check_url: " + svc.URL + "/check\n    lookup_url: " + svc.URL + "/users\n"})
	p := tg.login(t)
	if _, seen := tg.echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p.Access}); seen == nil || seen["X-Auth-User-Id"][0] != "10" || seen["X-Auth-Company-Id"][0] != "1" {
		t.Fatalf("identity from the legacy service: %v", seen)
	}
	if r := tg.do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, ""); r.code(t) != "00000" {
		t.Fatalf("refresh re-validated through lookup_url: %s", r.raw)
	}
	if r := tg.do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"nope"}`); r.code(t) != "10003" {
		t.Fatalf("wrong password = %s", r.raw)
	}
	failing.Store(true)
	if r := tg.do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`); r.status != 503 || r.code(t) != "50300" {
		t.Fatalf("legacy service failing = %d %s, want 503 50300", r.status, r.raw)
	}
}
