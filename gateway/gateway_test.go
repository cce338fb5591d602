package gateway_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authgate/authgate/config"
	"github.com/authgate/authgate/gateway/gatewaytest"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway"
)

func TestPathCanonicalisationBeforeRouting(t *testing.T) {
	tg := gatewaytest.Start(t, gatewaytest.Options{Routes: `routes:
  - name: mmm-api
    path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
  - name: open
    path_prefix: /open/
    public: true
    upstream: echo
  - name: admin
    path_prefix: /admin
    dialects: [mmm]
    upstream: echo
    methods: [GET]
`})
	p := tg.Login(t)
	auth := map[string]string{"x-mmm-accesstoken": p.Access}
	// A climb out of /v1/ lands on the route the canonical path names, and
	// the upstream receives that same path.
	r, seen := tg.Echo(t, "/v1/%2e%2e/open/x", nil)
	if seen == nil || seen[":path"][0] != "/open/x" {
		t.Fatalf("/v1/%%2e%%2e/open/x: %d %s", r.Status, r.Raw)
	}
	r, seen = tg.Echo(t, "/v1//orders/./7", auth)
	if seen == nil || seen[":path"][0] != "/v1/orders/7" {
		t.Fatalf("doubled slash and dot: %s", r.Raw)
	}
	// /admin needs a token, whatever spelling reaches it.
	for _, path := range []string{"/v1/%2e%2e/admin", "/v1/../admin", "/open/%2E%2E/admin/"} {
		r := tg.Do(t, "GET", path, nil, "")
		if r.Code(t) != "10011" {
			t.Errorf("%s reached /admin without a token: %d %s", path, r.Status, r.Raw)
		}
	}
	for _, path := range []string{"/v1/..%2fadmin", "/v1/%2fadmin", "/v1/%5cadmin", "/v1/%252e%252e/admin", "/v1/%00"} {
		req, _ := http.NewRequest("GET", tg.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", path, resp.StatusCode)
		}
	}
	// "/admin" matches whole segments only.
	if r := tg.Do(t, "GET", "/administrator", nil, ""); r.Status != 404 {
		t.Errorf("/administrator: %d, want 404", r.Status)
	}
	if r := tg.Do(t, "POST", "/admin/x", auth, "{}"); r.Status != 405 || r.Code(t) != "10005" || r.Header.Get("Allow") != "GET" {
		t.Errorf("POST on a GET route: %d %s", r.Status, r.Raw)
	}
}

func TestPublicRouteStripsIdentityHeaders(t *testing.T) {
	tg := gatewaytest.Start(t, gatewaytest.Options{Routes: gatewaytest.DefaultRoutes + `  - name: open
    path_prefix: /open/
    public: true
    upstream: echo
`})
	_, seen := tg.Echo(t, "/open/x", map[string]string{"X-Auth-User-Id": "1", "X-Auth-Dialect": "mmm", "X-Auth-Admin": "yes"})
	if seen == nil {
		t.Fatal("public route refused")
	}
	for k := range seen {
		if strings.HasPrefix(strings.ToLower(k), "x-auth") {
			t.Fatalf("public route forwarded %s", k)
		}
	}
}

func TestRoutePrecedenceHostStripAndHeaderNames(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"headers":{"X-Path":["`+r.URL.Path+`"],"X-Uid":["`+r.Header.Get("X-Uid")+`"],"X-Default":["`+r.Header.Get("X-Auth-User-Id")+`"]},"path":"backend"}`)
	}))
	defer backend.Close()
	tg := gatewaytest.Start(t, gatewaytest.Options{Routes: `routes:
  - name: generic
    path_prefix: /
    public: true
    upstream: echo
  - name: orders
    path_prefix: /v1/orders/
    dialects: [mmm]
    upstream: ` + backend.URL + `/svc
    strip_prefix: /v1
    identity_headers:
      user_id: X-Uid
  - name: v1
    path_prefix: /v1/
    dialects: [mmm]
    upstream: echo
  - name: other-host
    host: api.example.com
    path_prefix: /
    public: true
    upstream: ` + backend.URL + `
`})
	p := tg.Login(t)
	auth := map[string]string{"x-mmm-accesstoken": p.Access}
	_, seen := tg.Echo(t, "/v1/orders/7", auth)
	if seen == nil || seen["X-Path"][0] != "/svc/orders/7" || seen["X-Uid"][0] != "10" || seen["X-Default"][0] != "" {
		t.Fatalf("orders route: %v", seen)
	}
	_, seen = tg.Echo(t, "/v1/users", auth)
	if seen == nil || seen[":path"][0] != "/v1/users" || seen["X-Auth-User-Id"][0] != "10" {
		t.Fatalf("v1 route: %v", seen)
	}
	req, _ := http.NewRequest("GET", tg.URL+"/v1/users", nil)
	req.Host = "api.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"path":"backend"`) {
		t.Fatalf("host route not preferred: %s", body)
	}
}

