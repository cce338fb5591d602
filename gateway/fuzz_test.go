package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/authgate/authgate/gateway"
	"github.com/authgate/authgate/gateway/gatewaytest"
)

// FuzzNoPathSlipsPastAuthentication sends arbitrary request paths, without
// credentials, to a gateway with a protected /v1/ and a public /open/: the
// echo upstream may only ever be reached under /open/, and it always gets
// the canonical path the route table matched.
func FuzzNoPathSlipsPastAuthentication(f *testing.F) {
	for _, s := range []string{"/v1/x", "/open/x", "/open/%2e%2e/v1/x", "/open/..%2fv1", "//open//../v1/", "/open/%252e%252e/v1", "/OPEN/x", "/open\\..\\v1",
		"/open/..;/v1/x", "/open;x/../v1/x", "/open/..%3b/v1", "/open/%3b/../v1", "/open\\;..\\v1", "/open/.;/x", "/;/open/x", "/open;jsessionid=1/x"} {
		f.Add(s)
	}
	path := gatewaytest.WriteConfig(f, gatewaytest.Options{Routes: `routes:
  - path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
  - path_prefix: /open/
    public: true
    upstream: echo
`})
	g := gatewaytest.Build(f, path, gateway.Options{})
	h := g.Handler()
	f.Fuzz(func(t *testing.T, rawPath string) {
		if !strings.HasPrefix(rawPath, "/") {
			return
		}
		u, err := url.ParseRequestURI(rawPath)
		if err != nil || u.RawQuery != "" || u.Fragment != "" {
			return
		}
		req := &http.Request{Method: "GET", URL: u, RequestURI: rawPath, Host: "gw", Header: http.Header{},
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "192.0.2.1:1234"}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var echo struct {
			Path    string              `json:"path"`
			Headers map[string][]string `json:"headers"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &echo) != nil || echo.Headers == nil {
			return // not an upstream answer
		}
		if !strings.HasPrefix(echo.Path, "/open/") {
			t.Fatalf("%q reached the upstream as %q without credentials", rawPath, echo.Path)
		}
		if strings.Contains(echo.Path, "/../") || strings.Contains(echo.Path, "//") || strings.HasSuffix(echo.Path, "/..") || strings.ContainsAny(echo.Path, ";\\") {
			t.Fatalf("%q reached the upstream as the non-canonical %q", rawPath, echo.Path)
		}
		if _, ok := echo.Headers["X-Auth-User-Id"]; ok {
			t.Fatalf("%q: the public route got an identity header", rawPath)
		}
	})
}
