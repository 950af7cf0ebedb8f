package zyre_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gozyre/zyre"
)

// Loopback tests: real UDP beacons to 127.255.255.255 and real TCP on
// 127.0.0.1, with the interface pinned. Each test uses its own beacon port
// so that tests running in parallel do not see each other.

func loopbackPort() int { return 20000 + rand.IntN(20000) }

func loopbackConfig(port int, name string) *zyre.Config {
	return &zyre.Config{
		Name:           name,
		Interface:      "127.0.0.1",
		BeaconPort:     port,
		BeaconInterval: 100 * time.Millisecond,
		EvasiveTimeout: 500 * time.Millisecond,
		ExpiredTimeout: 3 * time.Second,
		Headers:        map[string]string{"X-NAME": name},
	}
}

func startLoopback(t *testing.T, n int, mutate func(i int, c *zyre.Config)) ([]*zyre.Node, []*recorder) {
	t.Helper()
	port := loopbackPort()
	nodes := make([]*zyre.Node, n)
	recs := make([]*recorder, n)
	for i := range n {
		cfg := loopbackConfig(port, fmt.Sprintf("n%d", i))
		if mutate != nil {
			mutate(i, cfg)
		}
		node, err := zyre.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := node.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		nodes[i] = node
		recs[i] = record(node)
		t.Cleanup(func() { node.Close(); recs[i].Wait() })
	}
	return nodes, recs
}

func ids(nodes []*zyre.Node, except int) []zyre.PeerID {
	var out []zyre.PeerID
	for i, n := range nodes {
		if i != except {
			out = append(out, n.ID())
		}
	}
	return out
}

func TestLoopbackThreeNodes(t *testing.T) {
	nodes, recs := startLoopback(t, 3, nil)
	ctx := t.Context()
	for i, r := range recs {
		r.WaitFor(t, waitBound, "ENTER of every other node", enteredAll(ids(nodes, i)))
	}
	// ENTER carries name, endpoint and headers.
	for _, ev := range recs[0].Events() {
		if e, ok := ev.(zyre.EnterEvent); ok && e.Peer == nodes[1].ID() {
			if e.Name != "n1" || e.Endpoint != nodes[1].Endpoint() || e.Headers["X-NAME"] != "n1" {
				t.Errorf("ENTER of n1 = %+v", e)
			}
		}
	}

	// n0 and n1 join CHAT; n2 does not.
	for _, n := range nodes[:2] {
		if err := n.Join(ctx, "CHAT"); err != nil {
			t.Fatal(err)
		}
	}
	recs[2].WaitFor(t, waitBound, "JOIN CHAT of n0 and n1", func(evs []zyre.Event) bool {
		return count(evs, isJoin(nodes[0].ID(), "CHAT")) == 1 && count(evs, isJoin(nodes[1].ID(), "CHAT")) == 1
	})
	recs[0].WaitFor(t, waitBound, "JOIN CHAT of n1", has(isJoin(nodes[1].ID(), "CHAT")))
	recs[1].WaitFor(t, waitBound, "JOIN CHAT of n0", has(isJoin(nodes[0].ID(), "CHAT")))

	// A shout reaches exactly the group members, multi-frame intact.
	big := bytes.Repeat([]byte{0xAB}, 100_000)
	if err := nodes[2].Shout(ctx, "CHAT", []byte("hello chat"), []byte{}, big); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[:2] {
		r.WaitFor(t, waitBound, "SHOUT from n2", has(isShout("CHAT", "hello chat")))
		for _, ev := range r.Events() {
			if e, ok := ev.(zyre.ShoutEvent); ok {
				if e.Peer != nodes[2].ID() || len(e.Frames) != 3 || len(e.Frames[1]) != 0 || !bytes.Equal(e.Frames[2], big) {
					t.Errorf("shout arrived as %d frames from %s", len(e.Frames), e.Peer)
				}
			}
		}
	}
	// A whisper reaches exactly one peer.
	if err := nodes[0].Whisper(ctx, nodes[1].ID(), []byte("psst"), []byte("two")); err != nil {
		t.Fatal(err)
	}
	recs[1].WaitFor(t, waitBound, "WHISPER from n0", has(isWhisper("psst")))
	if err := nodes[1].Leave(ctx, "CHAT"); err != nil {
		t.Fatal(err)
	}
	recs[0].WaitFor(t, waitBound, "LEAVE CHAT of n1", has(isLeave(nodes[1].ID(), "CHAT")))
	// Shutdown and check the whisper and shout went nowhere else.
	for _, n := range nodes {
		if err := n.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range recs {
		r.Wait()
		evs := r.Events()
		if i != 1 && count(evs, isWhisper("psst")) != 0 {
			t.Errorf("n%d got a whisper meant for n1", i)
		}
		if i == 2 && count(evs, isShout("CHAT", "hello chat")) != 0 {
			t.Errorf("n2 got its own shout")
		}
		if i < 2 && count(evs, isShout("CHAT", "hello chat")) != 1 {
			t.Errorf("n%d got the shout %d times", i, count(evs, isShout("CHAT", "hello chat")))
		}
		if _, ok := evs[len(evs)-1].(zyre.StopEvent); !ok {
			t.Errorf("n%d: last event %T, want StopEvent", i, evs[len(evs)-1])
		}
	}
}

func TestLoopbackTenNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("10 nodes on loopback")
	}
	nodes, recs := startLoopback(t, 10, func(i int, c *zyre.Config) { c.Groups = []string{"ALL"} })
	for i, r := range recs {
		r.WaitFor(t, waitBound, "ENTER of all 9 others", enteredAll(ids(nodes, i)))
	}
	// Groups from HELLO arrive as JOINs right after ENTER.
	for i, r := range recs {
		for _, id := range ids(nodes, i) {
			r.WaitFor(t, waitBound, "JOIN ALL", has(isJoin(id, "ALL")))
		}
	}
	ctx := t.Context()
	if err := nodes[3].Shout(ctx, "ALL", []byte("to all")); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if i != 3 {
			r.WaitFor(t, waitBound, "SHOUT", has(isShout("ALL", "to all")))
		}
	}
	peers, err := nodes[0].Peers(ctx)
	if err != nil || len(peers) != 9 {
		t.Fatalf("Peers = %d peers, %v", len(peers), err)
	}
	members, err := nodes[0].PeersByGroup(ctx, "ALL")
	if err != nil || len(members) != 9 {
		t.Fatalf("PeersByGroup = %d, %v", len(members), err)
	}
	// Shutdown of one gives EXIT at once on the others (port-0 beacon, GOODBYE).
	if err := nodes[9].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[:9] {
		r.WaitFor(t, waitBound, "EXIT of n9", has(isExit(nodes[9].ID())))
	}
}