func TestUpstreamFailuresInDialectEnvelope(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	tg := gatewaytest.Start(t, gatewaytest.Options{Routes: `routes:
  - name: down
    path_prefix: /v1/down
    dialects: [mmm]
    upstream: http://` + down + `
  - name: slow
    path_prefix: /v1/slow
    dialects: [mmm]
    upstream: ` + slow.URL + `
    timeout: 50ms
`})
	p := tg.Login(t)
	auth := map[string]string{"x-mmm-accesstoken": p.Access}
	if r := tg.Do(t, "GET", "/v1/down", auth, ""); r.Status != 502 || r.Code(t) != "50200" {
		t.Errorf("down upstream: %d %s, want 502 50200", r.Status, r.Raw)
	}
	r := tg.Do(t, "GET", "/v1/slow", auth, "")
	if r.Status != 504 || r.Code(t) != "50400" {
		t.Errorf("slow upstream: %d %s, want 504 50400", r.Status, r.Raw)
	}
	// The error line of that request carries its id, as its access line does.
	id := r.Header.Get("X-Request-Id")
	var errLine, accessLine bool
	for line := range strings.SplitSeq(tg.Logs.String(), "\n") {
		if strings.Contains(line, `"request_id":"`+id+`"`) {
			errLine = errLine || strings.Contains(line, `"level":"ERROR"`)
			accessLine = accessLine || strings.Contains(line, `"msg":"request"`)
		}
	}
	if id == "" || !errLine || !accessLine {
		t.Errorf("request %q: error line %v, access line %v in\n%s", id, errLine, accessLine, tg.Logs.String())
	}
	resp, err := http.Get(tg.Admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`authgate_http_requests_total{code="502",dialect="mmm",route="down"} 1`,
		`authgate_http_requests_total{code="504",dialect="mmm",route="slow"} 1`,
		`authgate_upstream_errors_total{kind="unavailable",route="down"} 1`,
		`authgate_upstream_errors_total{kind="timeout",route="slow"} 1`,
		`authgate_upstream_errors_total{kind="timeout",route="down"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestStoreDownFailsClosed points the gateway at a Redis that does not
// answer: logins and protected routes answer 503 in the envelope and
// nothing is forwarded.
func TestStoreDownFailsClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	clk := gatewaytest.NewClock()
	// A token minted by a healthy gateway with the same key.
	healthy := gatewaytest.Start(t, gatewaytest.Options{Clock: clk})
	p := healthy.Login(t)

	dir := t.TempDir()
	writeFile(t, dir, "users.yaml", gatewaytest.UsersFile())
	path := writeFile(t, dir, "config.yaml", "store:\n  driver: redis\n  redis:\n    addrs: [\""+dead+"\"]\n    dial_timeout: 200ms\n"+
		"identity:\n  users_file: users.yaml\ndialects:\n  mmm:\n    type: mmm\n    secret: "+gatewaytest.TestSecret+"\n"+gatewaytest.DefaultRoutes)
	g := gatewaytest.Build(t, path, gateway.Options{Now: clk.Now})
	tg := &gatewaytest.Gateway{Server: gatewaytest.NewServer(t, g), Clock: clk}
	if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`); r.Status != 503 || r.Code(t) != "50300" {
		t.Errorf("login with store down: %d %s", r.Status, r.Raw)
	}
	if r := tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access}, ""); r.Status != 503 || r.Code(t) != "50300" {
		t.Errorf("protected route with store down: %d %s", r.Status, r.Raw)
	}
	admin := httptest.NewServer(g.AdminHandler())
	defer admin.Close()
	resp, err := http.Get(admin.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("readyz with store down: %d", resp.StatusCode)
	}
	resp, _ = http.Get(admin.URL + "/healthz")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}

