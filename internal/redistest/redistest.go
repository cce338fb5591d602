// Package redistest starts real Redis topologies on loopback for tests:
// a Sentinel set (a master, a replica, three sentinels) and a three-master
// Cluster, from Debian's redis-server (which is also the sentinel, with
// --sentinel). They are started by the test that needs them and stopped
// with it; a machine without redis-server fails such a test, never skips
// it.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// freePort finds a loopback port nobody listens on.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs redis-server with args in its own folder until the test ends.
func start(t testing.TB, port int, args ...string) string {
	t.Helper()
	addr, _ := startProcess(t, port, args...)
	return addr
}

// startProcess is start, with the process, which a test may kill.
func startProcess(t testing.TB, port int, args ...string) (string, *exec.Cmd) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is needed for the Sentinel and Cluster tests (apt-get install redis-server): %v", err)
	}
	dir := t.TempDir()
	all := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no",
		"--logfile", filepath.Join(dir, "redis.log")}, args...)
	cmd := exec.Command(bin, all...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	waitUntil(t, "redis at "+addr, 10*time.Second, func() bool {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		defer c.Close()
		return c.Ping(context.Background()).Err() == nil
	})
	return addr, cmd
}

func waitUntil(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Sentinel is a master with one replica watched by three sentinels.
type Sentinel struct {
	MasterName string
	Sentinels  []string
	nodes      []string
	replicas   int
	procs      map[string]*exec.Cmd
}

// StartSentinel starts the set and waits until the sentinels see the
// master and its replica.
func StartSentinel(t testing.TB) *Sentinel { return StartSentinelWith(t, SentinelOptions{}) }

// SentinelOptions shape a Sentinel set.
type SentinelOptions struct {
	// Replicas is how many replicas the master has (default 1).
	Replicas int
	// HoldDemotion keeps the first master a writable master after a
	// failover, for as long as the test wants (until Demote): the
	// sentinels cannot reconfigure it (its REPLICAOF and SLAVEOF are
	// renamed), as a demoted master that stays up answers for seconds in
	// a real failover.
	HoldDemotion bool
}

// demoteCommand is the first master's REPLICAOF under HoldDemotion.
const demoteCommand = "authgate-test-replicaof"

// StartSentinelWith starts a set shaped by o and waits until the
// sentinels see the master and every replica.
func StartSentinelWith(t testing.TB, o SentinelOptions) *Sentinel {
	t.Helper()
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	var masterArgs []string
	if o.HoldDemotion {
		masterArgs = []string{"--rename-command", "REPLICAOF", demoteCommand, "--rename-command", "SLAVEOF", demoteCommand + "-slaveof"}
	}
	master, proc := startProcess(t, freePort(t), masterArgs...)
	s := &Sentinel{MasterName: "authgate", nodes: []string{master}, replicas: o.Replicas, procs: map[string]*exec.Cmd{master: proc}}
	for range o.Replicas {
		addr, proc := startProcess(t, freePort(t), "--replicaof", "127.0.0.1", strings.TrimPrefix(master, "127.0.0.1:"))
		s.nodes = append(s.nodes, addr)
		s.procs[addr] = proc
	}
	host, port, _ := net.SplitHostPort(master)
	for range 3 {
		p := freePort(t)
		conf := filepath.Join(t.TempDir(), "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor %s %s %s 2\nsentinel down-after-milliseconds %s 1000\nsentinel failover-timeout %s 5000\n",
			p, s.MasterName, host, port, s.MasterName, s.MasterName)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		bin, err := exec.LookPath("redis-server")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, conf, "--sentinel")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		s.Sentinels = append(s.Sentinels, "127.0.0.1:"+strconv.Itoa(p))
	}
	waitUntil(t, "the sentinels to see the replica", 20*time.Second, func() bool {
		for _, a := range s.Sentinels {
			c := redis.NewSentinelClient(&redis.Options{Addr: a})
			replicas, err := c.Replicas(context.Background(), s.MasterName).Result()
			c.Close()
			if err != nil || len(replicas) < s.replicas {
				return false
			}
		}
		return replicasSynced(master, s.replicas)
	})
	return s
}

func waitReplicaSynced(master string) bool { return replicasSynced(master, 1) }

