// Command loadbench measures the gateway under load beside a bare Go
// reverse proxy, in one run on loopback (see bench/README.md): it builds
// and starts an upstream, the reference proxy (C), the gateway on the
// memory store and on a private Redis, runs wrk against each in turn for
// several interleaved rounds, and prints requests per second, p99 and the
// CPU each process spent per request (from /proc/PID/stat) as ratios to C
// in the same round. Then the revocation lag across three replicas, and
// the gateway's resident memory fresh and with idle keep-alive
// connections.
//
//	go run ./bench/loadbench [-rounds 3] [-duration 8s] [-modes one,many,refresh,idtoken] [-profile DIR]
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var (
	rounds      = flag.Int("rounds", 3, "interleaved rounds per mode")
	duration    = flag.Duration("duration", 8*time.Second, "wrk run length")
	connections = flag.Int("connections", 64, "wrk connections")
	modes       = flag.String("modes", "one,many,refresh", "one (one token), many (more tokens than the verified-token cache holds), refresh (a refresh storm), idtoken (one token on a route that sends a signed identity token upstream)")
	manyTokens  = flag.Int("many", 12000, "tokens of the many mode")
	lagTrials   = flag.Int("lag-trials", 100, "revocation-lag trials across three replicas (0 skips)")
	idleConns   = flag.Int("idle-conns", 1000, "idle keep-alive connections for the memory figure")
	tracingOn   = flag.Float64("tracing", 0, "with a sampling ratio above 0, the gateways trace at that ratio and export to an OTLP/HTTP sink in this process")
	gogc        = flag.String("gogc", "", "GOGC for the gateways (and C), when set: the garbage collector's pace against memory")
	logLevel    = flag.String("log-level", "error", "the gateways' log.level: info writes an access-log line per request (to the bench's discarded stderr)")
	cacheMaxAge = flag.Duration("cache-max-age", 0, "the Redis gateway's store.cache.max_age (0: the default, 2s)")
	profileDir  = flag.String("profile", "", "a directory: after each mode's rounds, one more wrk run per target, not counted, while its CPU and allocation profiles (the gateways' admin.pprof, C's -pprof) are written there as MODE-TARGET.cpu.pprof and MODE-TARGET.allocs.pprof (TARGET c, memory, redis)")
)

const (
	upstreamAddr = "127.0.0.1:18090"
	refAddr      = "127.0.0.1:18070"
	redisPort    = "16399"
	benchUser    = "bench"
	benchPass    = "bench-password"
)

// proc is a started process.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string // public address
}

func (p *proc) cpu() time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100) // CLK_TCK is 100 on Linux
}

// running reports whether the process is alive (not exited, not a zombie).
func (p *proc) running() bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func (p *proc) rss() string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
		}
	}
	return "?"
}

var started []*proc

