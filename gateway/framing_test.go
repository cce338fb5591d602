package gateway_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/gateway"
	"github.com/authgate/authgate/gateway/gatewaytest"
)

// rawExchange writes req on a new connection to addr and reads every
// answer until the connection ends: the answers, and whether the server
// closed it (rather than leaving it open, waiting for more).
func rawExchange(t *testing.T, addr, req string) (answers []*http.Response, bodies []string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			timeout := errorsAs(err, &ne) && ne.Timeout()
			return answers, bodies, !timeout
		}
		b, _ := io.ReadAll(resp.Body)
		answers = append(answers, resp)
		bodies = append(bodies, string(b))
	}
}

func errorsAs(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// TestAmbiguousFramingRefused: on the public listener (a proxied route, a
// public route, a dialect endpoint) and the admin listener, a request
// whose framing two parsers could read differently (RFC 9112) is
// answered 400 and its connection closed; nothing after it on the
// connection is served (the smuggled request never reaches the upstream),
// and the refusal is counted and logged. A well-framed keep-alive
// sequence, chunked bodies and trailers included, is served as before.
func TestAmbiguousFramingRefused(t *testing.T) {
	upstream := newRecordingUpstream(t)
	g := gatewaytest.Start(t, gatewaytest.Options{Routes: `routes:
  - name: mmm-api
    path_prefix: /v1/
    dialects: [mmm]
    upstream: ` + upstream.URL + `
  - name: pub
    path_prefix: /pub/
    public: true
    upstream: ` + upstream.URL + `
`}).GW
	ln, adminLn, cancel, served := serve(t, g)
	defer func() { cancel(); <-served }()
	smuggled := "GET /pub/hidden HTTP/1.1\r\nHost: x\r\n\r\n"
	cases := map[string]string{
		"Content-Length and chunked": "POST /pub/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"two Content-Length":         "POST /pub/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd" + smuggled,
		"two different lengths":      "POST /pub/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde" + smuggled,
		"chunked, identity":          "POST /pub/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled,
		"xchunked":                   "POST /pub/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled,
		"repeated Transfer-Encoding": "POST /pub/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"obsolete line folding":      "GET /pub/a HTTP/1.1\r\nHost: x\r\nX-Auth-User-Id: 1\r\n 2\r\n\r\n" + smuggled,
		"whitespace before colon":    "GET /pub/a HTTP/1.1\r\nHost: x\r\nContent-Length : 4\r\n\r\nabcd" + smuggled,
		"bare LF":                    "GET /pub/a HTTP/1.1\nHost: x\n\n" + smuggled,
		"on a dialect endpoint":      "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"on a protected route":       "GET /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			answers, bodies, closed := rawExchange(t, ln.Addr().String(), req)
			if len(answers) != 1 || answers[0].StatusCode != 400 || !closed {
				t.Fatalf("answers %d (first %v %q), closed %v; want one 400 and the connection closed", len(answers), gatewaytest.Statuses(answers), strings.Join(bodies, "|"), closed)
			}
		})
	}
	// The admin listener too.
	if answers, _, closed := rawExchange(t, adminLn.Addr().String(), "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); len(answers) != 1 || answers[0].StatusCode != 400 || !closed {
		t.Fatalf("admin listener: %d answers (%v), closed %v", len(answers), gatewaytest.Statuses(answers), closed)
	}
	// An over-long chunk size is refused in the body: the connection ends
	// without a success.
	answers, _, closed := rawExchange(t, ln.Addr().String(), "POST /pub/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+strings.Repeat("f", 40)+"\r\nabc\r\n0\r\n\r\n"+smuggled)
	if !closed || len(answers) > 1 || len(answers) == 1 && answers[0].StatusCode < 400 {
		t.Fatalf("over-long chunk size: %v, closed %v", gatewaytest.Statuses(answers), closed)
	}
	for _, r := range upstream.Seen() {
		if r.URL.Path == "/pub/hidden" {
			t.Fatal("a smuggled request reached the upstream")
		}
	}

	// Well framed, on one connection: a length, chunks with a trailer, none.
	ok := "POST /pub/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd" +
		"POST /pub/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n" +
		"GET /pub/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	answers, bodies, _ := rawExchange(t, ln.Addr().String(), ok)
	if len(answers) != 3 || gatewaytest.Statuses(answers) != "200 200 200" {
		t.Fatalf("a well-framed sequence: %v %q", gatewaytest.Statuses(answers), bodies)
	}
	if got := upstream.Bodies(); !strings.Contains(got, "abcd") || !strings.Contains(got, "abcde") {
		t.Fatalf("bodies reaching the upstream: %q", got)
	}
	m := metricsOf(t, adminLn.Addr().String())
	if v := gatewaytest.MetricValue(m, `authgate_http_framing_refused_total{listener="public",reason="both Content-Length and Transfer-Encoding"}`); v != 3 {
		t.Errorf("refusals not counted (%v):\n%s", v, gatewaytest.GrepLines(m, "authgate_http_framing"))
	}
}

// recordingUpstream answers 200 and records each request's path and body.
type recordingUpstream struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []*http.Request
	bodies []string
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	u := &recordingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(r.Context()))
		u.bodies = append(u.bodies, string(b))
		u.mu.Unlock()
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *recordingUpstream) Seen() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.seen...)
}

