package zyre_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gozyre/zyre"
	"github.com/gozyre/zyre/internal/gossip"
	"github.com/gozyre/zyre/internal/zmtp"
	"github.com/gozyre/zyre/internal/zre"
	"github.com/gozyre/zyre/simnet"
	"github.com/gozyre/zyre/zyretest"
)

// Gossip discovery: nodes find each other through a gossip server instead
// of (or as well as) UDP beacons. Loopback tests use 127.0.0.1 and ports
// picked by the kernel; the simnet tests run under synctest.

// startGossipServer starts a GossipServer on bind and closes it at the
// end of the test.
func startGossipServer(t *testing.T, bind string) *zyre.GossipServer {
	t.Helper()
	s, err := zyre.NewGossipServer(&zyre.GossipConfig{Bind: bind})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// gossipConfig is a loopback node that finds peers through the gossip
// server at server only.
func gossipConfig(name, server string) *zyre.Config {
	return &zyre.Config{
		Name:           name,
		Interface:      "127.0.0.1",
		DisableBeacon:  true,
		GossipConnect:  []string{server},
		EvasiveTimeout: 500 * time.Millisecond,
		ExpiredTimeout: 3 * time.Second,
		Headers:        map[string]string{"X-NAME": name},
	}
}

// startNode starts a node for cfg, records its events and closes it at
// the end of the test.
func startNode(t *testing.T, cfg *zyre.Config) (*zyre.Node, *recorder) {
	t.Helper()
	n, err := zyre.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := record(n)
	t.Cleanup(func() { n.Close(); r.Wait() })
	return n, r
}

// waitStats returns n's stats once cond holds for them, or after
// waitBound (the caller checks them).
func waitStats(n *zyre.Node, cond func(zyre.Stats) bool) zyre.Stats {
	deadline := time.Now().Add(waitBound)
	s := n.Stats()
	for !cond(s) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		s = n.Stats()
	}
	return s
}

func nodeIDs(nodes []*zyre.Node, except int) []zyre.PeerID {
	var out []zyre.PeerID
	for i, n := range nodes {
		if i != except {
			out = append(out, n.ID())
		}
	}
	return out
}

// Three nodes without beacons find each other through a GossipServer,
// then join, shout and whisper.
func TestGossipLoopback(t *testing.T) {
	srv := startGossipServer(t, "tcp://127.0.0.1:0")
	var nodes []*zyre.Node
	var recs []*recorder
	for i := range 3 {
		n, r := startNode(t, gossipConfig(fmt.Sprintf("g%d", i), srv.Endpoint()))
		nodes, recs = append(nodes, n), append(recs, r)
	}
	for i, r := range recs {
		r.WaitFor(t, waitBound, "ENTER of every other node", enteredAll(nodeIDs(nodes, i)))
	}
	for _, ev := range recs[0].Events() {
		if e, ok := ev.(zyre.EnterEvent); ok && e.Peer == nodes[1].ID() {
			if e.Name != "g1" || e.Endpoint != nodes[1].Endpoint() || e.Headers["X-NAME"] != "g1" {
				t.Errorf("ENTER of g1 = %+v, want endpoint %s", e, nodes[1].Endpoint())
			}
		}
	}
	ctx := t.Context()
	for _, n := range nodes {
		if err := n.Join(ctx, "G"); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range recs {
		for j, n := range nodes {
			if i != j {
				r.WaitFor(t, waitBound, "JOIN G of "+n.Name(), has(isJoin(n.ID(), "G")))
			}
		}
	}
	if err := nodes[0].Shout(ctx, "G", []byte("hello gossip")); err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].Whisper(ctx, nodes[1].ID(), []byte("psst")); err != nil {
		t.Fatal(err)
	}
	recs[1].WaitFor(t, waitBound, "the shout", has(isShout("G", "hello gossip")))
	recs[2].WaitFor(t, waitBound, "the shout", has(isShout("G", "hello gossip")))
	recs[1].WaitFor(t, waitBound, "the whisper", has(isWhisper("psst")))

	st := srv.Stats()
	if st.Tuples != 3 || st.Clients != 3 || st.Remotes != 0 {
		t.Errorf("server stats %+v, want 3 tuples, 3 clients, 0 remotes", st)
	}
	// Each store ends up with the three tuples (a node may meet its peers
	// through their HELLOs before its own copy of their tuples arrives, so
	// wait for it), and every pair met through gossip on one side at least:
	// there are no beacons.
	discovered := uint64(0)
	for _, n := range nodes {
		s := waitStats(n, func(s zyre.Stats) bool { return s.GossipTuples == 3 && s.GossipDelivered >= 2 })
		discovered += s.GossipDiscovered
		if s.GossipTuples != 3 || s.GossipRemotes != 1 || s.GossipDelivered < 2 ||
			s.GossipMessagesSent == 0 || s.GossipBytesReceived == 0 || s.BeaconsSent != 0 {
			t.Errorf("%s stats: %+v", n.Name(), s)
		}
	}
	if discovered < 3 {
		t.Errorf("%d peers discovered through gossip in all, want at least one for each of the 3 pairs", discovered)
	}
}