func TestTrustedProxyForwarding(t *testing.T) {
	for _, c := range []struct {
		trusted, wantXFF string
		separateLimits   bool
	}{
		{"[]", "127.0.0.1", false},
		{"[127.0.0.0/8]", "203.0.113.9, 127.0.0.1", true},
		// Every spelling that covers the peer 127.0.0.1, IPv4 in IPv6
		// included, and some that do not.
		{"[127.0.0.1]", "203.0.113.9, 127.0.0.1", true},
		{"[\"::ffff:127.0.0.1\"]", "203.0.113.9, 127.0.0.1", true},
		{"[\"::ffff:127.0.0.0/104\"]", "203.0.113.9, 127.0.0.1", true},
		{"[\"10.0.0.0/8\", \"::1\", \"fe80::/10\"]", "127.0.0.1", false},
	} {
		tg := gatewaytest.Start(t, gatewaytest.Options{Server: "  trusted_proxies: " + c.trusted + "\n", MMM: "    login_limit: 1\n"})
		p := tg.Login(t) // from 127.0.0.1 itself
		_, seen := tg.Echo(t, "/v1/x", map[string]string{"x-mmm-accesstoken": p.Access, "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
		if got := strings.Join(seen["X-Forwarded-For"], ","); got != c.wantXFF {
			t.Errorf("trusted %s: X-Forwarded-For = %q, want %q", c.trusted, got, c.wantXFF)
		}
		wantProto := "http"
		if c.separateLimits {
			wantProto = "https"
		}
		if got := seen["X-Forwarded-Proto"]; len(got) != 1 || got[0] != wantProto {
			t.Errorf("trusted %s: X-Forwarded-Proto = %v, want %s", c.trusted, got, wantProto)
		}
		// The login limit counts per client: behind a trusted proxy each
		// forwarded client has its own; otherwise X-Forwarded-For is ignored.
		r := tg.Do(t, "POST", "/auth/login", map[string]string{"X-Forwarded-For": "203.0.113.10"}, `{"account":"demo","password":"demo123"}`)
		if allowed := r.Code(t) == "00000"; allowed != c.separateLimits {
			t.Errorf("trusted %s: second client's login = %s", c.trusted, r.Raw)
		}
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	started := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(200 * time.Millisecond)
		_, _ = io.WriteString(w, `{"done":true}`)
	}))
	defer backend.Close()
	path := gatewaytest.WriteConfig(t, gatewaytest.Options{Store: "memory", Routes: `routes:
  - path_prefix: /open/
    public: true
    upstream: ` + backend.URL + `
`})
	ln, _, cancel, served := serve(t, gatewaytest.Build(t, path, gateway.Options{}))

	type result struct {
		status int
		body   string
		err    error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/open/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-started
	cancel() // SIGTERM arrives while the request is in flight.
	res := <-got
	if res.err != nil || res.status != 200 || res.body != `{"done":true}` {
		t.Fatalf("in-flight request: %+v", res)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), 100*time.Millisecond); err == nil {
		t.Fatal("listener still open after shutdown")
	}
}

// TestEveryDialectFailsClosedWhenRedisIsDown starts all four dialects on
// a Redis that does not answer: each login endpoint answers 503 in its own
// envelope and nothing is half-done.
func TestEveryDialectFailsClosedWhenRedisIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	writeFile(t, dir, "users.yaml", gatewaytest.UsersFile())
	writeFile(t, dir, "apps.yaml", "apps:\n"+gatewaytest.AppEntry("app-1", true, gatewaytest.AppSecretHash))
	path := writeFile(t, dir, "config.yaml", "store:\n  driver: redis\n  redis:\n    addrs: [\""+dead+"\"]\n    dial_timeout: 200ms\n"+
		"identity:\n  users_file: users.yaml\ndialects:\n"+
		"  mmm:\n    type: mmm\n    secret: "+gatewaytest.TestSecret+"\n"+
		"  mobile:\n    type: mobile\n    secret: mobile-test-signing-key-0123456789abcdef\n    sms:\n      sender:\n        type: log\n"+
		"  bov3:\n    type: bov3\n    secret: bov3-test-signing-key-0123456789abcdef\n    verify_api:\n      enforcement: off\n"+
		"  appkey:\n    type: appkey\n    secret: appkey-test-signing-key-0123456789abcdef\n    apps_file: apps.yaml\n"+gatewaytest.DefaultRoutes)
	g := gatewaytest.Build(t, path, gateway.Options{})
	tg := &gatewaytest.Gateway{Server: gatewaytest.NewServer(t, g), Clock: gatewaytest.NewClock()}
	cases := []struct {
		name, path, body string
		headers          map[string]string
		check            func(r gatewaytest.Reply) bool
	}{
		{"mmm", "/auth/login", `{"account":"demo","password":"demo123"}`, nil, func(r gatewaytest.Reply) bool { return r.Code(t) == "50300" }},
		{"mobile", "/auth/mobile/sms-code", `{"mobile":"13912345678"}`, nil, func(r gatewaytest.Reply) bool { return r.IntCode(t) == 5003 }},
		{"bov3", "/bo/api/v3/auth/login", `{"userName":"demo","password":"demo123"}`, map[string]string{"XownerId": "p"},
			func(r gatewaytest.Reply) bool { return r.IntCode(t) == 50300 && r.Body["success"] == false }},
		{"appkey", "/api/base/token/login", gatewaytest.AppLogin("app-1", "key-app-1", "s3cret-app", "APP_KEY"), nil,
			func(r gatewaytest.Reply) bool {
				return r.Body["status"] != nil && r.Body["path"] == "/api/base/token/login"
			}},
	}
	for _, c := range cases {
		r := tg.Do(t, "POST", c.path, c.headers, c.body)
		if r.Status != 503 || !c.check(r) {
			t.Errorf("%s with the store down: %d %s, want 503 in its envelope", c.name, r.Status, r.Raw)
		}
	}
}