func start(name, addr string, bin string, args ...string) *proc {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = io.Discard
	if *gogc != "" {
		cmd.Env = append(os.Environ(), "GOGC="+*gogc)
	}
	if err := cmd.Start(); err != nil {
		fail("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, addr: addr}
	started = append(started, p)
	return p
}

func stopAll() {
	for _, p := range started {
		_ = p.cmd.Process.Kill()
		_, _ = p.cmd.Process.Wait()
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "loadbench: "+format+"\n", a...)
	stopAll()
	os.Exit(1)
}

func waitHTTP(url string) {
	for range 100 {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	fail("%s never answered 200", url)
}

func main() {
	flag.Parse()
	work, err := os.MkdirTemp("", "loadbench")
	if err != nil {
		fail("%v", err)
	}
	defer os.RemoveAll(work)
	for _, b := range []string{"cmd/gateway", "bench/upstream", "bench/refproxy"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(work, filepath.Base(b)), "./"+b).CombinedOutput()
		if err != nil {
			fail("build %s: %v\n%s", b, err, out)
		}
	}
	redisServer, err := exec.LookPath("redis-server")
	if err != nil {
		fail("redis-server not found (Debian: apt-get install redis-server)")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		fail("wrk not found (Debian: apt-get install wrk)")
	}
	writeFiles(work)
	if *tracingOn > 0 {
		startOTLPSink()
	}

	redisProc := start("redis", "127.0.0.1:"+redisPort, redisServer, "--port", redisPort, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	time.Sleep(300 * time.Millisecond)
	if !redisProc.running() {
		// Its port taken (a Redis left over from an interrupted run would
		// be measured in its place).
		fail("redis-server on port %s exited at once: is the port in use?", redisPort)
	}
	start("upstream", upstreamAddr, filepath.Join(work, "upstream"), "-listen", upstreamAddr)
	refArgs := []string{"-listen", refAddr, "-upstream", "http://" + upstreamAddr}
	if *profileDir != "" {
		refArgs = append(refArgs, "-pprof", adminAddr(&proc{addr: refAddr}))
	}
	ref := start("C (httputil.ReverseProxy)", refAddr, filepath.Join(work, "refproxy"), refArgs...)
	mem := startGateway(work, "memory", 1, "memory")
	red := startGateway(work, "redis", 2, "redis")
	defer stopAll()
	for _, p := range []*proc{mem, red} {
		waitHTTP("http://" + adminAddr(p) + "/readyz")
	}
	time.Sleep(200 * time.Millisecond)
	fmt.Printf("loadbench %s: %d rounds of %v, %d connections; gateway RSS fresh: memory %s, redis %s\n",
		time.Now().Format("2006-01-02"), *rounds, *duration, *connections, mem.rss(), red.rss())

	for _, mode := range strings.Split(*modes, ",") {
		scripts := map[*proc]string{}
		// prepareAll mints each gateway's tokens for mode; C forwards
		// whatever it gets (the memory gateway's), rotating none.
		prepareAll := func() {
			for _, gw := range []*proc{mem, red} {
				scripts[gw] = prepare(work, mode, gw)
			}
			scripts[ref] = scripts[mem]
		}
		prepareAll()
		fmt.Printf("\nmode %s\n%-28s %5s %10s %9s %11s %8s %12s\n", mode, "target", "round", "req/s", "p99", "CPU µs/req", "× C", "Redis µs/req")
		results := map[string][]float64{}
		hits0, misses0 := cacheCounters(red)
		for r := 1; r <= *rounds; r++ {
			if mode == "refresh" && r > 1 {
				prepareAll() // fresh sessions for every run
			}
			var base float64
			for _, target := range []*proc{ref, mem, red} {
				res := run(target, scripts[target], redisProc)
				if target == ref {
					base = res.cpuPerReq
				}
				ratio := res.cpuPerReq / base
				results[target.name] = append(results[target.name], ratio)
				fmt.Printf("%-28s %5d %10.0f %9s %11.1f %8.2f %12.1f\n", target.name, r, res.rps, res.p99, res.cpuPerReq, ratio, res.redisPerReq)
			}
		}
		for _, name := range []string{mem.name, red.name} {
			rs := results[name]
			sort.Float64s(rs)
			fmt.Printf("  %s: CPU per request %.2f–%.2f × C, median %.2f\n", name, rs[0], rs[len(rs)-1], median(rs))
		}
		hits, misses := cacheCounters(red)
		fmt.Printf("  gateway redis session cache: %.0f hits, %.0f misses (%.1f%% of checks read Redis)\n",
			hits-hits0, misses-misses0, 100*(misses-misses0)/max(1, hits-hits0+misses-misses0))
		if mode == "refresh" {
			for _, gw := range []*proc{mem, red} {
				fmt.Printf("  %s refreshes: %s\n", gw.name, strings.Join(refreshResults(gw), ", "))
			}
		}
		if *profileDir != "" {
			if mode == "refresh" {
				prepareAll()
			}
			for label, p := range map[string]*proc{"c": ref, "memory": mem, "redis": red} {
				profile(p, label, mode, scripts[p], redisProc)
			}
		}
	}
	if *lagTrials > 0 {
		revocationLag(work)
	}
	idleMemory(work)
}

// cacheCounters reads a gateway's session cache hits and misses.
func cacheCounters(gw *proc) (hits, misses float64) {
	resp, err := http.Get("http://" + adminAddr(gw) + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "authgate_session_cache_hits_total":
			hits = v
		case "authgate_session_cache_misses_total":
			misses = v
		}
	}
	return hits, misses
}

// median of sorted rs.
func median(rs []float64) float64 {
	if n := len(rs); n%2 == 0 {
		return (rs[n/2-1] + rs[n/2]) / 2
	}
	return rs[len(rs)/2]
}

// refreshResults reads a gateway's refresh counters by result (rotated,
// grace_replay, reused, ...): a storm of refusals would cost less than
// one of rotations and look faster.
func refreshResults(gw *proc) []string {
	resp, err := http.Get("http://" + adminAddr(gw) + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "authgate_token_refreshes_total{") {
			out = append(out, line[strings.Index(line, "result="):])
		}
	}
	return out
}

// writeFiles writes the users file (bcrypt at its least cost, so minting
// thousands of tokens is quick) and the wrk scripts.
func writeFiles(work string) {
	h, err := bcrypt.GenerateFromPassword([]byte(benchPass), bcrypt.MinCost)
	if err != nil {
		fail("%v", err)
	}
	users := fmt.Sprintf("users:\n  - id: 10\n    account: %s\n    password_hash: %q\n    companies: [1]\n    default_company: 1\n", benchUser, h)
	must(os.WriteFile(filepath.Join(work, "users.yaml"), []byte(users), 0o600))
	must(os.WriteFile(filepath.Join(work, "mmm.secret"), []byte("loadbench-mmm-signing-key-0123456789abcdef"), 0o600))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	must(err)
	must(os.WriteFile(filepath.Join(work, "idtoken.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
}

func must(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func adminAddr(p *proc) string {
	host, port, _ := net.SplitHostPort(p.addr)
	n, _ := strconv.Atoi(port)
	return net.JoinHostPort(host, strconv.Itoa(n+1000))
}

// startGateway starts gateway number n on store ("memory" or "redis").
func startGateway(work, store string, n int, name string) *proc {
	addr := fmt.Sprintf("127.0.0.1:%d", 18080+n)
	storeBlock := "store: { driver: memory }"
	if store == "redis" {
		storeBlock = `store: { driver: redis, redis: { addrs: ["127.0.0.1:` + redisPort + `"], key_prefix: "lb:" } }`
		if *cacheMaxAge > 0 {
			storeBlock = `store: { driver: redis, redis: { addrs: ["127.0.0.1:` + redisPort + `"], key_prefix: "lb:" }, cache: { max_age: ` + cacheMaxAge.String() + ` } }`
		}
	}
	cfg := fmt.Sprintf(`server: { listen: %q, admin_listen: %q, drain_delay: 0s }
%s
identity: { users_file: users.yaml }
log: { level: %s }
admin: { pprof: %t }
dialects:
  mmm: { type: mmm, secret_file: mmm.secret, login_limit: 1000000000 }
identity_token: { keys: [ { kid: lb, private_key_file: idtoken.pem, signs: true } ] }
%s
routes:
  - { path_prefix: /v1/, dialects: [mmm], upstream: "http://%s" }
  - { path_prefix: /t/, dialects: [mmm], upstream: "http://%s", identity_token: { header: X-Auth-Token } }
`, addr, adminAddr(&proc{addr: addr}), storeBlock, *logLevel, *profileDir != "", tracingBlock(), upstreamAddr, upstreamAddr)
	path := filepath.Join(work, fmt.Sprintf("gateway-%d.yaml", n))
	must(os.WriteFile(path, []byte(cfg), 0o600))
	return start("gateway "+name, addr, filepath.Join(work, "gateway"), "-config", path)
}

type pair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

type result struct {
	rps, cpuPerReq, redisPerReq float64
	p99                         string
}

var (
	rpsRe   = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	totalRe = regexp.MustCompile(`(\d+) requests in`)
	p99Re   = regexp.MustCompile(`(?m)^\s+99%\s+(\S+)`)
)

// otlpSinkAddr takes the gateways' exported spans when -tracing is set.
const otlpSinkAddr = "127.0.0.1:18079"

// startOTLPSink accepts OTLP/HTTP exports and drops them: the bench
// measures what tracing costs the gateway, not a collector.
func startOTLPSink() {
	go func() {
		_ = http.ListenAndServe(otlpSinkAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
	}()
}

// tracingBlock is the gateways' tracing block: on at -tracing's ratio.
func tracingBlock() string {
	if *tracingOn <= 0 {
		return ""
	}
	return fmt.Sprintf("tracing: { endpoint: \"http://%s\", sampling_ratio: %v }", otlpSinkAddr, *tracingOn)
}