// replicasSynced reports whether master has at least n replicas online.
func replicasSynced(master string, n int) bool {
	c := redis.NewClient(&redis.Options{Addr: master})
	defer c.Close()
	info, err := c.Info(context.Background(), "replication").Result()
	return err == nil && strings.Count(info, "state=online") >= n
}

// Master is the address the sentinels report for the master now.
func (s *Sentinel) Master(t testing.TB) string {
	t.Helper()
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0]})
	defer c.Close()
	a, err := c.GetMasterAddrByName(context.Background(), s.MasterName).Result()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(a[0], a[1])
}

// Failover makes the replica the master (SENTINEL FAILOVER) and waits
// until it is, and the old master has turned into its replica.
func (s *Sentinel) Failover(t testing.TB) {
	t.Helper()
	before := s.Master(t)
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0]})
	defer c.Close()
	if err := c.Failover(context.Background(), s.MasterName).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	waitUntil(t, "the failover", 30*time.Second, func() bool {
		now := s.Master(t)
		if now == before {
			return false
		}
		return replicasSynced(now, s.replicas)
	})
}

// StartFailover makes the replica the master (SENTINEL FAILOVER) and
// returns as soon as the sentinel reports the new master: the old one is
// still up, and still a master for a while, as in a real failover.
func (s *Sentinel) StartFailover(t testing.TB) (before, after string) {
	t.Helper()
	before = s.Master(t)
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0]})
	defer c.Close()
	if err := c.Failover(context.Background(), s.MasterName).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	waitUntil(t, "the sentinel to name a new master", 30*time.Second, func() bool {
		after = s.Master(t)
		return after != before
	})
	return before, after
}

// Synced reports whether the master the sentinels name has every replica
// online again (after a failover: the old master, reconfigured).
func (s *Sentinel) Synced(t testing.TB) bool {
	t.Helper()
	return replicasSynced(s.Master(t), s.replicas)
}

// Demote makes the first master, held writable after a failover
// (HoldDemotion), a replica of the master the sentinels name now: the
// sentinels' reconfiguration, late. Its writes since the failover are
// lost as it resyncs, as in a real failover.
func (s *Sentinel) Demote(t testing.TB) {
	t.Helper()
	host, port, _ := net.SplitHostPort(s.Master(t))
	c := redis.NewClient(&redis.Options{Addr: s.nodes[0]})
	defer c.Close()
	if err := c.Do(context.Background(), demoteCommand, host, port).Err(); err != nil {
		t.Fatalf("demote the old master: %v", err)
	}
}

// KillMaster kills the master's process (SIGKILL: no goodbye to its
// replicas or the sentinels) and returns its address.
func (s *Sentinel) KillMaster(t testing.TB) string {
	t.Helper()
	addr := s.Master(t)
	if err := s.procs[addr].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = s.procs[addr].Wait()
	return addr
}

// Restart starts an empty server again at a killed node's address (as a
// replaced pod would come back, its data gone); the sentinels make it a
// replica of the master they name.
func (s *Sentinel) Restart(t testing.TB, addr string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	_, proc := startProcess(t, p)
	s.procs[addr] = proc
}

// Describe is each node's role and replication, for a failing test's log.
func (s *Sentinel) Describe() string {
	var b strings.Builder
	for _, n := range s.nodes {
		c := redis.NewClient(&redis.Options{Addr: n})
		info, err := c.Info(context.Background(), "replication").Result()
		c.Close()
		fmt.Fprintf(&b, "%s: %v %s\n", n, err, info)
	}
	return b.String()
}

// Cluster is three masters sharing the 16384 slots.
type Cluster struct {
	Addrs []string
}

