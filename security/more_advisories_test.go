package security_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/legacytest"
)

// TestAPISIX_CVE_2025_46647: APISIX's openid-connect plugin, introspecting
// at a service that answers for several issuers, took any issuer's token
// as its own (and its fix, apache/apisix#13916, checks the answer's iss
// against valid_issuers). Here require.issuer holds the exchange to one
// issuer: a genuine token of another issuer at the same service, or an
// answer that names none, is refused in the dialect's envelope.
func TestAPISIX_CVE_2025_46647(t *testing.T) {
	legacy := legacytest.Start(t, time.Now)
	apps, err := filepath.Abs("../deploy/demo/apps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tg := start(t, "  partners:\n    type: appkey\n    secret: security-suite-appkey-key-0123456789\n    apps_file: "+apps+
		"\n    legacy:\n      introspect:\n        url: "+legacy.URL+"/introspect\n        require: {issuer: https://sso.example/tenant-a}\n", "")
	exchange := func(issuer string) (int, string) {
		tok := legacy.IssueOpaqueAs(legacytest.Opaque{Subject: "demo-app", Expires: time.Now().Add(time.Hour), Issuer: issuer})
		resp, err := http.Post("http://"+tg.addr+"/api/base/token/refresh?refreshToken="+tok, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, issuer := range []string{"https://sso.example/tenant-b", "", "https://sso.example/tenant-a/"} {
		if status, body := exchange(issuer); status != 401 || !strings.Contains(body, `"status":401`) {
			t.Errorf("a token of issuer %q: %d %s, want appkey's 401", issuer, status, body)
		}
	}
	if status, body := exchange("https://sso.example/tenant-a"); status != 200 {
		t.Fatalf("a token of the required issuer: %d %s", status, body)
	}
}

// TestEnvoy_CVE_2024_23326 (GHSA-vcf8-7238-v74c): Envoy took an
// upstream's 200 with an Upgrade header, answered to a client's upgrade
// request, as the switch of protocols, and from then on passed the
// client's bytes to the upstream unparsed: a request smuggled past the
// proxy's checks. Here only a 101 switches; after a 200 the connection
// stays HTTP, and the client's next request is authenticated as any.
func TestEnvoy_CVE_2024_23326(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", r.Header.Get("Upgrade")) // echoed, as the advisory's upstream does
		_, _ = io.WriteString(w, "not switching")
	}))
	t.Cleanup(echo.Close)
	tg := start(t, "", "  - name: echo\n    path_prefix: /echo/\n    public: true\n    upstream: "+echo.URL+"\n")

	c, err := net.Dial("tcp", tg.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET /echo/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the upgrade answered by a 200: %d, want the upstream's 200", resp.StatusCode)
	}
	// The smuggled request: were the connection a tunnel now, it would
	// reach the echo upstream unauthenticated, as /v1/orders.
	if _, err := io.WriteString(c, "GET /v1/orders HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(br, nil); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !refused(string(b)) {
			t.Fatalf("the request after a 200 upgrade answer was not authenticated: %d %s", resp.StatusCode, b)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) != 1 || paths[0] != "/echo/ws" {
		t.Fatalf("the echo upstream received %q, want only /echo/ws", paths)
	}
	if _, ok := tg.up.reached("/v1/orders"); ok {
		t.Fatal("the request after the upgrade reached the protected upstream without a token")
	}
}

// TestEnvoy_CVE_2023_35944 (GHSA-pvgm-7jpg-pw5g): Envoy forwarded
// requests whose scheme was spelled in mixed case (hTTp) past filters
// that compared it exactly. Here a request line in absolute form, with
// any spelling of the scheme, is routed and authenticated by its path
// like any other: never past a protected route's dialect.
func TestEnvoy_CVE_2023_35944(t *testing.T) {
	tg := start(t, "", "")
	unauthenticatedReach(t, tg, "http://x/v1/orders", "hTTp://x/v1/orders", "HTTP://x/v1/orders", "hTTps://x/v1/orders")
	if status, _ := tg.raw(t, "GET HTTP://x/pub/open HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); status != 200 {
		t.Fatalf("a public path in absolute form with an upper-case scheme: %d, want 200", status)
	}
}
