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

// makeNamespaces makes a network namespace per suffix, deleted when the
// test ends, or skips (fails in CI) when namespaces cannot be made.
func makeNamespaces(t *testing.T, suffixes ...string) []string {
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
	var names []string
	// Registered first, so it runs last: after the processes are gone.
	t.Cleanup(func() {
		for _, ns := range names {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	for i, suffix := range suffixes {
		ns := fmt.Sprintf("%s%d-%s", netnsPrefix, os.Getpid(), suffix)
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			if i == 0 {
				unavailable(fmt.Sprintf("ip netns add: %v: %s", err, strings.TrimSpace(string(out))))
			}
			t.Fatalf("ip netns add %s: %v\n%s", ns, err, out)
		}
		names = append(names, ns)
		ip(t, "-n", ns, "link", "set", "lo", "up")
	}
	return names
}

// makeSubnets builds the topology above.
func makeSubnets(t *testing.T) subnets {
	t.Helper()
	ns := makeNamespaces(t, "a", "b", "r")
	s := subnets{a: ns[0], b: ns[1], r: ns[2]}
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
	ip(t, "-n", s.a, "route", "add", "default", "via", "10.201.1.254")
	ip(t, "-n", s.b, "route", "add", "default", "via", "10.201.2.254")
	// sh rather than sysctl, which minimal systems may lack. The
	// namespace has its own /proc/sys/net.
	if out, err := exec.Command("ip", "netns", "exec", s.r, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward").CombinedOutput(); err != nil {
		t.Fatalf("ip_forward in the router namespace: %v\n%s", err, out)
	}
	return s
}

// forIPv6Kinds runs test with unique local IPv6 addresses, then with only
// the link-local ones.
func forIPv6Kinds(t *testing.T, test func(t *testing.T, ula bool)) {
	for _, ula := range []bool{true, false} {
		name := map[bool]string{true: "unique-local", false: "link-local"}[ula]
		t.Run(name, func(t *testing.T) { test(t, ula) })
	}
}

// makeLink makes two namespaces (named after prefix) joined by a veth pair,
// veth0 on both sides, with addresses v4 + "1" and v4 + "2" (/24; none if
// v4 is empty) and, when ula, v6 + "1" and v6 + "2" (/64), besides the
// link-local ones. Duplicate address detection is off, so addresses are
// usable at once.
func makeLink(t *testing.T, prefix string, ula bool, v4, v6 string) []string {
	t.Helper()
	suffix := map[bool]string{true: "u", false: "l"}[ula]
	ns := makeNamespaces(t, prefix+"a"+suffix, prefix+"b"+suffix)
	ip(t, "link", "add", "veth0", "netns", ns[0], "type", "veth", "peer", "name", "veth0", "netns", ns[1])
	for i := range ns {
		if out, err := exec.Command("ip", "netns", "exec", ns[i], "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/veth0/accept_dad").CombinedOutput(); err != nil {
			t.Fatalf("accept_dad: %v\n%s", err, out)
		}
		if v4 != "" {
			ip(t, "-n", ns[i], "addr", "add", fmt.Sprintf("%s%d/24", v4, i+1), "brd", "+", "dev", "veth0")
		}
		if ula {
			ip(t, "-n", ns[i], "addr", "add", fmt.Sprintf("%s%d/64", v6, i+1), "dev", "veth0", "nodad")
		}
		ip(t, "-n", ns[i], "link", "set", "veth0", "up")
	}
	waitLinkLocal(t, ns...)
	return ns
}

// waitLinkLocal waits until veth0 in each namespace has its link-local
// IPv6 address, which the kernel adds once both ends are up.
func waitLinkLocal(t *testing.T, namespaces ...string) {
	t.Helper()
	for _, ns := range namespaces {
		deadline := time.Now().Add(waitLimit)
		for {
			out, _ := exec.Command("ip", "-n", ns, "-6", "addr", "show", "dev", "veth0", "scope", "link").Output()
			if strings.Contains(string(out), "inet6 fe80::") && !strings.Contains(string(out), "tentative") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no link-local address on veth0 in %s: %s", ns, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// expectEnters waits until p has seen every one of rs ENTER, in any order.
func expectEnters(p *proc, rs ...event) {
	p.t.Helper()
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
	enter := func(p *proc, rs ...event) { t.Helper(); expectEnters(p, rs...) }

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

// IPv6: two namespaces joined by a veth pair with only IPv6 addresses.
// Nodes beacon to ff02::1 on the link, meet, and talk over TCP on IPv6,
// with unique local addresses and with nothing but the link-local ones
// (each node then binds to fe80::...%veth0, announces its endpoint without
// the zone, and reaches the other through its own interface). Duplicate
// address detection is off, so addresses are usable at once.
//
//	ns 6a  veth0 [fd00:201::1/64] ── veth0 [fd00:201::2/64]  ns 6b
func TestNetnsIPv6(t *testing.T) {
	forIPv6Kinds(t, testNetnsIPv6)
}

func testNetnsIPv6(t *testing.T, ula bool) {
	ns := makeLink(t, "6", ula, "", "fd00:201::")
	var procs []*proc
	var readies []event
	for i, name := range []string{"v6a", "v6b"} {
		p := inNetns(t, ns[i], name, "events", "--json", "--name", name, "--ipv6", "--iface", "veth0",
			"--port", "5670", "--interval", "100ms")
		r := p.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" })
		want := fmt.Sprintf("tcp://[fd00:201::%d]:", i+1)
		if !ula {
			want = "tcp://[fe80::"
		}
		if !strings.HasPrefix(r.Endpoint, want) || strings.Contains(r.Endpoint, "%") {
			t.Fatalf("%s endpoint %s, want %s... without a zone", name, r.Endpoint, want)
		}
		procs, readies = append(procs, p), append(readies, r)
	}
	a, b := procs[0], procs[1]
	ea := b.expectEvent("ENTER of v6a", func(ev event) bool { return ev.Type == "ENTER" && ev.Peer == readies[0].Peer })
	a.expectEvent("ENTER of v6b", func(ev event) bool { return ev.Type == "ENTER" && ev.Peer == readies[1].Peer })
	if !ula && !strings.Contains(ea.Endpoint, "%veth0]") {
		t.Errorf("v6b sees v6a at %s, want its link-local address with zone veth0", ea.Endpoint)
	}
	a.send("JOIN G")
	b.expectEvent("JOIN of v6a", func(ev event) bool { return ev.Type == "JOIN" && ev.Peer == readies[0].Peer })
	b.send("SHOUT G over IPv6")
	sh := a.expectEvent("SHOUT from v6b", func(ev event) bool { return ev.Type == "SHOUT" && ev.Peer == readies[1].Peer })
	if !slices.Equal(sh.Frames, []string{"over IPv6"}) {
		t.Errorf("SHOUT frames %q", sh.Frames)
	}
	a.send("WHISPER " + readies[1].Peer + " back over IPv6")
	w := b.expectEvent("WHISPER from v6a", func(ev event) bool { return ev.Type == "WHISPER" && ev.Peer == readies[0].Peer })
	if !slices.Equal(w.Frames, []string{"back over IPv6"}) {
		t.Errorf("WHISPER frames %q", w.Frames)
	}

	// Leaving: the port-0 beacon and GOODBYE reach the other side.
	a.stdin.Close()
	a.expectEvent("STOP", func(ev event) bool { return ev.Type == "STOP" })
	b.expectEvent("EXIT of v6a", func(ev event) bool { return ev.Type == "EXIT" && ev.Peer == readies[0].Peer })
	b.stdin.Close()
	for _, p := range procs {
		if code := p.exitCode(); code != 0 {
			t.Errorf("%s exit code %d\n%s", p.name, code, p.dump())
		}
	}
}

// Dual-stack nodes on a link with IPv4 and IPv6 addresses, for real: a
// dual-stack node meets IPv4-only, IPv6-only and dual-stack peers, each
// once (beacons of both families do not make a peer flap), and each pair
// talks in a family both have; the IPv4-only and the IPv6-only node never
// meet. d2 tells peers its IPv6 endpoint (--ipv6), d1 its IPv4 one. The
// IPv6 side is a unique local address, then only the link-local one.
//
//	ns da  veth0 10.202.0.1/24 [fd00:202::1/64] ── veth0 10.202.0.2/24 [fd00:202::2/64]  ns db
//	       (d1)                                       (d2, v4, v6)
func TestNetnsDualStack(t *testing.T) {
	forIPv6Kinds(t, testNetnsDualStack)
}

func testNetnsDualStack(t *testing.T, ula bool) {
	ns := makeLink(t, "d", ula, "10.202.0.", "fd00:202::")
	six := "tcp://[fd00:202::"
	if !ula {
		six = "tcp://[fe80::"
	}
	node := func(ns, name string, more ...string) (*proc, event) {
		t.Helper()
		args := append([]string{"events", "--json", "--name", name, "--iface", "veth0", "--port", "5670",
			"--interval", "100ms", "--group", "G"}, more...)
		p := inNetns(t, ns, name, args...)
		return p, p.expectEvent("READY", func(ev event) bool { return ev.Type == "READY" })
	}
	d1, r1 := node(ns[0], "d1", "--dual-stack")
	d2, r2 := node(ns[1], "d2", "--dual-stack", "--ipv6")
	v4, r4 := node(ns[1], "v4")
	v6, r6 := node(ns[1], "v6", "--ipv6")
	for _, c := range []struct {
		r    event
		want string
	}{{r1, "tcp://10.202.0.1:"}, {r2, six}, {r4, "tcp://10.202.0.2:"}, {r6, six}} {
		if !strings.HasPrefix(c.r.Endpoint, c.want) || strings.Contains(c.r.Endpoint, "%") {
			t.Fatalf("%s endpoint %s, want %s...", c.r.Name, c.r.Endpoint, c.want)
		}
	}
	procs, readies := []*proc{d1, d2, v4, v6}, []event{r1, r2, r4, r6}
	sees := func(i, j int) bool { return i != j && !(i >= 2 && j >= 2) }
	for i, p := range procs {
		var want []event
		for j, r := range readies {
			if sees(i, j) {
				want = append(want, r)
			}
		}
		expectEnters(p, want...)
	}
	// Two seconds of beacons of both families (ten a second each).
	time.Sleep(2 * time.Second)
	for i, p := range procs {
		for j, r := range readies {
			want := 0
			if sees(i, j) {
				want = 1
			}
			if n, exits := countEvents(p, "ENTER", r.Peer), countEvents(p, "EXIT", r.Peer); n != want || exits != 0 {
				t.Errorf("%s: %d ENTER and %d EXIT of %s, want %d and 0\n%s", p.name, n, exits, r.Name, want, p.dump())
			}
		}
	}
	// Each single-stack node knows the dual-stack ones in its family.
	for _, c := range []struct {
		p    *proc
		want string
	}{{v4, "tcp://10.202.0."}, {v6, six}} {
		for _, r := range readies[:2] {
			if ep := enterEndpoint(c.p, r.Peer); !strings.HasPrefix(ep, c.want) {
				t.Errorf("%s knows %s at %q, want %s...", c.p.name, r.Name, ep, c.want)
			}
		}
	}
	// Talk: the IPv6-only node and the IPv4-only node each reach both
	// dual-stack ones, and d1 reaches everyone.
	shoutFrom := func(r event, text string) func(event) bool {
		return func(ev event) bool {
			return ev.Type == "SHOUT" && ev.Peer == r.Peer && slices.Equal(ev.Frames, []string{text})
		}
	}
	v6.send("SHOUT G from v6")
	d1.expectEvent("SHOUT from v6", shoutFrom(r6, "from v6"))
	d2.expectEvent("SHOUT from v6", shoutFrom(r6, "from v6"))
	v4.send("WHISPER " + r2.Peer + " from v4")
	d2.expectEvent("WHISPER from v4", func(ev event) bool {
		return ev.Type == "WHISPER" && ev.Peer == r4.Peer && slices.Equal(ev.Frames, []string{"from v4"})
	})
	d1.send("SHOUT G from d1")
	for _, p := range []*proc{d2, v4, v6} {
		p.expectEvent("SHOUT from d1", shoutFrom(r1, "from d1"))
	}
	for _, p := range procs {
		p.stdin.Close()
	}
	for _, p := range procs {
		if code := p.exitCode(); code != 0 {
			t.Errorf("%s exit code %d\n%s", p.name, code, p.dump())
		}
	}
}

// enterEndpoint returns the endpoint in p's ENTER of peer, or "".
func enterEndpoint(p *proc, peer string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.seen {
		var ev event
		if json.Unmarshal([]byte(l), &ev) == nil && ev.Type == "ENTER" && ev.Peer == peer {
			return ev.Endpoint
		}
	}
	return ""
}
