package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authgate/authgate/dialects/dialecttest"
	"github.com/authgate/authgate/gateway/gatewaytest"
	"github.com/authgate/authgate/internal/redistest"
)

// underLoad runs clients that each log in, then call the protected route
// and refresh their pair until stop is closed, retrying a refresh the
// store could not answer with the same refresh token, each request on the
// next of the gateway replicas gws in turn. It fails the test for a
// protected answer without the client's own identity, a refresh that
// ends the session (a retried refresh taken as a reuse), and a revoked or
// forged token that passes. When stop closes, every client's last pair
// must still work: no live session was lost.
func underLoad(t *testing.T, gws []*gatewaytest.Gateway, clients int, during func()) {
	t.Helper()
	tg := gws[0]
	var turn atomic.Int64
	next := func() *gatewaytest.Gateway { return gws[int(turn.Add(1))%len(gws)] }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, refreshes, unavailable atomic.Int64
	revoked := tg.Login(t)
	if r := tg.Do(t, "POST", "/v1/auth/logout", map[string]string{"x-mmm-accesstoken": revoked.Access}, ""); r.Code(t) != "00000" {
		t.Fatalf("logout: %s", r.Raw)
	}
	last := make([]gatewaytest.Pair, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p gatewaytest.Pair
			for {
				r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`)
				if c, _ := r.Body["code"].(string); c == "00000" {
					p = gatewaytest.ReadPair(t, r)
					break
				}
				unavailable.Add(1)
				time.Sleep(20 * time.Millisecond)
			}
			sid := claimSid(t, p.Access)
			for n := 0; ; n++ {
				select {
				case <-stop:
					last[i] = p
					return
				default:
				}
				r, seen := next().Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access})
				switch {
				case seen != nil:
					calls.Add(1)
					if got := seen["X-Auth-Session-Id"]; len(got) != 1 || got[0] != sid {
						t.Errorf("client %d reached the upstream as session %v, want %s", i, got, sid)
					}
				case r.Status == 503:
					unavailable.Add(1)
				default:
					t.Errorf("client %d: protected call = %d %s", i, r.Status, r.Raw)
				}
				for _, bad := range []string{revoked.Access, "garbage." + p.Access} {
					if r, seen := next().Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": bad}); seen != nil {
						t.Errorf("a revoked or forged token reached the upstream: %d", r.Status)
					}
				}
				if n%4 == 3 {
					r := next().Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
					switch c, _ := r.Body["code"].(string); c {
					case "00000":
						refreshes.Add(1)
						p = gatewaytest.ReadPair(t, r)
					case "50300":
						unavailable.Add(1) // the same refresh token is tried again next round
					default:
						t.Errorf("client %d: refresh = %d %s, the session ended", i, r.Status, r.Raw)
						return
					}
				}
			}
		}()
	}
	// The event starts once the load runs (calls and a refresh went
	// through), and the load stops once a refresh has gone through after
	// it: a busy machine stretches both, never shortens them to nothing.
	waitUpTo := func(limit time.Duration, cond func() bool) bool {
		for deadline := time.Now().Add(limit); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				return false
			}
		}
		return true
	}
	waitUpTo(10*time.Second, func() bool { return calls.Load() > 0 && refreshes.Load() > 0 })
	during()
	after := refreshes.Load()
	if !waitUpTo(30*time.Second, func() bool { return refreshes.Load() > after }) {
		t.Error("no refresh went through after the event")
	}
	close(stop)
	wg.Wait()
	// The store may still be settling (a replica resyncing, a client
	// learning the new master): 503 is retried, as a client would; what
	// must never come is an ended session.
	settled := func(do func() gatewaytest.Reply) gatewaytest.Reply {
		var r gatewaytest.Reply
		for range 100 {
			if r = do(); r.Status != 503 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return r
	}
	for i, p := range last {
		if p.Access == "" {
			continue
		}
		if r := settled(func() gatewaytest.Reply {
			return tg.Do(t, "GET", "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access}, "")
		}); r.Status != 200 || r.Body["headers"] == nil {
			t.Errorf("client %d lost its session: %d %s", i, r.Status, r.Raw)
		}
		if r := settled(func() gatewaytest.Reply {
			return tg.Do(t, "GET", "/v1/auth/refresh_token", map[string]string{"x-mmm-refreshtoken": p.Refresh}, "")
		}); r.Code(t) != "00000" {
			t.Errorf("client %d cannot refresh after the event: %s", i, r.Raw)
		}
	}
	if t.Failed() {
		for line := range strings.SplitSeq(tg.Logs.String(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				t.Log(line)
				break
			}
		}
	}
	t.Logf("%d protected calls, %d refreshes, %d answers of an unavailable store", calls.Load(), refreshes.Load(), unavailable.Load())
	if calls.Load() == 0 || refreshes.Load() == 0 {
		t.Fatal("the load did not run")
	}
}

func claimSid(t *testing.T, token string) string {
	t.Helper()
	s, _ := dialecttest.Claims(t, token)["sid"].(string)
	return s
}

// TestSessionsSurviveSentinelFailover: a Sentinel failover while logins,
// refreshes and proxied requests flow.
func TestSessionsSurviveSentinelFailover(t *testing.T) {
	t.Parallel() // its own Redis servers on free ports; mostly waiting for failovers
	st := redistest.StartSentinel(t)
	tg := gatewaytest.Start(t, gatewaytest.Options{StoreBlock: fmt.Sprintf("store:\n  driver: redis\n  redis:\n    addrs: [%s]\n    master_name: %s\n    wait_replicas: 1\n    key_prefix: \"e2e:\"\n",
		strings.Join(st.Sentinels, ", "), st.MasterName)})
	rep := gatewaytest.StartReplica(t, tg)
	underLoad(t, []*gatewaytest.Gateway{tg, rep}, 6, func() {
		// The clock runs fast while the failover happens: every refresh
		// answered 503 meanwhile is retried long after refresh_grace, as a
		// client whose network dropped would; none may be judged a reuse.
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					tg.Clock.Advance(4 * time.Second)
				}
			}
		}()
		st.Failover(t)
		close(stop)
		<-done
	})
	// The write outage shows in the write-health metric.
	if v := writeFailures(t, tg, rep); v <= 0 {
		t.Errorf("the failover's write outage is not counted: %v", v)
	}
}

// TestWriteHealthIsVisible: writes that cannot be replicated (wait_replicas
// on a master without replicas) answer 503 and are counted, while /readyz
// stays 200: reads work, and a replica leaving the load balancer would
// not help.
func TestWriteHealthIsVisible(t *testing.T) {
	tg := gatewaytest.Start(t, gatewaytest.Options{StoreBlock: fmt.Sprintf("store:\n  driver: redis\n  redis:\n    addrs: [%s]\n    wait_replicas: 1\n    wait_timeout: 10ms\n    key_prefix: %q\n",
		gatewaytest.RedisAddr(), gatewaytest.NewPrefix(t))})
	if r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`); r.Status != 503 || r.Code(t) != "50300" {
		t.Fatalf("login on a master without replicas: %d %s", r.Status, r.Raw)
	}
	m := tg.MetricsText(t)
	if gatewaytest.MetricValue(m, `authgate_store_write_failures_total{reason="not_replicated"}`) != 1 || gatewaytest.MetricValue(m, `authgate_store_write_failures_total{reason="unavailable"}`) != 0 {
		t.Errorf("write failures:\n%s", gatewaytest.GrepLines(m, "authgate_store_write_failures_total"))
	}
	resp, err := http.Get(tg.Admin.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("readyz = %d during a write outage, want 200", resp.StatusCode)
	}
	gatewaytest.CheckDashboard(t, m, "authgate_store_write_failures_total")
}

// TestSessionsSurviveSlotMigration: slots move between Cluster masters
// (ASK, TRYAGAIN, MOVED) while logins, refreshes and proxied requests
// flow.
func TestSessionsSurviveSlotMigration(t *testing.T) {
	t.Parallel() // its own Redis servers on free ports; mostly waiting for failovers
	cl := redistest.StartCluster(t)
	tg := gatewaytest.Start(t, gatewaytest.Options{StoreBlock: fmt.Sprintf("store:\n  driver: redis\n  redis:\n    addrs: [%s]\n    key_prefix: \"e2e:\"\n", strings.Join(cl.Addrs, ", "))})
	underLoad(t, []*gatewaytest.Gateway{tg}, 6, func() { cl.MigrateSlotsOf(t, "e2e:*") })
	if t.Failed() {
		t.Log(cl.Describe())
	}
}

// TestLogoutsDuringAFailoverStick: logouts fired into a Sentinel failover
// on one of two gateway replicas, each retried after 503 as a client
// would: once a logout is answered (00000, or 10014 for a retry), its
// token is never accepted again on either replica, through the old
// master's return as a replica and its resync; and the other replica
// refuses it within 100 ms of the answer. Planned, the demoted master
// stays up and writable for seconds (as it does in a real failover,
// until the sentinels reconfigure it); killed, it comes back empty.
func TestLogoutsDuringAFailoverStick(t *testing.T) {
	t.Parallel() // its own Redis servers on free ports; mostly waiting for failovers
	t.Run("planned", func(t *testing.T) {
		t.Parallel()
		st := redistest.StartSentinelWith(t, redistest.SentinelOptions{HoldDemotion: true})
		logoutsStick(t, st, func() {
			st.StartFailover(t)
			// The sentinels reconfigure the old master late.
			time.Sleep(3 * time.Second)
			st.Demote(t)
		})
	})
	t.Run("master killed", func(t *testing.T) {
		t.Parallel()
		st := redistest.StartSentinel(t)
		logoutsStick(t, st, func() {
			killed := st.KillMaster(t)
			dialecttest.WaitFor(t, "a new master", func() bool { return st.Master(t) != killed })
			time.Sleep(time.Second)
			st.Restart(t, killed)
		})
	})
}

// logoutsStick logs in ten sessions on one of two gateway replicas over
// st, fires their logouts 200 ms apart while event happens, and checks
// that no answered logout is ever undone.
func logoutsStick(t *testing.T, st *redistest.Sentinel, event func()) {
	a := gatewaytest.Start(t, gatewaytest.Options{StoreBlock: fmt.Sprintf("store:\n  driver: redis\n  redis:\n    addrs: [%s]\n    master_name: %s\n    wait_replicas: 1\n    key_prefix: %q\n",
		strings.Join(st.Sentinels, ", "), st.MasterName, gatewaytest.NewPrefix(t))})
	b := gatewaytest.StartReplica(t, a)
	const n = 10
	held := make([]gatewaytest.Pair, n)
	for i := range held {
		held[i] = a.Login(t)
		if r, _ := b.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": held[i].Access}); r.Status != 200 {
			t.Fatalf("session %d on the other replica: %d", i, r.Status)
		}
	}
	accepted := func(g *gatewaytest.Gateway, p gatewaytest.Pair) bool {
		_, seen := g.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access})
		return seen != nil
	}
	var mu sync.Mutex
	var answered []int
	var wg sync.WaitGroup
	// The logouts straddle the failover: some reach the old master before
	// it, some in the moment before the gateways learn of it, some the new
	// master.
	for i, p := range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 200 * time.Millisecond)
			for tries := 0; ; tries++ {
				r := a.Do(t, "POST", "/v1/auth/logout", map[string]string{"x-mmm-accesstoken": p.Access}, "")
				if c, _ := r.Body["code"].(string); c == "00000" || c == "10014" {
					break
				}
				if tries == 600 {
					t.Errorf("logout %d never answered: %s", i, r.Raw)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			mu.Lock()
			answered = append(answered, i)
			mu.Unlock()
			at := time.Now()
			for accepted(b, p) {
				if time.Since(at) > 100*time.Millisecond {
					t.Errorf("logout %d still accepted by the other replica 100 ms after its answer", i)
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	event()
	for i := 0; !st.Synced(t); i++ {
		if i == 300 {
			t.Fatalf("the old master did not come back as a replica:\n%s", st.Describe())
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(answered) != n {
		t.Fatalf("%d of %d logouts answered", len(answered), n)
	}
	for range 10 {
		for _, i := range answered {
			for _, g := range []*gatewaytest.Gateway{a, b} {
				if accepted(g, held[i]) {
					t.Fatalf("logout %d was undone: its token is accepted again", i)
				}
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// fastClock runs tg's clock fast (4 s every 100 ms) until the returned
// stop is called: refreshes answered 503 are then retried long after
// refresh_grace, as by clients whose network dropped.
func fastClock(tg *gatewaytest.Gateway) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case <-time.After(100 * time.Millisecond):
				tg.Clock.Advance(4 * time.Second)
			}
		}
	}()
	return func() { close(quit); <-done }
}

// TestSessionsSurviveAMasterKill: the master is killed (no goodbye) while
// logins, refreshes and proxied requests flow; the sentinels promote the
// replica, and the killed node comes back empty and is made its replica.
// With wait_replicas 1 every write fails until then; no client is logged
// out by its retried refreshes, no acknowledged session is lost, and the
// outage is counted.
func TestSessionsSurviveAMasterKill(t *testing.T) {
	t.Parallel() // its own Redis servers on free ports; mostly waiting for failovers
	st := redistest.StartSentinel(t)
	tg := gatewaytest.Start(t, gatewaytest.Options{StoreBlock: fmt.Sprintf("store:\n  driver: redis\n  redis:\n    addrs: [%s]\n    master_name: %s\n    wait_replicas: 1\n    key_prefix: \"kill:\"\n",
		strings.Join(st.Sentinels, ", "), st.MasterName)})
	rep := gatewaytest.StartReplica(t, tg)
	underLoad(t, []*gatewaytest.Gateway{tg, rep}, 6, func() {
		stop := fastClock(tg)
		defer stop()
		before := st.KillMaster(t)
		dialecttest.WaitFor(t, "a new master", func() bool { return st.Master(t) != before })
		time.Sleep(time.Second)
		st.Restart(t, before)
		for i := 0; !st.Synced(t); i++ {
			if i == 300 {
				t.Fatalf("the killed node did not come back as a replica:\n%s", st.Describe())
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if v := writeFailures(t, tg, rep); v <= 0 {
		t.Errorf("the write outage is not counted: %v", v)
	}
}

// TestWriteOutageWithTwoReplicas: a master with two replicas under
// wait_replicas 1 keeps the new master one replica through a failover,
// planned or after a kill: logins work again within a few seconds, and
// the session of the first login that works survives the demoted
// master's resync (a write that a demoted master took is not answered as
// durable).
func TestWriteOutageWithTwoReplicas(t *testing.T) {
	t.Parallel() // its own Redis servers on free ports; mostly waiting for failovers
	st := redistest.StartSentinelWith(t, redistest.SentinelOptions{Replicas: 2})
	tg := gatewaytest.Start(t, gatewaytest.Options{MMM: "    login_limit: 100000\n", StoreBlock: fmt.Sprintf("store:\n  driver: redis\n  redis:\n    addrs: [%s]\n    master_name: %s\n    wait_replicas: 1\n    key_prefix: %q\n",
		strings.Join(st.Sentinels, ", "), st.MasterName, gatewaytest.NewPrefix(t))})
	tg.Login(t)
	outage := func(event func()) (time.Duration, gatewaytest.Pair) {
		start := time.Now()
		event()
		// The gateway hears the sentinels' +switch-master within
		// milliseconds of them announcing it; a write that reaches the
		// demoted master in that instant is still taken (docs/redis.md, "Running
		// with Redis").
		time.Sleep(100 * time.Millisecond)
		for {
			r := tg.Do(t, "POST", "/auth/login", nil, `{"account":"demo","password":"demo123"}`)
			if c, _ := r.Body["code"].(string); c == "00000" {
				return time.Since(start), gatewaytest.ReadPair(t, r)
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("no login 30 s after the event: %s\n%s", r.Raw, st.Describe())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	survives := func(what string, p gatewaytest.Pair) {
		t.Helper()
		if r, seen := tg.Echo(t, "/v1/orders", map[string]string{"x-mmm-accesstoken": p.Access}); seen == nil {
			t.Errorf("the first login after the %s was lost: %d %s\n%s", what, r.Status, r.Raw, st.Describe())
		}
	}
	planned, p1 := outage(func() { st.StartFailover(t) })
	for i := 0; !st.Synced(t); i++ {
		if i == 300 {
			t.Fatalf("the old master did not resync:\n%s", st.Describe())
		}
		time.Sleep(100 * time.Millisecond)
	}
	survives("planned failover", p1)
	killed, p2 := outage(func() { st.KillMaster(t) })
	time.Sleep(3 * time.Second)
	survives("master kill", p2)
	t.Logf("logins work again %v after a planned failover, %v after a master kill", planned.Round(10*time.Millisecond), killed.Round(10*time.Millisecond))
	if planned > 10*time.Second || killed > 10*time.Second {
		t.Errorf("write outage %v (planned), %v (kill): want a few seconds", planned, killed)
	}
}

// writeFailures is the not-replicated write failures of gws together.
func writeFailures(t *testing.T, gws ...*gatewaytest.Gateway) float64 {
	var sum float64
	for _, g := range gws {
		sum += gatewaytest.MetricValue(g.MetricsText(t), `authgate_store_write_failures_total{reason="not_replicated"}`)
	}
	return sum
}