// StartCluster starts three cluster-enabled servers, gives each a third
// of the slots, and waits until the cluster is ok.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	cl := &Cluster{}
	for range 3 {
		cl.Addrs = append(cl.Addrs, start(t, freePort(t), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000"))
	}
	ctx := context.Background()
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, a := range cl.Addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		if err := c.ClusterAddSlotsRange(ctx, ranges[i][0], ranges[i][1]).Err(); err != nil {
			t.Fatal(err)
		}
		for _, other := range cl.Addrs[:i] {
			h, p, _ := net.SplitHostPort(other)
			port, _ := strconv.Atoi(p)
			if err := c.ClusterMeet(ctx, h, strconv.Itoa(port)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	waitUntil(t, "the cluster to be ok", 30*time.Second, func() bool {
		for _, a := range cl.Addrs {
			c := redis.NewClient(&redis.Options{Addr: a})
			info, err := c.ClusterInfo(ctx).Result()
			c.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return false
			}
		}
		return true
	})
	return cl
}

// MigrateSlot moves slot, with its keys, from the master that holds it
// to the master cl.Addrs[target], the way redis-cli --cluster reshard
// does: while it runs, clients meet ASK and TRYAGAIN. The target's config
// epoch must be the greatest (MigrateSlotsOf bumps it), or a late ping of
// the old owner can hand the slot back to it on some nodes.
func (cl *Cluster) MigrateSlot(t testing.TB, slot, target int) {
	t.Helper()
	ctx := context.Background()
	var from, to *redis.Client
	var fromID, toID string
	clients := make([]*redis.Client, len(cl.Addrs))
	ids := make([]string, len(cl.Addrs))
	for i, a := range cl.Addrs {
		clients[i] = redis.NewClient(&redis.Options{Addr: a})
		defer clients[i].Close()
		id, err := clients[i].Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	owner, err := slotOwner(ctx, clients[0], slot)
	if err != nil {
		t.Fatal(err)
	}
	if i := indexOf(ids, owner); i >= 0 {
		from, fromID = clients[i], ids[i]
		to, toID = clients[target], ids[target]
	}
	if from == nil {
		t.Fatalf("no master holds slot %d", slot)
	}
	if from == to {
		return
	}
	toHost, toPort, _ := net.SplitHostPort(cl.Addrs[indexOf(ids, toID)])
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("migrate slot %d: %v", slot, err)
		}
	}
	must(to.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", fromID).Err())
	must(from.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", toID).Err())
	for {
		keys, err := from.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		must(err)
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", toHost, toPort, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(from.Do(ctx, args...).Err())
	}
	// The target first, then the source, then the rest (the order
	// redis-cli --cluster uses), then wait until every node agrees.
	must(to.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", toID).Err())
	must(from.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", toID).Err())
	for _, c := range clients {
		if c != to && c != from {
			must(c.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", toID).Err())
		}
	}
	waitUntil(t, fmt.Sprintf("every node to give slot %d to %s", slot, toID), 10*time.Second, func() bool {
		for _, c := range clients {
			if owner, err := slotOwner(ctx, c, slot); err != nil || owner != toID {
				return false
			}
		}
		return true
	})
}

// slotOwner is the master that c says holds slot.
func slotOwner(ctx context.Context, c *redis.Client, slot int) (string, error) {
	shards, err := c.ClusterShards(ctx).Result()
	if err != nil {
		return "", err
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if slot < int(r.Start) || slot > int(r.End) {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "master" {
					return n.ID, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no master holds slot %d", slot)
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// MigrateSlotsOf moves every slot that holds a key matching pattern to
// the first master, one after the other.
func (cl *Cluster) MigrateSlotsOf(t testing.TB, pattern string) {
	t.Helper()
	ctx := context.Background()
	first := redis.NewClient(&redis.Options{Addr: cl.Addrs[0]})
	err := first.Do(ctx, "CLUSTER", "BUMPEPOCH").Err()
	first.Close()
	if err != nil {
		t.Fatal(err)
	}
	slots := map[int64]bool{}
	for _, a := range cl.Addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		keys, err := c.Keys(ctx, pattern).Result()
		for _, k := range keys {
			if s, err := c.ClusterKeySlot(ctx, k).Result(); err == nil {
				slots[s] = true
			}
		}
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(slots) == 0 {
		t.Fatalf("no key matches %s: nothing to migrate", pattern)
	}
	for s := range slots {
		cl.MigrateSlot(t, int(s), 0)
	}
}

// Describe is every node's CLUSTER NODES, for a failing test's log.
func (cl *Cluster) Describe() string {
	var b strings.Builder
	for _, a := range cl.Addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		nodes, err := c.ClusterNodes(context.Background()).Result()
		c.Close()
		fmt.Fprintf(&b, "%s:\n%s%v\n", a, nodes, err)
	}
	return b.String()
}
