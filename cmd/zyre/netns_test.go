//go:build linux

package main

// Discovery across subnets, for real: the test builds two subnets in
// network namespaces of its own, joined by a router namespace, so that
// UDP broadcasts stay on their side and only routed TCP crosses:
//
//	ns A  veth0 10.201.1.1/24 ── vethA 10.201.1.254/24  ns R  vethB 10.201.2.254/24 ── veth0 10.201.2.1/24  ns B
//	      (nodes a1, a2)                      (router, gossip server)                         (nodes b1, b2)
//
// It needs root (CAP_NET_ADMIN) and iproute2. Without them it skips,
// unless CI is set: then it fails, so CI cannot pass without running it.
// Every namespace, and with it every veth, is deleted at the end even when
// the test fails; processes are killed before. Nothing touches the host's
// own network namespace.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// netnsPrefix starts every namespace name the test makes, followed by the
// test process's pid, so runs never collide and leftovers of dead runs
// can be recognised.
const netnsPrefix = "gz-"

type subnets struct {
	a, b, r string // namespace names
}

// ip runs the ip command and fails the test on error.
func ip(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// removeStaleNamespaces deletes namespaces left behind by earlier runs
// of this test whose process is gone.
func removeStaleNamespaces() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, netnsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == nil {
			continue // still running
		}
		exec.Command("ip", "netns", "del", name).Run()
	}
}

