package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authgate/authgate/dialects/bov3"
	"github.com/authgate/authgate/identity"
)

func runCmd(t *testing.T, stdin string, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, environ)
	return code, out.String(), errOut.String()
}

func TestCheckConfigOnShippedConfig(t *testing.T) {
	code, out, errOut := runCmd(t, "", nil, "check-config", "-config", "../../config.yaml")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("check-config = %d %q %q", code, out, errOut)
	}
}

func TestCheckConfigListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte("server:\n  listn: x\nstore:\n  driver: etcd\ndialects:\n  bo:\n    type: bov3\n    colour: red\n    access_ttl: 1800\n"+
		"routes:\n  - path_prefix: /v1/\n    dialects: [ghost]\n    upstream: echo\n"+
		"tracing:\n  endpoint: http://otel:4317\n  protocol: thrift\n"), 0o600)
	code, _, errOut := runCmd(t, "", nil, "check-config", "-config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{"server.listn: unknown key", `store.driver: "etcd"`, `routes[0].dialects: no dialect instance named "ghost"`,
		"dialects.bo.colour: unknown key", "dialects.bo.access_ttl: 1800 is a bare number", "dialects.bo.secret: set exactly one of",
		`tracing.protocol: "thrift" is not one of`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("output lacks %q:\n%s", want, errOut)
		}
	}
	if n := strings.Count(errOut, "invalid configuration"); n != 1 {
		t.Errorf("%d headers in one list of problems:\n%s", n, errOut)
	}
}

func TestCheckConfigWarnsButPasses(t *testing.T) {
	code, out, errOut := runCmd(t, "", []string{"AUTHGATE_CFG__DIALECTS__MMM__ACCESS_TTL=3s"}, "check-config", "-config", "../../config.yaml")
	if code != 0 || !strings.Contains(out, "warning: dialects.mmm.refresh_grace: 10s is not shorter than access_ttl 3s") || !strings.HasSuffix(out, "ok\n") {
		t.Fatalf("check-config = %d %q %q", code, out, errOut)
	}
	// The shipped config warns about what the running gateway warns
	// about, and nothing else: its demo users, keys and apps and the SMS
	// log sender.
	code, out, _ = runCmd(t, "", nil, "check-config", "-config", "../../config.yaml")
	want := []string{
		"warning: identity.users_file: DEMO IDENTITIES LOADED",
		"warning: dialects.appkey.apps_file: deploy/demo/apps.yaml: DEMO APPS LOADED",
		"warning: dialects.mobile.sms.sender.type: SMS LOG SENDER ON",
		"warning: dialects.appkey.secret: DEMO KEY", "warning: dialects.bov3.secret: DEMO KEY",
		"warning: dialects.mmm.secret: DEMO KEY", "warning: dialects.mobile.secret: DEMO KEY",
	}
	if code != 0 || strings.Count(out, "warning: ") != len(want) {
		t.Fatalf("check-config of the shipped config = %d, want exactly %d warnings:\n%s", code, len(want), out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in\n%s", w, out)
		}
	}
}

// TestCheckConfigReportsOnlyRealProblems: a user directory that does not
// open is its own problem, not also a dialect's asking for a users file
// or an apps file of another identity type.
func TestCheckConfigReportsOnlyRealProblems(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	os.WriteFile(path, []byte(`identity:
  type: sql
  sql:
    driver: postgres
    dsn_env: AUTHGATE_SECRET_NOPE
    queries: {by_account: "SELECT 1", by_id: "SELECT 1", by_mobile: "SELECT 1"}
dialects:
  mmm: {type: mmm, secret: 0123456789abcdef0123456789abcdef}
  bo: {type: bov3, secret: 0123456789abcdef0123456789abcdef, verify_api: {enforcement: "off"}}
  partners: {type: appkey, secret: 0123456789abcdef0123456789abcdef, apps_query: "SELECT 1"}
routes:
  - {path_prefix: /v1/, dialects: [mmm], upstream: echo}
`), 0o600)
	code, _, errOut := runCmd(t, "", nil, "check-config", "-config", path)
	if code != 1 || !strings.Contains(errOut, "identity.sql.dsn_env: environment variable AUTHGATE_SECRET_NOPE is not set") {
		t.Fatalf("check-config = %d %s", code, errOut)
	}
	if n := strings.Count(errOut, "\n  "); n != 1 {
		t.Errorf("%d problems, want the directory's one:\n%s", n, errOut)
	}
}

func TestCheckConfigSeesEnvironment(t *testing.T) {
	code, _, errOut := runCmd(t, "", []string{"AUTHGATE_CFG__STORE__DRIVER=nope"}, "check-config", "-config", "../../config.yaml")
	if code != 1 || !strings.Contains(errOut, `store.driver: "nope"`) {
		t.Fatalf("env override not checked: %d %s", code, errOut)
	}
}

func TestHashSecret(t *testing.T) {
	code, out, _ := runCmd(t, "s3cret\n", nil, "hash-secret")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	h := strings.TrimSpace(out)
	if ok, err := identity.VerifySecret(h, "s3cret"); !ok || err != nil {
		t.Fatalf("hash %q does not verify: %v", h, err)
	}
	if code, _, _ := runCmd(t, "", nil, "hash-secret"); code != 1 {
		t.Fatal("empty secret accepted")
	}
}