// TestWebSocketUpgradePassesThrough checks that an authenticated Upgrade
// request reaches the backend and the connection is then spliced both
// ways, through the middleware's response writer.
func TestWebSocketUpgradePassesThrough(t *testing.T) {
	backend := gatewaytest.HTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || r.Header.Get("X-Auth-User-Id") != "10" {
			http.Error(w, "not an authenticated upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = brw.WriteString("echo:" + line)
		_ = brw.Flush()
	}))
	tg := gatewaytest.Start(t, gatewaytest.Options{Routes: `routes:
  - path_prefix: /v1/
    dialects: [mmm]
    upstream: ` + backend.URL + `
`})
	p := tg.Login(t)
	// Through a plain server, and through Serve's listener with its
	// framing guard, which follows the connection no further once it
	// upgrades.
	ln, _, cancel, served := serve(t, tg.GW)
	defer func() { cancel(); <-served }()
	for _, addr := range []string{strings.TrimPrefix(tg.URL, "http://"), ln.Addr().String()} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(conn, "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Mmm-Accesstoken: %s\r\n\r\n", p.Access)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade = %v, %v", resp, err)
		}
		fmt.Fprint(conn, "ping\n")
		got, err := br.ReadString('\n')
		if err != nil || got != "echo:ping\n" {
			t.Fatalf("after the upgrade: %q, %v", got, err)
		}
	}
}

// selfSigned writes a certificate for 127.0.0.1 with serial and its key
// as cert.pem and key.pem into dir, and returns the certificate (DER).
func selfSigned(t *testing.T, dir string, serial int64) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	writeFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	return der
}