// makeSubnets builds the topology above, or skips (fails in CI) when
// namespaces cannot be made.
func makeSubnets(t *testing.T) subnets {
	t.Helper()
	unavailable := func(why string) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("network namespaces required in CI: %s", why)
		}
		t.Skipf("network namespaces unavailable: %s", why)
	}
	if os.Geteuid() != 0 {
		unavailable("not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable("no ip command (iproute2)")
	}
	removeStaleNamespaces()
	pid := os.Getpid()
	s := subnets{
		a: fmt.Sprintf("%s%d-a", netnsPrefix, pid),
		b: fmt.Sprintf("%s%d-b", netnsPrefix, pid),
		r: fmt.Sprintf("%s%d-r", netnsPrefix, pid),
	}
	if out, err := exec.Command("ip", "netns", "add", s.r).CombinedOutput(); err != nil {
		unavailable(fmt.Sprintf("ip netns add: %v: %s", err, strings.TrimSpace(string(out))))
	}
	// Registered first, so it runs last: after the processes are gone.
	t.Cleanup(func() {
		for _, ns := range []string{s.a, s.b, s.r} {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	ip(t, "netns", "add", s.a)
	ip(t, "netns", "add", s.b)
	ip(t, "link", "add", "veth0", "netns", s.a, "type", "veth", "peer", "name", "vethA", "netns", s.r)
	ip(t, "link", "add", "veth0", "netns", s.b, "type", "veth", "peer", "name", "vethB", "netns", s.r)
	for _, c := range []struct{ ns, dev, addr string }{
		{s.a, "veth0", "10.201.1.1/24"},
		{s.r, "vethA", "10.201.1.254/24"},
		{s.r, "vethB", "10.201.2.254/24"},
		{s.b, "veth0", "10.201.2.1/24"},
	} {
		ip(t, "-n", c.ns, "addr", "add", c.addr, "brd", "+", "dev", c.dev)
		ip(t, "-n", c.ns, "link", "set", c.dev, "up")
	}
	for _, ns := range []string{s.a, s.b, s.r} {
		ip(t, "-n", ns, "link", "set", "lo", "up")
	}
	ip(t, "-n", s.a, "route", "add", "default", "via", "10.201.1.254")
	ip(t, "-n", s.b, "route", "add", "default", "via", "10.201.2.254")
	// sh rather than sysctl, which minimal systems may lack. The
	// namespace has its own /proc/sys/net.
	if out, err := exec.Command("ip", "netns", "exec", s.r, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward").CombinedOutput(); err != nil {
		t.Fatalf("ip_forward in the router namespace: %v\n%s", err, out)
	}
	return s
}

// inNetns starts zyre in namespace ns.
func inNetns(t *testing.T, ns, name string, args ...string) *proc {
	t.Helper()
	return startCmd(t, name, "ip", append([]string{"netns", "exec", ns, zyreBin}, args...)...)
}

func TestNetnsSubnets(t *testing.T) {
	s := makeSubnets(t)
	const gossipEP = "tcp://10.201.1.254:5670"
	node := func(ns, name string, more ...string) (*proc, event) {
		t.Helper()
		args := append([]string{"events", "--json", "--name", name, "--iface", "veth0", "--port", "5670",
			"--interval", "100ms", "--evasive", "500ms", "--expired", "3s", "--gossip-connect", gossipEP}, more...)
		p := inNetns(t, ns, name, args...)
		r := p.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" })
		return p, r
	}
	startServer := func() *proc {
		t.Helper()
		srv := inNetns(t, s.r, "gossip", "gossip", "--bind", "tcp://0.0.0.0:5670", "--status", "500ms")
		srv.expect("listening", func(l string) bool { return strings.HasPrefix(l, "listening ") })
		return srv
	}
	// enter waits until p has seen every one of rs ENTER, in any order.
	enter := func(p *proc, rs ...event) {
		t.Helper()
		want := map[string]bool{}
		var names []string
		for _, r := range rs {
			if countEvents(p, "ENTER", r.Peer) == 0 {
				want[r.Peer] = true
				names = append(names, r.Name)
			}
		}
		if len(want) == 0 {
			return
		}
		p.expectEvent("ENTER of "+strings.Join(names, ", "), func(ev event) bool {
			if ev.Type == "ENTER" {
				delete(want, ev.Peer)
			}
			return len(want) == 0
		})
	}

	srv := startServer()
	a1, ra1 := node(s.a, "a1")
	a2, ra2 := node(s.a, "a2")
	b1, rb1 := node(s.b, "b1")
	if !strings.HasPrefix(ra1.Endpoint, "tcp://10.201.1.1:") || !strings.HasPrefix(rb1.Endpoint, "tcp://10.201.2.1:") {
		t.Fatalf("endpoints %s %s: want the veth addresses", ra1.Endpoint, rb1.Endpoint)
	}

	// Everyone meets everyone, across the router.
	enter(a1, ra2, rb1)
	enter(a2, ra1, rb1)
	enter(b1, ra1, ra2)

	// Broadcasts stay on their subnet: a beacon-only node in B meets b1
	// and nobody from A.
	code, out, errOut := runCmd(t, "ip", "netns", "exec", s.b, zyreBin, "peers", "--json", "--iface", "veth0",
		"--port", "5670", "--interval", "100ms", "--wait", "1500ms")
	if code != 0 {
		t.Fatalf("beacon-only peers in B: exit %d\n%s", code, errOut)
	}
	var seen []peerJSON
	if err := json.Unmarshal([]byte(out), &seen); err != nil {
		t.Fatalf("peers --json: %q: %v", out, err)
	}
	if !slices.ContainsFunc(seen, func(p peerJSON) bool { return p.Peer == rb1.Peer }) ||
		slices.ContainsFunc(seen, func(p peerJSON) bool { return p.Peer == ra1.Peer || p.Peer == ra2.Peer }) {
		t.Errorf("beacon-only node in B saw %+v: want b1 and no node of A", seen)
	}

	// Join, shout and whisper across subnets.
	for _, p := range []*proc{a1, a2, b1} {
		p.send("JOIN G")
	}
	b1.expectEvent("JOIN of a1", func(ev event) bool { return ev.Type == "JOIN" && ev.Peer == ra1.Peer })
	a2.expectEvent("JOIN of b1", func(ev event) bool { return ev.Type == "JOIN" && ev.Peer == rb1.Peer })
	a1.expectEvent("JOIN of b1", func(ev event) bool { return ev.Type == "JOIN" && ev.Peer == rb1.Peer })
	a1.send("SHOUT G hello from A")
	sh := b1.expectEvent("SHOUT from a1", func(ev event) bool { return ev.Type == "SHOUT" && ev.Peer == ra1.Peer })
	if !slices.Equal(sh.Frames, []string{"hello from A"}) {
		t.Errorf("SHOUT frames %q", sh.Frames)
	}
	b1.send("WHISPER " + ra2.Peer + " hello from B")
	w := a2.expectEvent("WHISPER from b1", func(ev event) bool { return ev.Type == "WHISPER" && ev.Peer == rb1.Peer })
	if !slices.Equal(w.Frames, []string{"hello from B"}) {
		t.Errorf("WHISPER frames %q", w.Frames)
	}

	// Restart the gossip server: peers stay (they talk directly), the
	// nodes reconnect and publish again, and a node started afterwards
	// finds everyone.
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := srv.exitCode(); code != 0 {
		t.Errorf("gossip server exit code %d\n%s", code, srv.dump())
	}
	time.Sleep(time.Second)
	srv = startServer()
	deadline := time.Now().Add(waitLimit)
	for !strings.Contains(srv.stderrText(), "tuples=3 clients=3") {
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not come back to the restarted server\n%s", srv.dump())
		}
		time.Sleep(100 * time.Millisecond)
	}
	b2, rb2 := node(s.b, "b2")
	enter(b2, ra1, ra2, rb1)
	enter(a1, rb2)
	enter(a2, rb2)
	enter(b1, rb2)
	for _, p := range []*proc{a1, a2, b1} {
		for _, r := range []event{ra1, ra2, rb1} {
			if n := countEvents(p, "EXIT", r.Peer); n != 0 {
				t.Errorf("%s: %d EXITs of %s across the server restart\n%s", p.name, n, r.Name, p.dump())
			}
		}
	}

	// Kill a2 without goodbye: it leaves everyone's view within the
	// expiry and does not come back as a ghost.
	if err := a2.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a2.done
	for _, p := range []*proc{a1, b1, b2} {
		p.expectEvent("EXIT of a2", func(ev event) bool { return ev.Type == "EXIT" && ev.Peer == ra2.Peer })
	}
	time.Sleep(2 * 3 * time.Second) // two more expiry periods
	for _, p := range []*proc{a1, b1, b2} {
		if n := countEvents(p, "ENTER", ra2.Peer); n != 1 {
			t.Errorf("%s: %d ENTERs of a2, want 1 (no ghost)\n%s", p.name, n, p.dump())
		}
		p.send("PEERS")
		peers := p.expectEvent("PEERS", func(ev event) bool { return ev.Type == "PEERS" })
		if slices.ContainsFunc(peers.Peers, func(q peerJSON) bool { return q.Peer == ra2.Peer }) {
			t.Errorf("%s: PEERS still lists the dead a2: %+v", p.name, peers.Peers)
		}
		if len(peers.Peers) != 2 {
			t.Errorf("%s: PEERS = %+v, want the 2 live others", p.name, peers.Peers)
		}
	}

	for _, p := range []*proc{a1, b1, b2} {
		p.stdin.Close()
		p.expectEvent("STOP", func(ev event) bool { return ev.Type == "STOP" })
		if code := p.exitCode(); code != 0 {
			t.Errorf("%s exit code %d\n%s", p.name, code, p.dump())
		}
	}
	if t.Failed() {
		t.Logf("gossip server:\n%s", srv.dump())
	}
}

// countEvents counts the JSON event lines of type typ (and peer, if set)
// that p printed so far.
func countEvents(p *proc, typ, peer string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.seen {
		var ev event
		if json.Unmarshal([]byte(l), &ev) == nil && ev.Type == typ && (peer == "" || ev.Peer == peer) {
			n++
		}
	}
	return n
}