func TestVersionAndUsage(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if code, out, _ := runCmd(t, "", nil, args...); code != 0 || !strings.HasPrefix(out, "authgate ") {
			t.Fatalf("%v = %d %q", args, code, out)
		}
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}} {
		code, out, _ := runCmd(t, "", nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, c := range []string{"serve", "check-config", "healthcheck", "hash-secret", "bov3-verify-header", "version", "help", "AUTHGATE_CFG__"} {
			if !strings.Contains(out, c) {
				t.Errorf("%v lacks %q:\n%s", args, c, out)
			}
		}
	}
	for _, args := range [][]string{{"help", "healthcheck"}, {"healthcheck", "-h"}} {
		code, out, _ := runCmd(t, "", nil, args...)
		if code != 0 || !strings.Contains(out, "-url") || !strings.Contains(out, "-timeout") || !strings.Contains(out, "readyz") {
			t.Fatalf("%v = %d\n%s", args, code, out)
		}
	}
	if code, out, _ := runCmd(t, "", nil, "help", "bov3-verify-header"); code != 0 || !strings.Contains(out, "-encoding") {
		t.Fatalf("help bov3-verify-header = %d\n%s", code, out)
	}
	for _, args := range [][]string{{"frobnicate"}, {"help", "frobnicate"}, {"serve", "-colour"}, {"-colour"}, {"check-config", "extra"}} {
		if code, _, errOut := runCmd(t, "", nil, args...); code != 2 || !strings.Contains(errOut, "usage") {
			t.Errorf("%v = %d %q, want exit 2 with the usage", args, code, errOut)
		}
	}
}

func TestHealthcheckWithoutAServer(t *testing.T) {
	addr := freePort(t)
	if code, _, errOut := runCmd(t, "", nil, "healthcheck", "-url", "http://"+addr+"/readyz", "-timeout", "200ms"); code != 1 || !strings.Contains(errOut, addr) {
		t.Fatalf("healthcheck of nothing = %d %q", code, errOut)
	}
}

// TestServeAndStop runs the real serve command on the shipped config
// (ports overridden from the environment) and stops it as SIGTERM would.
func TestServeAndStop(t *testing.T) {
	port := freePort(t)
	admin := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var errOut bytes.Buffer
	logs := &syncWriter{w: &errOut}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-config", "../../config.yaml"}, strings.NewReader(""), &bytes.Buffer{}, logs,
			[]string{"AUTHGATE_CFG__SERVER__LISTEN=" + port, "AUTHGATE_CFG__SERVER__ADMIN_LISTEN=" + admin, "AUTHGATE_CFG__SERVER__DRAIN_DELAY=0s"})
	}()
	var resp *http.Response
	var err error
	for range 100 {
		if resp, err = http.Post("http://"+port+"/auth/login", "application/json", strings.NewReader(`{"account":"demo","password":"demo123"}`)); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("gateway did not come up: %v", err)
	}
	var body struct {
		Code string `json:"code"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if body.Code != "00000" {
		t.Fatalf("login code %q", body.Code)
	}
	env := []string{"AUTHGATE_CFG__SERVER__ADMIN_LISTEN=" + admin}
	if code, _, errOut := runCmd(t, "", env, "healthcheck", "-config", "../../config.yaml"); code != 0 {
		t.Fatalf("healthcheck of a ready gateway = %d %s", code, errOut)
	}
	// SIGHUP reloads the config in place (serve is listening, so its
	// handler is in place: the signal does not end the test process).
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for i := 0; !strings.Contains(logs.String(), `"msg":"config reloaded"`); i++ {
		if i == 100 {
			t.Fatalf("no reload after SIGHUP:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	if !strings.Contains(errOut.String(), "DEMO IDENTITIES LOADED") {
		t.Fatal("no demo warning logged")
	}
	if code, _, _ := runCmd(t, "", env, "healthcheck", "-config", "../../config.yaml", "-timeout", "200ms"); code != 1 {
		t.Fatalf("healthcheck of a stopped gateway = %d, want 1", code)
	}
}

// syncWriter lets the gateway's goroutines log into one buffer.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestBov3VerifyHeader(t *testing.T) {
	for _, args := range [][]string{
		{"-key", "demo-des"},
		{"-key", "demo-des", "-mode", "cbc", "-iv", "abcdefgh", "-encoding", "hex", "-timestamp=false"},
	} {
		code, out, errOut := runCmd(t, "", nil, append([]string{"bov3-verify-header"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d %s", args, code, errOut)
		}
		mode, iv, enc := "ecb", "", "base64"
		if len(args) > 2 {
			mode, iv, enc = "cbc", "abcdefgh", "hex"
		}
		c, _ := bov3.NewVerifyCipher([]byte("demo-des"), mode, []byte(iv), enc)
		plain, err := c.Decrypt(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		claim, err := bov3.ParseVerifyPlain(plain)
		if err != nil || (len(args) == 2) == claim.At.IsZero() {
			t.Fatalf("%v: plain %q: %+v %v", args, plain, claim, err)
		}
	}
	if code, _, _ := runCmd(t, "", nil, "bov3-verify-header", "-key", "short"); code != 2 {
		t.Fatal("a short key was accepted")
	}
}