// A killed node sends no GOODBYE, but its operating system closes its
// connections: the others drop it as soon as theirs to it breaks, without
// waiting for the expiry timer. (A node that vanishes without closing
// anything, such as one cut off by the network, goes EVASIVE, SILENT and
// then EXIT: TestSimEvasiveSilentExit.)
func TestLoopbackKilledNodeExits(t *testing.T) {
	nodes, recs := startLoopback(t, 2, nil)
	recs[0].WaitFor(t, waitBound, "ENTER", enteredAll(ids(nodes, 0)))
	recs[1].WaitFor(t, waitBound, "ENTER", enteredAll(ids(nodes, 1)))
	victim := nodes[1].ID()
	nodes[1].Close() // no goodbye: the other must notice by itself
	recs[0].WaitFor(t, waitBound, "EXIT of the killed node", has(isExit(victim)))
	evs := recs[0].Events()
	ex := evs[slices.IndexFunc(evs, isExit(victim))].(zyre.ExitEvent)
	if !strings.HasPrefix(ex.Reason, "connection lost") {
		t.Errorf("EXIT reason %q, want the lost connection", ex.Reason)
	}
	st := nodes[0].Stats()
	if st.ConnectionsLost != 1 || st.PeersExpired != 0 {
		t.Errorf("ConnectionsLost = %d, PeersExpired = %d; want 1 and 0", st.ConnectionsLost, st.PeersExpired)
	}
}

