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
//	go run ./bench/loadbench [-rounds 3] [-duration 8s] [-modes one,many,refresh]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var (
	rounds      = flag.Int("rounds", 3, "interleaved rounds per mode")
	duration    = flag.Duration("duration", 8*time.Second, "wrk run length")
	connections = flag.Int("connections", 64, "wrk connections")
	modes       = flag.String("modes", "one,many,refresh", "one (one token), many (more tokens than the verified-token cache holds), refresh (a refresh storm)")
	manyTokens  = flag.Int("many", 12000, "tokens of the many mode")
	lagTrials   = flag.Int("lag-trials", 100, "revocation-lag trials across three replicas (0 skips)")
	idleConns   = flag.Int("idle-conns", 1000, "idle keep-alive connections for the memory figure")
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

	redisProc := start("redis", "127.0.0.1:"+redisPort, redisServer, "--port", redisPort, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	start("upstream", upstreamAddr, filepath.Join(work, "upstream"), "-listen", upstreamAddr)
	ref := start("C (httputil.ReverseProxy)", refAddr, filepath.Join(work, "refproxy"), "-listen", refAddr, "-upstream", "http://"+upstreamAddr)
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
		for _, gw := range []*proc{mem, red} {
			scripts[gw] = prepare(work, mode, gw)
		}
		scripts[ref] = scripts[mem] // C forwards whatever it gets
		fmt.Printf("\nmode %s\n%-28s %5s %10s %9s %11s %8s %12s\n", mode, "target", "round", "req/s", "p99", "CPU µs/req", "× C", "Redis µs/req")
		results := map[string][]float64{}
		hits0, misses0 := cacheCounters(red)
		for r := 1; r <= *rounds; r++ {
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
			fmt.Printf("  %s: CPU per request %.2f–%.2f × C\n", name, rs[0], rs[len(rs)-1])
		}
		hits, misses := cacheCounters(red)
		fmt.Printf("  gateway redis session cache: %.0f hits, %.0f misses (%.1f%% of checks read Redis)\n",
			hits-hits0, misses-misses0, 100*(misses-misses0)/max(1, hits-hits0+misses-misses0))
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
	}
	cfg := fmt.Sprintf(`server: { listen: %q, admin_listen: %q, drain_delay: 0s }
%s
identity: { users_file: users.yaml }
log: { level: error }
dialects:
  mmm: { type: mmm, secret_file: mmm.secret, login_limit: 1000000000 }
routes:
  - { path_prefix: /v1/, dialects: [mmm], upstream: "http://%s" }
`, addr, adminAddr(&proc{addr: addr}), storeBlock, upstreamAddr)
	path := filepath.Join(work, fmt.Sprintf("gateway-%d.yaml", n))
	must(os.WriteFile(path, []byte(cfg), 0o600))
	return start("gateway "+name, addr, filepath.Join(work, "gateway"), "-config", path)
}

type pair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

func login(addr string) (pair, error) {
	resp, err := http.Post("http://"+addr+"/auth/login", "application/json",
		strings.NewReader(fmt.Sprintf(`{"account":%q,"password":%q}`, benchUser, benchPass)))
	if err != nil {
		return pair{}, err
	}
	defer resp.Body.Close()
	var env struct {
		Code string
		Data pair
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil || env.Code != "00000" {
		return pair{}, fmt.Errorf("login: %s %v", env.Code, err)
	}
	return env.Data, nil
}

// logins mints n sessions on a gateway, 32 at a time.
func logins(addr string, n int) []pair {
	out := make([]pair, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var mu sync.Mutex
	var firstErr error
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := login(addr)
			if err != nil {
				mu.Lock()
				firstErr = errors.Join(firstErr, err)
				mu.Unlock()
			}
			out[i] = p
		}()
	}
	wg.Wait()
	if firstErr != nil {
		fail("minting tokens on %s: %v", addr, firstErr)
	}
	return out
}

// prepare mints the tokens mode needs on gw and writes its wrk script.
func prepare(work, mode string, gw *proc) string {
	var tokens []string
	var script string
	switch mode {
	case "one":
		p := logins(gw.addr, 1)
		return writeScript(work, mode, gw, fmt.Sprintf("wrk.headers[\"x-mmm-accesstoken\"] = %q\n", p[0].Access))
	case "many":
		for _, p := range logins(gw.addr, *manyTokens) {
			tokens = append(tokens, p.Access)
		}
		script = `
local tokens, i = {}, 0
for line in io.lines("TOKENS") do tokens[#tokens + 1] = line end
function init(args) i = math.random(#tokens) end
function request()
  i = i % #tokens + 1
  return wrk.format("GET", "/v1/x", {["x-mmm-accesstoken"] = tokens[i]})
end
`
	case "refresh":
		// Each connection needs a refresh token in flight; every answer
		// brings the next one. Threads take disjoint halves of the pool.
		for _, p := range logins(gw.addr, 4*(*connections)) {
			tokens = append(tokens, p.Refresh)
		}
		script = `
local pool, queue = {}, {}
for line in io.lines("TOKENS") do pool[#pool + 1] = line end
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
function init(args)
  local me = id or 1 -- set by setup, a global of this thread's state
  for k = 1, #pool do if k % 2 == me % 2 then queue[#queue + 1] = pool[k] end end
end
function request()
  local t = table.remove(queue, 1) or pool[1]
  return wrk.format("GET", "/v1/auth/refresh_token", {["x-mmm-refreshtoken"] = t})
end
function response(status, headers, body)
  local rt = body:match('"refresh_token":"([^"]+)"')
  if rt then queue[#queue + 1] = rt end
end
`
	default:
		fail("unknown mode %q", mode)
	}
	file := filepath.Join(work, fmt.Sprintf("%s-%s.tokens", mode, strings.ReplaceAll(gw.name, " ", "-")))
	must(os.WriteFile(file, []byte(strings.Join(tokens, "\n")+"\n"), 0o600))
	return writeScript(work, mode, gw, strings.ReplaceAll(script, "TOKENS", file))
}