// TestServeTLS serves the public listener over HTTPS from a certificate
// and key named in the config, and from a renewed one after a reload.
func TestServeTLS(t *testing.T) {
	path := gatewaytest.WriteConfig(t, gatewaytest.Options{Server: "  tls_cert_file: cert.pem\n  tls_key_file: key.pem\n"})
	dir := filepath.Dir(path)
	der := selfSigned(t, dir, 1)
	g := gatewaytest.Build(t, path, gateway.Options{})
	ln, _, cancel, served := serve(t, g)
	defer func() { cancel(); <-served }()

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := client.Post("https://"+ln.Addr().String()+"/auth/login", "application/json", strings.NewReader(`{"account":"demo","password":"demo123"}`))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Code string `json:"code"`
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body.Code != "00000" || resp.TLS == nil || resp.ProtoMajor != 2 {
		t.Fatalf("login over TLS: %+v, proto %s", body, resp.Proto)
	}
	req, _ := http.NewRequest("GET", "https://"+ln.Addr().String()+"/v1/x", nil)
	req.Header.Set("x-mmm-accesstoken", body.Data.AccessToken)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var echo struct {
		Headers map[string][]string `json:"headers"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&echo)
	resp.Body.Close()
	if got := echo.Headers["X-Forwarded-Proto"]; len(got) != 1 || got[0] != "https" {
		t.Fatalf("X-Forwarded-Proto = %v, want https", got)
	}

	// A renewed certificate, reloaded: new connections get it.
	renewed := selfSigned(t, dir, 2)
	if err := g.Reload(path, nil); err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: renewed}))
	fresh := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err = fresh.Get("https://" + ln.Addr().String() + "/v1/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if serial := resp.TLS.PeerCertificates[0].SerialNumber.Int64(); serial != 2 {
		t.Fatalf("after the reload the listener presents certificate %d, want the renewed 2", serial)
	}
}

func TestTLSConfigNeedsBothFiles(t *testing.T) {
	_, err := config.Load(gatewaytest.WriteConfig(t, gatewaytest.Options{Server: "  tls_cert_file: cert.pem\n"}), nil)
	if err == nil || !strings.Contains(err.Error(), "server.tls_cert_file: set both") {
		t.Fatalf("Load = %v", err)
	}
	_, err = config.Load(gatewaytest.WriteConfig(t, gatewaytest.Options{Server: "  tls_cert_file: nope.pem\n  tls_key_file: nope.key\n"}), nil)
	if err == nil || !strings.Contains(err.Error(), "server.tls_cert_file:") {
		t.Fatalf("Load with missing files = %v", err)
	}
}

// TestClientCancelIsNotAStoreFailure: a request whose client went away
// while the store was asked is recorded as 499, neither logged as an error
// nor counted in authgate_store_errors_total.
func TestClientCancelIsNotAStoreFailure(t *testing.T) {
	tg := gatewaytest.Start(t, gatewaytest.Options{Store: "redis"})
	p := tg.Login(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/v1/orders", nil).WithContext(ctx)
	req.Header.Set("x-mmm-accesstoken", p.Access)
	rec := httptest.NewRecorder()
	tg.GW.Handler().ServeHTTP(rec, req)
	if rec.Code != 499 {
		t.Fatalf("canceled request answered %d %s, want 499", rec.Code, rec.Body)
	}
	if logs := tg.Logs.String(); strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, `"status":499`) {
		t.Fatalf("logs:\n%s", logs)
	}
	resp, err := http.Get(tg.Admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(body), "authgate_store_errors_total{") {
		t.Fatalf("a client cancel was counted as a store error")
	}
}

// TestSIGTERMDrainsBeforeClosing: on SIGTERM /readyz answers 503 at once
// (GET and HEAD alike) while the public listener still serves for
// drain_delay; then the listener closes.
func TestSIGTERMDrainsBeforeClosing(t *testing.T) {
	path := gatewaytest.WriteConfig(t, gatewaytest.Options{Server: "  drain_delay: 2s\n", Routes: `routes:
  - path_prefix: /open/
    public: true
    upstream: echo
`})
	ln, adminLn, cancel, served := serve(t, gatewaytest.Build(t, path, gateway.Options{}))
	admin := "http://" + adminLn.Addr().String()
	status := func(method, url string) int {
		req, _ := http.NewRequest(method, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	dialecttest.WaitFor(t, "the admin listener", func() bool { return status("GET", admin+"/readyz") == 200 })
	for _, m := range []string{"GET", "HEAD"} {
		if got := status(m, admin+"/healthz"); got != 200 {
			t.Fatalf("%s /healthz = %d", m, got)
		}
		if got := status(m, admin+"/readyz"); got != 200 {
			t.Fatalf("%s /readyz = %d", m, got)
		}
	}
	cancel() // SIGTERM
	dialecttest.WaitFor(t, "readiness to turn 503", func() bool { return status("GET", admin+"/readyz") == 503 })
	if got := status("HEAD", admin+"/readyz"); got != 503 {
		t.Fatalf("HEAD /readyz while draining = %d", got)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned before the drain delay: %v", err)
	default:
	}
	if got := status("GET", "http://"+ln.Addr().String()+"/open/x"); got != 200 {
		t.Fatalf("public listener while draining = %d, want 200", got)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), 100*time.Millisecond); err == nil {
		t.Fatal("listener still open after the drain")
	}
}

// serve runs g on listeners of its own until cancel (SIGTERM, as the
// process sees it); served gets what Serve returned.
func serve(t *testing.T, g *gateway.Gateway) (ln, adminLn net.Listener, cancel context.CancelFunc, served chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if adminLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served = make(chan error, 1)
	go func() { served <- g.Serve(ctx, ln, adminLn) }()
	return ln, adminLn, cancel, served
}

// TestTracingBlockProblems: every problem of the tracing block is named
// by its key and the fix, all at once.
func TestTracingBlockProblems(t *testing.T) {
	msg := gatewaytest.BuildError(t, gatewaytest.Options{Extra: "tracing:\n  endpoint: otel-collector:4318\n  protocol: thrift\n  sampling_ratio: 2\n  batch_timeout: 0s\n"})
	for _, want := range []string{
		`tracing.endpoint: "otel-collector:4318" is not an http(s) URL`,
		`tracing.protocol: "thrift" is not one of http/protobuf, grpc`,
		`tracing.sampling_ratio: 2 is not between 0 and 1`,
		`tracing.batch_timeout: must be positive`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}