// A node with beacons and gossip meets a beacon-only peer, a gossip-only
// peer and a peer of both kinds, each exactly once.
func TestGossipWithBeacons(t *testing.T) {
	srv := startGossipServer(t, "tcp://127.0.0.1:0")
	port := loopbackPort()
	both := func(name string) *zyre.Config {
		c := loopbackConfig(port, name)
		c.GossipConnect = []string{srv.Endpoint()}
		return c
	}
	mixed, rm := startNode(t, both("mixed"))
	beaconOnly, rb := startNode(t, loopbackConfig(port, "beacon"))
	gossipOnly, rg := startNode(t, gossipConfig("gossip", srv.Endpoint()))
	also, ra := startNode(t, both("both"))

	want := []zyre.PeerID{beaconOnly.ID(), gossipOnly.ID(), also.ID()}
	rm.WaitFor(t, waitBound, "ENTER of the three others", enteredAll(want))
	rb.WaitFor(t, waitBound, "ENTER of mixed", has(isEnter(mixed.ID())))
	rg.WaitFor(t, waitBound, "ENTER of mixed", has(isEnter(mixed.ID())))
	ra.WaitFor(t, waitBound, "ENTER of mixed", has(isEnter(mixed.ID())))
	time.Sleep(2 * time.Second) // several beacons and republishes more
	evs := rm.Events()
	for _, id := range want {
		if n := count(evs, isEnter(id)); n != 1 {
			t.Errorf("mixed saw %d ENTERs of %s, want 1:%s", n, id, describe(evs))
		}
		if n := count(evs, isExit(id)); n != 0 {
			t.Errorf("mixed saw %d EXITs of %s:%s", n, id, describe(evs))
		}
	}
	peers, err := mixed.Peers(t.Context())
	if err != nil || len(peers) != 3 {
		t.Errorf("mixed.Peers = %v, %v; want 3 peers", peers, err)
	}
	// The beacon-only and the gossip-only node have no way to meet.
	if n := count(rb.Events(), isEnter(gossipOnly.ID())); n != 0 {
		t.Errorf("beacon-only node met the gossip-only node")
	}
}

