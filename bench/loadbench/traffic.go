package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

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
	case "idtoken":
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
		// brings the next one. Threads take disjoint halves of the pool,
		// four tokens a connection, the rest in reserve for an answer
		// that brought none (a connection cut). A token is never sent
		// twice: each run has sessions of its own (a later run sending an
		// earlier one's tokens would be a storm of reuses and then of
		// refusals, cheaper than rotations), and the refresh counters
		// printed after the mode show what was measured.
		for _, p := range logins(gw.addr, 6*(*connections)) {
			tokens = append(tokens, p.Refresh)
		}
		script = `
local pool, queue, reserve = {}, {}, {}
for line in io.lines("TOKENS") do pool[#pool + 1] = line end
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
function init(args)
  local me = id or 1 -- set by setup, a global of this thread's state
  for k = 1, #pool do
    if k % 2 == me % 2 then
      if #queue < #pool / 3 then queue[#queue + 1] = pool[k] else reserve[#reserve + 1] = pool[k] end
    end
  end
end
function request()
  local t = table.remove(queue, 1) or table.remove(reserve, 1) or "exhausted"
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

// run runs wrk against target and takes the CPU target and Redis spent.
func run(target *proc, script string, redisProc *proc) result {
	path := "/v1/x"
	switch base := filepath.Base(script); {
	case strings.HasPrefix(base, "refresh"):
		path = "/v1/auth/refresh_token"
	case strings.HasPrefix(base, "idtoken"):
		path = "/t/x"
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

// profile runs wrk against gw once more while it takes gw's CPU profile
// and the allocations of the same span (a delta profile) from its admin
// listener, and writes both to -profile's directory as MODE-LABEL.
func profile(gw *proc, label, mode, script string, redisProc *proc) {
	seconds := max(1, int(duration.Seconds())-1)
	var wg sync.WaitGroup
	for _, kind := range []string{"profile", "allocs"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(500 * time.Millisecond) // wrk's connections up
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", adminAddr(gw), kind, seconds))
			if err != nil {
				fail("profile %s: %v", gw.name, err)
			}
			defer resp.Body.Close()
			name := map[string]string{"profile": "cpu", "allocs": "allocs"}[kind]
			f, err := os.Create(filepath.Join(*profileDir, fmt.Sprintf("%s-%s.%s.pprof", mode, label, name)))
			must(err)
			defer f.Close()
			_, err = io.Copy(f, resp.Body)
			must(err)
		}()
	}
	res := run(gw, script, redisProc)
	wg.Wait()
	fmt.Printf("  profiled %s: %.0f req/s, %.1f CPU µs/req (written to %s)\n", gw.name, res.rps, res.cpuPerReq, *profileDir)
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