func writeScript(work, mode string, gw *proc, lua string) string {
	path := filepath.Join(work, fmt.Sprintf("%s-%s.lua", mode, strings.ReplaceAll(gw.name, " ", "-")))
	must(os.WriteFile(path, []byte(lua), 0o600))
	return path
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

// run runs wrk against target and takes the CPU target and Redis spent.
func run(target *proc, script string, redisProc *proc) result {
	path := "/v1/x"
	if strings.HasPrefix(filepath.Base(script), "refresh") {
		path = "/v1/auth/refresh_token"
	}
	cpu0, redis0 := target.cpu(), redisProc.cpu()
	out, err := exec.Command("wrk", "-t2", fmt.Sprintf("-c%d", *connections), fmt.Sprintf("-d%s", *duration),
		"--latency", "-s", script, "http://"+target.addr+path).CombinedOutput()
	if err != nil {
		fail("wrk: %v\n%s", err, out)
	}
	cpu, redisCPU := target.cpu()-cpu0, redisProc.cpu()-redis0
	total, _ := strconv.ParseFloat(firstMatch(totalRe, out), 64)
	rps, _ := strconv.ParseFloat(firstMatch(rpsRe, out), 64)
	if strings.Contains(string(out), "Non-2xx") {
		fmt.Printf("  (%s: %s)\n", target.name, strings.TrimSpace(regexp.MustCompile(`Non-2xx.*`).FindString(string(out))))
	}
	return result{rps: rps, p99: firstMatch(p99Re, out),
		cpuPerReq: float64(cpu.Microseconds()) / total, redisPerReq: float64(redisCPU.Microseconds()) / total}
}

func firstMatch(re *regexp.Regexp, out []byte) string {
	m := re.FindSubmatch(out)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// revocationLag logs a session out on one of three Redis replicas, each of
// the other two having it cached, and times until both refuse it.
func revocationLag(work string) {
	var reps []*proc
	for n := 3; n <= 5; n++ {
		reps = append(reps, startGateway(work, "redis", n, fmt.Sprintf("replica %d", n-2)))
	}
	for _, p := range reps {
		waitHTTP("http://" + adminAddr(p) + "/readyz")
	}
	time.Sleep(300 * time.Millisecond) // subscriptions up
	sessions := logins(reps[0].addr, *lagTrials)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	status := func(addr, token string) string {
		req, _ := http.NewRequest("GET", "http://"+addr+"/v1/x", nil)
		req.Header.Set("x-mmm-accesstoken", token)
		resp, err := client.Do(req)
		if err != nil {
			return "error"
		}
		defer resp.Body.Close()
		var env struct{ Code string }
		_ = json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&env)
		return env.Code
	}
	var lags []time.Duration
	for _, s := range sessions {
		for _, r := range reps[1:] {
			status(r.addr, s.Access)
			status(r.addr, s.Access) // cached now
		}
		req, _ := http.NewRequest("POST", "http://"+reps[0].addr+"/v1/auth/logout", nil)
		req.Header.Set("x-mmm-accesstoken", s.Access)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			fail("logout: %v", err)
		}
		resp.Body.Close()
		var wg sync.WaitGroup
		var mu sync.Mutex
		worst := time.Duration(0)
		for _, r := range reps[1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				for ctx.Err() == nil && status(r.addr, s.Access) != "10014" {
				}
				mu.Lock()
				worst = max(worst, time.Since(t0))
				mu.Unlock()
			}()
		}
		wg.Wait()
		lags = append(lags, worst)
	}
	slices.Sort(lags)
	q := func(f float64) time.Duration { return lags[int(f*float64(len(lags)-1))] }
	fmt.Printf("\nrevocation lag, logout on one replica until both others refuse (%d trials, from the logout request): p50 %v, p99 %v, max %v\n",
		len(lags), q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond), lags[len(lags)-1].Round(time.Microsecond))
}

// idleMemory starts a fresh memory gateway, opens idle keep-alive
// connections to it and reports its resident memory before and with them.
func idleMemory(work string) {
	gw := startGateway(work, "memory", 6, "fresh")
	waitHTTP("http://" + adminAddr(gw) + "/readyz")
	time.Sleep(200 * time.Millisecond)
	fresh := gw.rss()
	var conns []net.Conn
	for range *idleConns {
		c, err := net.Dial("tcp", gw.addr)
		if err != nil {
			break
		}
		fmt.Fprintf(c, "GET /healthz-none HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, c)
	}
	time.Sleep(500 * time.Millisecond)
	fmt.Printf("\ngateway RSS (memory store, no traffic): fresh %s, with %d idle keep-alive connections %s\n", fresh, len(conns), gw.rss())
	for _, c := range conns {
		c.Close()
	}
}