func TestLoopbackErrors(t *testing.T) {
	ctx := context.Background()
	n, err := zyre.New(loopbackConfig(loopbackPort(), "e"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Join(ctx, "X"); err != zyre.ErrNotStarted {
		t.Errorf("Join before Start: %v", err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Join(ctx, ""); err != zyre.ErrInvalidGroup {
		t.Errorf("empty group: %v", err)
	}
	if err := n.Join(ctx, string(make([]byte, 256))); err != zyre.ErrInvalidGroup {
		t.Errorf("long group: %v", err)
	}
	if err := n.Whisper(ctx, zyre.PeerID{1}, []byte("x")); err != zyre.ErrUnknownPeer {
		t.Errorf("whisper to unknown: %v", err)
	}
	if _, err := n.Peer(ctx, zyre.PeerID{1}); err != zyre.ErrUnknownPeer {
		t.Errorf("Peer unknown: %v", err)
	}
	n.Close()
	if err := n.Join(ctx, "X"); err != zyre.ErrClosed {
		t.Errorf("Join after Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A peer that sends faster than the application reads: by default the node
// pushes back (the sender's Whisper or Shout waits), nothing is lost, order
// holds, and the slow reader's peers are not mistaken for dead.
func TestLoopbackBackpressure(t *testing.T) {
	for _, shout := range []bool{false, true} {
		name := map[bool]string{false: "whisper", true: "shout"}[shout]
		t.Run(name, func(t *testing.T) { testBackpressure(t, shout) })
	}
}

func testBackpressure(t *testing.T, shout bool) {
	port := loopbackPort()
	sender, err := zyre.New(func() *zyre.Config { c := loopbackConfig(port, "tx"); c.OutboxLen = 64; return c }())
	if err != nil {
		t.Fatal(err)
	}
	slow, err := zyre.New(func() *zyre.Config {
		c := loopbackConfig(port, "rx")
		c.EventQueueLen = 16
		c.Groups = []string{"G"}
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*zyre.Node{sender, slow} {
		if err := n.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer n.Close()
	}
	waitEvent(t, sender, isJoin(slow.ID(), "G"))
	waitEvent(t, slow, isEnter(sender.ID()))

	payload := bytes.Repeat([]byte{'x'}, 4096)
	sent := 0
	for ; sent < 100_000; sent++ {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		msg := append([]byte(fmt.Sprintf("%08d", sent)), payload...)
		if shout {
			err = sender.Shout(ctx, "G", msg)
		} else {
			err = sender.Whisper(ctx, slow.ID(), msg)
		}
		cancel()
		if err == context.DeadlineExceeded {
			break // the sender is held back: backpressure reached it
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if sent == 100_000 {
		t.Fatal("the sender was never held back")
	}
	t.Logf("sender held back after %d messages", sent)
	// Now read everything: all of it, in order, nothing dropped.
	next := 0
	for next < sent {
		ev := waitEvent(t, slow, func(ev zyre.Event) bool {
			switch ev.(type) {
			case zyre.WhisperEvent, zyre.ShoutEvent, zyre.DroppedEvent, zyre.ExitEvent:
				return true
			}
			return false
		})
		frames, ok := messageFrames(ev)
		if !ok {
			t.Fatalf("after %d messages: %s %+v", next, ev.Type(), ev)
		}
		if want := fmt.Sprintf("%08d", next); string(frames[0][:8]) != want {
			t.Fatalf("message %d carries %q", next, frames[0][:8])
		}
		next++
	}
	if st := slow.Stats(); st.EventsDropped != 0 || st.PeersExpired != 0 {
		t.Errorf("slow reader stats %+v", st)
	}
	if st := sender.Stats(); st.OutboxFull != 0 {
		t.Errorf("sender refused %d messages at a full outbox", st.OutboxFull)
	}
}

// messageFrames returns the frames of a WHISPER or SHOUT event.
func messageFrames(ev zyre.Event) ([][]byte, bool) {
	switch ev := ev.(type) {
	case zyre.WhisperEvent:
		return ev.Frames, true
	case zyre.ShoutEvent:
		return ev.Frames, true
	}
	return nil, false
}

// With DropWhenFull the node drops data events instead, and says so: a
// DroppedEvent with the count, and the counter.
func TestLoopbackDropWhenFull(t *testing.T) {
	port := loopbackPort()
	sender, err := zyre.New(loopbackConfig(port, "tx"))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := zyre.New(func() *zyre.Config {
		c := loopbackConfig(port, "rx")
		c.EventQueueLen, c.DropWhenFull = 16, true
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*zyre.Node{sender, slow} {
		if err := n.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer n.Close()
	}
	waitEvent(t, sender, isEnter(slow.ID()))
	waitEvent(t, slow, isEnter(sender.ID()))
	const total = 2000
	for i := range total {
		if err := sender.Whisper(t.Context(), slow.ID(), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for slow.Stats().MessagesReceived < total {
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages arrived", slow.Stats().MessagesReceived)
		}
		time.Sleep(5 * time.Millisecond)
	}
	whispers, dropped := 0, uint64(0)
	for whispers+int(dropped) < total {
		ev := waitEvent(t, slow, func(ev zyre.Event) bool {
			switch ev.(type) {
			case zyre.WhisperEvent, zyre.DroppedEvent:
				return true
			}
			return false
		})
		switch e := ev.(type) {
		case zyre.WhisperEvent:
			whispers++
		case zyre.DroppedEvent:
			dropped += e.Count
		}
	}
	if dropped == 0 || slow.Stats().EventsDropped != dropped {
		t.Errorf("dropped %d (DroppedEvents), counter %d, whispers %d", dropped, slow.Stats().EventsDropped, whispers)
	}
}

func TestNoSuchInterface(t *testing.T) {
	n, err := zyre.New(&zyre.Config{Interface: "nosuchif0", BeaconPort: loopbackPort()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Start(t.Context()); !errors.Is(err, zyre.ErrNoInterface) {
		t.Fatalf("Start = %v, want ErrNoInterface", err)
	}
}

// Beacons also go to, and are heard from, the multicast groups in
// Config.BeaconGroups (how nodes of other ZRE ports are found).
func TestLoopbackBeaconGroups(t *testing.T) {
	group := netip.MustParseAddr("225.25.25.25")
	port := loopbackPort()
	// A listener joined to the group hears our node's beacons.
	sock, err := net.ListenMulticastUDP("udp4", loopbackIface(t), net.UDPAddrFromAddrPort(netip.AddrPortFrom(group, uint16(port))))
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()

	a, err := zyre.New(func() *zyre.Config {
		c := loopbackConfig(port, "a")
		c.BeaconGroups = []netip.Addr{group}
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	aid := a.ID()
	buf := make([]byte, 100)
	sock.SetReadDeadline(time.Now().Add(waitBound))
	for {
		n, _, err := sock.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no beacon on the group: %v", err)
		}
		if n == 22 && bytes.Equal(buf[4:20], aid[:]) {
			break
		}
	}

	// A node that does not beacon at all (B) is announced to A only on
	// the group: A hears it, connects, and they meet.
	b, err := zyre.New(func() *zyre.Config { c := loopbackConfig(port, "b"); c.DisableBeacon = true; return c }())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bport, _ := strconv.Atoi(b.Endpoint()[strings.LastIndex(b.Endpoint(), ":")+1:])
	bid := b.ID()
	beaconB := append(append([]byte("ZRE\x01"), bid[:]...), byte(bport>>8), byte(bport))
	out, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")), net.UDPAddrFromAddrPort(netip.AddrPortFrom(group, uint16(port))))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := out.Write(beaconB); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, isEnter(bid))
}

func loopbackIface(t *testing.T) *net.Interface {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagLoopback != 0 {
			return &ifc
		}
	}
	t.Fatal("no loopback interface")
	return nil
}

// Messages that Whisper and Shout accepted before Shutdown are sent, in
// order, before the GOODBYE: the peer sees all of them, then the EXIT.
func TestLoopbackShutdownSendsQueued(t *testing.T) {
	nodes, recs := startLoopback(t, 2, func(i int, c *zyre.Config) { c.Groups = []string{"G"} })
	recs[0].WaitFor(t, waitBound, "JOIN", has(isJoin(nodes[1].ID(), "G")))
	recs[1].WaitFor(t, waitBound, "ENTER", has(isEnter(nodes[0].ID())))
	const n = 2000
	ctx := t.Context()
	for i := range n {
		msg := []byte(fmt.Sprintf("%06d", i))
		var err error
		if i%2 == 0 {
			err = nodes[0].Whisper(ctx, nodes[1].ID(), msg)
		} else {
			err = nodes[0].Shout(ctx, "G", msg)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := nodes[0].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	recs[1].WaitFor(t, waitBound, "EXIT", has(isExit(nodes[0].ID())))
	next := 0
	for _, ev := range recs[1].Events() {
		if _, ok := ev.(zyre.ExitEvent); ok {
			if next != n {
				t.Fatalf("EXIT after %d of %d messages", next, n)
			}
			return
		}
		f, ok := messageFrames(ev)
		if !ok {
			continue
		}
		if want := fmt.Sprintf("%06d", next); string(f[0]) != want {
			t.Fatalf("message %d is %q", next, f[0])
		}
		next++
	}
}

// Shutdown while several goroutines whisper and shout: every call that
// returned nil is delivered (in each goroutine's order), every later one
// returns ErrClosed, and nothing else reaches the peer.
func TestLoopbackShutdownWhileSending(t *testing.T) {
	nodes, recs := startLoopback(t, 2, func(i int, c *zyre.Config) { c.Groups = []string{"G"} })
	recs[0].WaitFor(t, waitBound, "JOIN", has(isJoin(nodes[1].ID(), "G")))
	recs[1].WaitFor(t, waitBound, "ENTER", has(isEnter(nodes[0].ID())))
	const senders = 4
	accepted := make([]int, senders)
	var wg sync.WaitGroup
	started := make(chan struct{}, senders)
	for g := range senders {
		wg.Go(func() {
			for i := 0; ; i++ {
				msg := []byte(fmt.Sprintf("%d/%06d", g, i))
				var err error
				if i%2 == 0 {
					err = nodes[0].Whisper(context.Background(), nodes[1].ID(), msg)
				} else {
					err = nodes[0].Shout(context.Background(), "G", msg)
				}
				if i == 100 {
					started <- struct{}{}
				}
				if err != nil {
					if !errors.Is(err, zyre.ErrClosed) {
						t.Errorf("sender %d: %v", g, err)
					}
					return
				}
				accepted[g]++
			}
		})
	}
	for range senders {
		<-started
	}
	if err := nodes[0].Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	recs[1].WaitFor(t, waitBound, "EXIT", has(isExit(nodes[0].ID())))
	next := make([]int, senders)
	for _, ev := range recs[1].Events() {
		f, ok := messageFrames(ev)
		if !ok {
			continue
		}
		var g, i int
		if _, err := fmt.Sscanf(string(f[0]), "%d/%d", &g, &i); err != nil || g < 0 || g >= senders {
			t.Fatalf("unexpected message %q", f[0])
		}
		if i != next[g] {
			t.Fatalf("sender %d: message %d after %d", g, i, next[g])
		}
		next[g]++
	}
	for g := range senders {
		if next[g] != accepted[g] {
			t.Errorf("sender %d: %d accepted, %d delivered", g, accepted[g], next[g])
		}
	}
	t.Logf("accepted per sender: %v", accepted)
}

// Over real TCP: a peer whose application stops reading fills the kernel's
// buffers and then the sender's outbox, whose writer blocks in write. After
// ExpiredTimeout (3 s here) with nothing written the sender drops the peer
// as unresponsive, and its blocked Whisper returns instead of waiting for
// ever.
func TestLoopbackStuckPeerUnresponsive(t *testing.T) {
	port := loopbackPort()
	sender, err := zyre.New(loopbackConfig(port, "tx"))
	if err != nil {
		t.Fatal(err)
	}
	stuck, err := zyre.New(func() *zyre.Config { c := loopbackConfig(port, "rx"); c.EventQueueLen = 4; return c }())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*zyre.Node{sender, stuck} {
		if err := n.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer n.Close()
	}
	rec := record(sender) // stuck's events are never read
	t.Cleanup(func() { sender.Close(); rec.Wait() })
	rec.WaitFor(t, waitBound, "ENTER", has(isEnter(stuck.ID())))
	payload := make([]byte, 256<<10)
	ctx, cancel := context.WithTimeout(t.Context(), waitBound)
	defer cancel()
	sent := 0
	for ; ; sent++ {
		if err := sender.Whisper(ctx, stuck.ID(), payload); err != nil {
			if !errors.Is(err, zyre.ErrUnknownPeer) {
				t.Fatalf("after %d whispers: %v", sent, err)
			}
			break
		}
	}
	rec.WaitFor(t, waitBound, "EXIT unresponsive", has(func(ev zyre.Event) bool {
		e, ok := ev.(zyre.ExitEvent)
		return ok && e.Peer == stuck.ID() && strings.HasPrefix(e.Reason, "unresponsive")
	}))
	st := sender.Stats()
	t.Logf("%d whispers of 256 KiB accepted; %d unsent", sent, st.MessagesUnsent)
	if st.PeersUnresponsive == 0 || st.MessagesUnsent == 0 {
		t.Errorf("stats %+v", st)
	}
}