// Gossip servers connected to each other (GossipConfig.Connect) relay
// tuples between their clients.
func TestGossipServerFederation(t *testing.T) {
	s1 := startGossipServer(t, "tcp://127.0.0.1:0")
	s2, err := zyre.NewGossipServer(&zyre.GossipConfig{Bind: "tcp://127.0.0.1:0", Connect: []string{s1.Endpoint()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	a, ra := startNode(t, gossipConfig("a", s1.Endpoint()))
	b, rb := startNode(t, gossipConfig("b", s2.Endpoint()))
	ra.WaitFor(t, waitBound, "ENTER of b", has(isEnter(b.ID())))
	rb.WaitFor(t, waitBound, "ENTER of a", has(isEnter(a.ID())))
	// The nodes may meet before both tuples have reached both servers
	// (a learns b's tuple, connects, and b learns of a by its HELLO).
	deadline := time.Now().Add(waitBound)
	for {
		st1, st2 := s1.Stats(), s2.Stats()
		ok2 := st2.Remotes == 1 && st2.Clients == 1 && st2.Tuples == 2
		ok1 := st1.Clients == 2 && st1.Tuples == 2
		if ok1 && ok2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("s1 stats %+v, want 2 clients (a and s2), 2 tuples; s2 stats %+v, want 1 remote, 1 client, 2 tuples", st1, st2)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A node may be the gossip server itself (GossipBind): others connect
// to it and meet it and each other.
func TestGossipNodeAsServer(t *testing.T) {
	hubCfg := gossipConfig("hub", "")
	hubCfg.GossipConnect = nil
	hubCfg.GossipBind = "tcp://127.0.0.1:0"
	hub, rh := startNode(t, hubCfg)
	ep := hub.GossipEndpoint()
	if !strings.HasPrefix(ep, "tcp://127.0.0.1:") || strings.HasSuffix(ep, ":0") {
		t.Fatalf("GossipEndpoint = %q", ep)
	}
	a, ra := startNode(t, gossipConfig("a", ep))
	b, rb := startNode(t, gossipConfig("b", ep))
	rh.WaitFor(t, waitBound, "ENTER of a and b", enteredAll([]zyre.PeerID{a.ID(), b.ID()}))
	ra.WaitFor(t, waitBound, "ENTER of hub and b", enteredAll([]zyre.PeerID{hub.ID(), b.ID()}))
	rb.WaitFor(t, waitBound, "ENTER of hub and a", enteredAll([]zyre.PeerID{hub.ID(), a.ID()}))
	if s := hub.Stats(); s.GossipClients != 2 || s.GossipTuples != 3 {
		t.Errorf("hub stats %+v, want 2 gossip clients and 3 tuples", s)
	}
}

// AdvertisedEndpoint: a node behind a port forward announces the
// forwarded address; peers connect there and see it as its endpoint.
func TestGossipAdvertisedEndpoint(t *testing.T) {
	srv := startGossipServer(t, "tcp://127.0.0.1:0")
	fwd, target := forwarder(t)
	cfg := gossipConfig("natted", srv.Endpoint())
	cfg.AdvertisedEndpoint = "tcp://" + fwd
	natted, rn := startNode(t, cfg)
	target <- natted.Endpoint()
	other, ro := startNode(t, gossipConfig("other", srv.Endpoint()))
	ro.WaitFor(t, waitBound, "ENTER of natted", has(isEnter(natted.ID())))
	rn.WaitFor(t, waitBound, "ENTER of other", has(isEnter(other.ID())))
	for _, ev := range ro.Events() {
		if e, ok := ev.(zyre.EnterEvent); ok && e.Peer == natted.ID() && e.Endpoint != cfg.AdvertisedEndpoint {
			t.Errorf("ENTER of natted at %s, want the advertised %s", e.Endpoint, cfg.AdvertisedEndpoint)
		}
	}
	if err := other.Whisper(t.Context(), natted.ID(), []byte("through the forward")); err != nil {
		t.Fatal(err)
	}
	rn.WaitFor(t, waitBound, "the whisper", has(isWhisper("through the forward")))
}

// forwarder listens on a loopback port and forwards every connection to
// the address sent on target (once known), like a NAT port forward.
func forwarder(t *testing.T) (addr string, target chan<- string) {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tc := make(chan string, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Go(func() {
		to := strings.TrimPrefix(<-tc, "tcp://")
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c)
			wg.Go(func() {
				u, err := net.Dial("tcp", to)
				if err != nil {
					c.Close()
					return
				}
				track(u)
				wg.Go(func() { io.Copy(u, c); u.Close() })
				io.Copy(c, u)
				c.Close()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		select {
		case tc <- "":
		default:
		}
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), tc
}

// Restarting the gossip server drops no peer; the nodes reconnect and
// publish again, so a node started after the restart finds everyone.
func TestGossipServerRestart(t *testing.T) {
	srv := startGossipServer(t, "tcp://127.0.0.1:0")
	ep := srv.Endpoint()
	a, ra := startNode(t, gossipConfig("a", ep))
	b, rb := startNode(t, gossipConfig("b", ep))
	ra.WaitFor(t, waitBound, "ENTER of b", has(isEnter(b.ID())))
	rb.WaitFor(t, waitBound, "ENTER of a", has(isEnter(a.ID())))

	srv.Close()
	time.Sleep(500 * time.Millisecond)
	srv2 := startGossipServer(t, ep)
	deadline := time.Now().Add(waitBound)
	for st := srv2.Stats(); st.Tuples < 2 || st.Clients < 2; st = srv2.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("restarted server has %+v, want both nodes back and their 2 tuples", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, rc := startNode(t, gossipConfig("c", ep))
	rc.WaitFor(t, waitBound, "ENTER of a and b", enteredAll([]zyre.PeerID{a.ID(), b.ID()}))
	ra.WaitFor(t, waitBound, "ENTER of c", has(isEnter(c.ID())))
	rb.WaitFor(t, waitBound, "ENTER of c", has(isEnter(c.ID())))
	for _, r := range []*recorder{ra, rb} {
		if n := count(r.Events(), func(ev zyre.Event) bool { return ev.Type() == zyre.EventExit }); n != 0 {
			t.Errorf("%s: %d EXITs across the restart:%s", r.Node().Name(), n, describe(r.Events()))
		}
	}
	for _, n := range []*zyre.Node{a, b} {
		if got := n.Stats().GossipRemotes; got != 1 {
			t.Errorf("%s is connected to %d gossip servers, want 1", n.Name(), got)
		}
	}
}

// A node killed without goodbye disappears (EXIT) from the others and
// does not come back, not even when a restarted server is re-seeded with
// its stale tuple and a new node learns it.
func TestGossipNoGhost(t *testing.T) {
	srv := startGossipServer(t, "tcp://127.0.0.1:0")
	ep := srv.Endpoint()
	a, ra := startNode(t, gossipConfig("a", ep))
	b, rb := startNode(t, gossipConfig("b", ep))
	// The victim's tuple lives 10 s (its own expiry), so copies outlive
	// the victim's EXIT at the others (3 s).
	vcfg := gossipConfig("victim", ep)
	vcfg.ExpiredTimeout = 10 * time.Second
	victim, err := zyre.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := victim.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	rv := record(victim)
	t.Cleanup(func() { victim.Close(); rv.Wait() })
	for _, r := range []*recorder{ra, rb} {
		r.WaitFor(t, waitBound, "ENTER of victim", has(isEnter(victim.ID())))
	}
	rv.WaitFor(t, waitBound, "ENTER of a and b", enteredAll([]zyre.PeerID{a.ID(), b.ID()}))

	victim.Close() // no GOODBYE, no withdrawal: like a crash
	for _, r := range []*recorder{ra, rb} {
		r.WaitFor(t, waitBound, "EXIT of victim", has(isExit(victim.ID())))
	}
	// Force stale copies around: restart the server (a and b re-seed it
	// with what they hold) and start a node that never knew the victim.
	srv.Close()
	startGossipServer(t, ep)
	d, rd := startNode(t, gossipConfig("d", ep))
	rd.WaitFor(t, waitBound, "ENTER of a and b", enteredAll([]zyre.PeerID{a.ID(), b.ID()}))
	// d may meet a and b through their HELLOs before its copy of the
	// tuples arrives.
	if got := waitStats(d, func(s zyre.Stats) bool { return s.GossipDelivered >= 3 }).GossipDelivered; got != 3 {
		t.Errorf("d learned %d tuples, want 3 (a, b and the victim's stale one)", got)
	}
	time.Sleep(2 * 3 * time.Second) // two more expiry periods
	for _, r := range []*recorder{ra, rb, rd} {
		evs := r.Events()
		if n := count(evs, isEnter(victim.ID())); n > 1 || (r == rd && n != 0) {
			t.Errorf("%s: %d ENTERs of the dead victim:%s", r.Node().Name(), n, describe(evs))
		}
		peers, err := r.Node().Peers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(peers, func(p zyre.PeerInfo) bool { return p.ID == victim.ID() }) {
			t.Errorf("%s: Peers lists the dead victim", r.Node().Name())
		}
		if _, err := r.Node().Peer(t.Context(), victim.ID()); !errors.Is(err, zyre.ErrUnknownPeer) {
			t.Errorf("%s: Peer(victim) = %v, want ErrUnknownPeer", r.Node().Name(), err)
		}
	}
}

// Gossip on the in-memory network under synctest: five nodes without
// beacons, the server on its own host; one node crashes, every other sees
// it leave and never come back, with C Zyre's default timers.
func TestGossipSim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := simnet.New(7)
		defer net.Close()
		srvAddr := netip.MustParseAddr("10.0.9.1")
		srv, err := zyre.NewGossipServer(&zyre.GossipConfig{Bind: "tcp://10.0.9.1:5670", Network: net.Host(srvAddr)})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		c := zyretest.NewCluster(t, 5, &zyretest.Options{Net: net, Config: func(i int, c *zyre.Config) {
			c.DisableBeacon = true
			c.GossipConnect = []string{srv.Endpoint()}
		}})
		defer c.Close()
		c.WaitForPeers(t)
		if st := srv.Stats(); st.Tuples != 5 || st.Clients != 5 {
			t.Errorf("server stats %+v, want 5 tuples and 5 clients", st)
		}
		victim := c.Nodes[4]
		victim.Close()
		settle(zyre.DefaultExpiredTimeout + 5*time.Second)
		for i, r := range c.Recorders[:4] {
			if !has(isExit(victim.ID()))(r.Events()) {
				t.Fatalf("node %d did not see the victim leave:%s", i, describe(r.Events()))
			}
		}
		// A misbehaving relay keeps publishing the dead victim's tuple,
		// fresh, for two minutes: the nodes may try its endpoint, but it
		// never answers, so it never enters again.
		relay := rawGossipClient(t, net.Host(netip.MustParseAddr("10.0.9.2")), srv.Endpoint())
		key, value := gossip.NodeTuple(zre.UUID(victim.ID()), victim.Endpoint(), "")
		for range 24 {
			relay(&gossip.Publish{Key: key, Value: value, TTL: 30000})
			settle(5 * time.Second)
		}
		settle(3 * zyre.DefaultExpiredTimeout)
		for i, r := range c.Recorders[:4] {
			if n := count(r.Events(), isEnter(victim.ID())); n != 1 {
				t.Errorf("node %d: %d ENTERs of the victim, want 1", i, n)
			}
			peers, err := r.Node().Peers(context.Background())
			if err != nil || slices.ContainsFunc(peers, func(p zyre.PeerInfo) bool { return p.ID == victim.ID() }) {
				t.Errorf("node %d: Peers = %v, %v; the victim must not be listed", i, peers, err)
			}
		}
		// A polite leave withdraws the tuple at once.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Nodes[3].Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		settle(time.Second)
		if st := srv.Stats(); st.Tuples != 3 || st.Withdrawn != 1 {
			t.Errorf("after a shutdown: server stats %+v, want 3 tuples and 1 withdrawn", st)
		}
	})
}

// Two gossip-only nodes that lose each other (their own connections cut,
// while both keep talking to the server) meet again once the cut heals:
// the tuples stayed in their stores all along, refreshed, so no new
// Deliver comes; the fresh republishes bring the peer back.
func TestGossipSimRediscover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net := simnet.New(3)
		defer net.Close()
		srv, err := zyre.NewGossipServer(&zyre.GossipConfig{Bind: "tcp://10.0.9.1:5670", Network: net.Host(netip.MustParseAddr("10.0.9.1"))})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		c := zyretest.NewCluster(t, 3, &zyretest.Options{Net: net, Config: func(i int, c *zyre.Config) {
			c.DisableBeacon = true
			c.GossipConnect = []string{srv.Endpoint()}
		}})
		defer c.Close()
		c.WaitForPeers(t)
		a, b := zyretest.HostAddr(0), zyretest.HostAddr(1)
		var cut atomic.Bool
		cut.Store(true)
		net.OnPacket(func(p simnet.Packet) bool {
			s, d := p.Src.Addr(), p.Dst.Addr()
			return cut.Load() && ((s == a && d == b) || (s == b && d == a))
		})
		settle(zyre.DefaultExpiredTimeout + 10*time.Second)
		if !has(isExit(c.Nodes[1].ID()))(c.Recorders[0].Events()) {
			t.Fatalf("node 0 did not lose node 1:%s", describe(c.Recorders[0].Events()))
		}
		cut.Store(false)
		settle(zyre.DefaultExpiredTimeout)
		for i, j := range []int{1, 0} {
			if n := count(c.Recorders[i].Events(), isEnter(c.Nodes[j].ID())); n != 2 {
				t.Errorf("node %d: %d ENTERs of node %d, want 2 (met again):%s", i, n, j, describe(c.Recorders[i].Events()))
			}
		}
		// Node 2 never lost anyone.
		for _, id := range c.IDs(2) {
			if n := count(c.Recorders[2].Events(), isEnter(id)); n != 1 {
				t.Errorf("node 2: %d ENTERs of %s, want 1", n, id)
			}
		}
	})
}

// rawGossipClient connects to a gossip server as a bare ZGossip client
// (HELLO first) and returns a function that sends one message. The
// connection closes at the end of the test.
func rawGossipClient(t *testing.T, nw zyre.Network, server string) func(gossip.Message) {
	t.Helper()
	ap := netip.MustParseAddrPort(strings.TrimPrefix(server, "tcp://"))
	nc, err := nw.Dial(context.Background(), ap)
	if err != nil {
		t.Fatal(err)
	}
	zc, err := zmtp.Handshake(context.Background(), nc, zmtp.Config{SocketType: zmtp.SocketDealer, Identity: []byte{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // drain what the server sends
		defer close(done)
		for {
			if _, err := zc.Recv(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { zc.Close(); <-done })
	send := func(m gossip.Message) {
		b, err := m.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := zc.Send([][]byte{b}); err != nil {
			t.Fatal(err)
		}
		if err := zc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	send(&gossip.Hello{})
	return send
}

func TestGossipConfigErrors(t *testing.T) {
	curveKeys := mustKeys(t)
	for _, tc := range []struct {
		field string
		cfg   zyre.Config
	}{
		{"GossipConnect", zyre.Config{GossipConnect: []string{"127.0.0.1:5670"}}},
		{"GossipConnect", zyre.Config{GossipConnect: []string{"tcp://0.0.0.0:5670"}}},
		{"GossipConnect", zyre.Config{GossipConnect: []string{"tcp://10.0.0.1:0"}}},
		{"GossipConnect", zyre.Config{GossipConnect: []string{"tcp://host.example:5670"}}},
		{"GossipBind", zyre.Config{GossipBind: "udp://127.0.0.1:1"}},
		// A server key needs a key pair of our own; a key must be Z85.
		{"GossipConnect", zyre.Config{GossipConnect: []string{"tcp://10.0.0.1:5670|" + strings.Repeat("0", 40)}}},
		{"GossipConnect", zyre.Config{Curve: &curveKeys, GossipConnect: []string{"tcp://10.0.0.1:5670|not-a-key"}}},
		{"AdvertisedEndpoint", zyre.Config{AdvertisedEndpoint: "tcp://10.0.0.1"}},
		{"AdvertisedEndpoint", zyre.Config{AdvertisedEndpoint: "tcp://0.0.0.0:49152"}},
	} {
		_, err := zyre.New(&tc.cfg)
		var ce *zyre.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("New(%+v) = %v, want a ConfigError for %s", tc.cfg, err, tc.field)
		}
	}
	for _, tc := range []struct {
		field string
		cfg   *zyre.GossipConfig
	}{
		{"Bind", nil},
		{"Bind", &zyre.GossipConfig{}},
		{"Bind", &zyre.GossipConfig{Bind: "127.0.0.1:1"}},
		{"Connect", &zyre.GossipConfig{Bind: "tcp://127.0.0.1:0", Connect: []string{"tcp://127.0.0.1:0"}}},
		{"TTL", &zyre.GossipConfig{Bind: "tcp://127.0.0.1:0", TTL: -time.Second}},
		{"AllowKeys", &zyre.GossipConfig{Bind: "tcp://127.0.0.1:0", AllowKeys: []zyre.PublicKey{curveKeys.Public}}},
		{"Connect", &zyre.GossipConfig{Bind: "tcp://127.0.0.1:0", Connect: []string{"tcp://10.0.0.1:5670|" + strings.Repeat("0", 40)}}},
	} {
		_, err := zyre.NewGossipServer(tc.cfg)
		var ce *zyre.ConfigError
		if !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("NewGossipServer(%+v) = %v, want a ConfigError for %s", tc.cfg, err, tc.field)
		}
	}
	if _, err := zyre.New(&zyre.Config{GossipBind: "tcp://0.0.0.0:0", GossipConnect: []string{"tcp://10.1.2.3:5670"},
		AdvertisedEndpoint: "tcp://192.0.2.1:49152"}); err != nil {
		t.Errorf("valid gossip config refused: %v", err)
	}
	if _, err := zyre.New(&zyre.Config{Curve: &curveKeys, GossipConnect: []string{"tcp://10.1.2.3:5670|" + curveKeys.Public.String()}}); err != nil {
		t.Errorf("valid CURVE gossip config refused: %v", err)
	}
}

// Gossip over CURVE: a CURVE node's GossipBind is a CURVE server with its
// key; nodes that connect with "endpoint|key" meet through it, a client
// whose key is not allowed and a plaintext client are refused, and a
// standalone GossipServer with Curve federates over a CURVE link.
func TestGossipCurve(t *testing.T) {
	var keys [5]zyre.KeyPair // hub, a, stranger, server, b
	for i := range keys {
		keys[i] = mustKeys(t)
	}
	allowed := []zyre.PublicKey{keys[0].Public, keys[1].Public, keys[3].Public, keys[4].Public}
	hubCfg := gossipConfig("hub", "")
	hubCfg.GossipConnect = nil
	hubCfg.GossipBind = "tcp://127.0.0.1:0"
	hubCfg.Curve, hubCfg.AllowKeys = &keys[0], allowed
	hub, rh := startNode(t, hubCfg)
	hubEP := hub.GossipEndpoint() + "|" + keys[0].Public.String()

	aCfg := gossipConfig("a", hubEP)
	aCfg.Curve, aCfg.AllowKeys = &keys[1], allowed
	a, ra := startNode(t, aCfg)
	rh.WaitFor(t, waitBound, "ENTER of a", has(isEnter(a.ID())))
	ra.WaitFor(t, waitBound, "ENTER of hub", has(isEnter(hub.ID())))

	// Not on the hub's list: its gossip handshake is refused and
	// counted, so it never learns of anyone.
	strangerCfg := gossipConfig("stranger", hubEP)
	strangerCfg.Curve = &keys[2]
	stranger, rs := startNode(t, strangerCfg)
	// A plaintext client of the CURVE listener fails its handshake.
	plain, _ := startNode(t, gossipConfig("plain", hub.GossipEndpoint()))
	deadline := time.Now().Add(waitBound)
	for hub.Stats().PeersRejected == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the stranger's gossip link was not refused: hub %+v", hub.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A standalone CURVE server, linked to the hub by CURVE: b, its
	// client, meets hub and a.
	srv, err := zyre.NewGossipServer(&zyre.GossipConfig{Bind: "tcp://127.0.0.1:0", Curve: &keys[3], Connect: []string{hubEP}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	bCfg := gossipConfig("b", srv.Endpoint()+"|"+keys[3].Public.String())
	bCfg.Curve, bCfg.AllowKeys = &keys[4], allowed
	b, rb := startNode(t, bCfg)
	rb.WaitFor(t, waitBound, "ENTER of hub and a", enteredAll([]zyre.PeerID{hub.ID(), a.ID()}))
	ra.WaitFor(t, waitBound, "ENTER of b", has(isEnter(b.ID())))

	if s := hub.Stats(); s.GossipClients != 2 {
		t.Errorf("hub has %d gossip clients, want 2 (a and the server): %+v", s.GossipClients, s)
	}
	for _, n := range []*zyre.Node{stranger, plain} {
		if s := n.Stats(); s.GossipRemotes != 0 || s.GossipDelivered != 0 {
			t.Errorf("%s has a gossip link: %+v", n.Name(), s)
		}
	}
	if n := rs.Count(isEnter(hub.ID())); n != 0 {
		t.Error("the stranger entered")
	}
	if s := hub.Stats(); s.GossipHandshakesFailed < 2 {
		t.Errorf("hub counted %d failed gossip handshakes, want the stranger's and the plaintext client's", s.GossipHandshakesFailed)
	}
	for _, n := range []*zyre.Node{stranger, plain} {
		if s := n.Stats(); s.GossipConnectsFailed == 0 {
			t.Errorf("%s counted no failed gossip connect", n.Name())
		}
	}
}

// A node with an AdvertisedEndpoint that also beacons on the LAN: a peer
// there meets it once, whether its beacon or its HELLO comes first (the
// HELLO carries the advertised endpoint, the beacon the LAN address); no
// EXIT and second ENTER when the other one arrives.
func TestAdvertisedEndpointWithBeaconsNoFlap(t *testing.T) {
	for round := range 4 {
		port := loopbackPort()
		fwd, target := forwarder(t)
		ncfg := loopbackConfig(port, "natted")
		ncfg.AdvertisedEndpoint = "tcp://" + fwd
		natted, rn := startNode(t, ncfg)
		target <- natted.Endpoint()
		other, ro := startNode(t, loopbackConfig(port, "other"))
		ro.WaitFor(t, waitBound, "ENTER of natted", has(isEnter(natted.ID())))
		rn.WaitFor(t, waitBound, "ENTER of other", has(isEnter(other.ID())))
		time.Sleep(300 * time.Millisecond) // three more beacons each way
		if n, m := ro.Count(isExit(natted.ID())), rn.Count(isExit(other.ID())); n+m != 0 {
			t.Errorf("round %d: %d EXITs of natted at other, %d of other at natted\n%s", round, n, m, describe(ro.Events()))
		}
		natted.Close()
		other.Close()
	}
}