func (u *recordingUpstream) Bodies() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return strings.Join(u.bodies, "|")
}

// metricsOf scrapes the admin listener at addr.
func metricsOf(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestSlowAndLargeRequestsBounded: a dialect endpoint's body that
// trickles in past server.endpoint_read_timeout is answered 400 in the
// dialect's envelope, and a proxied route's body past its max_body_bytes
// 413 — declared or grown while streaming — in the route's envelope
// (mmm's 10002, or plain JSON on a public route); each counted.
func TestSlowAndLargeRequestsBounded(t *testing.T) {
	upstream := newRecordingUpstream(t)
	tg := gatewaytest.Start(t, gatewaytest.Options{Server: "  endpoint_read_timeout: 300ms\n", Routes: `routes:
  - name: mmm-api
    path_prefix: /v1/
    dialects: [mmm]
    upstream: ` + upstream.URL + `
    max_body_bytes: 10
  - name: pub
    path_prefix: /pub/
    public: true
    upstream: ` + upstream.URL + `
    max_body_bytes: 10
`})
	addr := strings.TrimPrefix(tg.URL, "http://")

	// A login whose body never finishes.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, _ = c.Write([]byte("POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"account\":"))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a trickled login body: %v\n%s", err, tg.Logs.String())
	}
	b, _ := io.ReadAll(resp.Body)
	if took := time.Since(start); resp.StatusCode != 400 || !strings.Contains(string(b), `"code":"10001"`) || took > 3*time.Second {
		t.Fatalf("a trickled login body: %d %s after %v, want the mmm bad-request envelope after ~300ms", resp.StatusCode, b, took)
	}

	p := tg.Login(t)
	big := strings.Repeat("x", 20)
	auth := map[string]string{"x-mmm-accesstoken": p.Access}
	if r := tg.Do(t, "POST", "/v1/orders", auth, big); r.Status != 413 || r.Code(t) != "10002" {
		t.Fatalf("a declared body over max_body_bytes: %d %s", r.Status, r.Raw)
	}
	if r := tg.Do(t, "POST", "/pub/x", nil, big); r.Status != 413 {
		t.Fatalf("a public route's body over max_body_bytes: %d %s", r.Status, r.Raw)
	}
	// Grown while streaming (chunked: no length declared).
	req, _ := http.NewRequest("POST", tg.URL+"/pub/x", io.MultiReader(strings.NewReader(big), strings.NewReader(big)))
	req.ContentLength = -1
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("a streamed body over max_body_bytes: %d", resp.StatusCode)
	}
	if r := tg.Do(t, "POST", "/pub/x", nil, "small"); r.Status != 200 {
		t.Fatalf("a body within max_body_bytes: %d %s", r.Status, r.Raw)
	}
	m := tg.MetricsText(t)
	if gatewaytest.MetricValue(m, `authgate_http_limit_refusals_total{limit="route_body_too_large"}`) != 3 || gatewaytest.MetricValue(m, `authgate_http_limit_refusals_total{limit="endpoint_read_timeout"}`) != 1 {
		t.Errorf("limits not counted:\n%s", gatewaytest.GrepLines(m, "authgate_http_limit"))
	}
}

// TestAmbiguousFramingRefusedOverTLS: with TLS on the public listener, an
// HTTP/1.1 connection is guarded on its plaintext too (400, closed, the
// smuggled request never served), while a well-framed HTTP/1.1 request
// over TLS still tells the upstream it came over https.
func TestAmbiguousFramingRefusedOverTLS(t *testing.T) {
	path := gatewaytest.WriteConfig(t, gatewaytest.Options{Server: "  tls_cert_file: cert.pem\n  tls_key_file: key.pem\n"})
	selfSigned(t, filepath.Dir(path), 1)
	g := gatewaytest.Build(t, path, gateway.Options{})
	ln, _, cancel, served := serve(t, g)
	defer func() { cancel(); <-served }()
	dial := func() *tls.Conn {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := dial()
	defer c.Close()
	_, _ = io.WriteString(c, "POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/hidden HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("CL+TE over TLS: %v %v", resp, err)
	}
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Fatal("a second answer: the smuggled request was served")
	}

	c2 := dial()
	defer c2.Close()
	_, _ = io.WriteString(c2, "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 39\r\nConnection: close\r\n\r\n{\"account\":\"demo\",\"password\":\"demo123\"}")
	_ = c2.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		Data struct {
			AccessToken string `json:"access_token"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	c3 := dial()
	defer c3.Close()
	_, _ = io.WriteString(c3, "GET /v1/x HTTP/1.1\r\nHost: x\r\nX-Mmm-Accesstoken: "+login.Data.AccessToken+"\r\nConnection: close\r\n\r\n")
	_ = c3.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err = http.ReadResponse(bufio.NewReader(c3), nil)
	if err != nil {
		t.Fatal(err)
	}
	var echo struct {
		Headers map[string][]string `json:"headers"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&echo)
	resp.Body.Close()
	if resp.ProtoMajor != 1 || len(echo.Headers["X-Forwarded-Proto"]) != 1 || echo.Headers["X-Forwarded-Proto"][0] != "https" {
		t.Fatalf("HTTP/1.1 over TLS: %s, X-Forwarded-Proto %v", resp.Proto, echo.Headers["X-Forwarded-Proto"])
	}
}
