package zyre_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gozyre/zyre"
	"github.com/gozyre/zyre/simnet"
	"github.com/gozyre/zyre/zyretest"
)

// TestSimChaos drives a handful of nodes through random traffic, group
// changes, partitions, crashes, polite departures and newcomers on a lossy
// simnet, then checks what every node reported against what a ZRE
// application may rely on:
//
//   - each peer's events form sessions: ENTER first, EXIT last, nothing
//     from a peer outside its session, JOIN and LEAVE alternating per
//     group;
//   - messages from one sender arrive in the order sent, never twice;
//   - once the network is healed and quiet, every live node sees exactly
//     the other live nodes with the groups they are in, and messages
//     between them all arrive.
//
// Odd seeds run in CURVE mode; seeds 2 and 3 modulo 4 discover through a
// gossip server instead of beacons; seeds 4 to 7 modulo 8 mix CURVE and
// plain nodes, which must never meet; seeds 8 to 15 modulo 16 run every
// node dual-stack (an IPv4 and an IPv6 host each, half of them telling
// peers their IPv6 side). A crashed node's address may be taken by a
// newcomer, as a restarted device gets its address back.
func TestSimChaos(t *testing.T) {
	seeds := 16 // every mode: seed%16 picks CURVE, gossip, mixing and dual stack
	if testing.Short() {
		seeds = 2
	}
	first := 0
	if s, err := strconv.Atoi(os.Getenv("ZYRE_CHAOS_SEEDS")); err == nil {
		seeds = s // a longer hunt: ZYRE_CHAOS_SEEDS=500 go test -run TestSimChaos
	}
	if s, err := strconv.Atoi(os.Getenv("ZYRE_CHAOS_SEED")); err == nil {
		first, seeds = s, 1 // one seed again
	}
	for seed := range uint64(seeds) {
		seed += uint64(first)
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { runChaos(t, seed, seed%2 == 1, seed%4 >= 2, seed%8 >= 4, seed%16 >= 8) })
		})
	}
}

var chaosGroups = []string{"A", "B", "C"}

// chaosNode is one node of the run and what the test asked of it.
type chaosNode struct {
	slot   int
	node   *zyre.Node
	rec    *chaosRec
	addr   netip.Addr
	curve  bool
	live   bool
	groups map[string]bool // joined, as far as the node's API said
	seq    map[string]int  // next sequence number per destination
	// accepted holds the whispers Whisper returned nil for, by
	// destination slot and sequence number.
	accepted map[int]map[int]bool
	// sessions is what its event log says of each peer (checkLog).
	sessions map[zyre.PeerID]*session
}

type chaos struct {
	t      *testing.T
	rng    *rand.Rand
	net    *simnet.Net
	nodes  []*chaosNode
	byID   map[zyre.PeerID]*chaosNode
	log    *slog.Logger // ZYRE_CHAOS_LOG=FILE: every node's debug log
	curve  bool         // nodes run in CURVE mode
	mixed  bool         // each node picks CURVE or plain
	gossip string       // the gossip server's endpoint; empty: beacons
	dual   bool         // every node dual-stack: its IPv4 host and sixOf's
}

func runChaos(t *testing.T, seed uint64, curve, gossip, mixed, dual bool) {
	c := &chaos{t: t, rng: rand.New(rand.NewPCG(seed, 0xC4A05)), net: simnet.New(seed), byID: map[zyre.PeerID]*chaosNode{},
		curve: curve, mixed: mixed, dual: dual}
	defer c.net.Close()
	if name := os.Getenv("ZYRE_CHAOS_LOG"); name != "" {
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		c.log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c.net.SetDefaultLink(simnet.Link{Latency: time.Millisecond, Jitter: 3 * time.Millisecond, Loss: 0.1})
	if gossip {
		addr := netip.MustParseAddr("10.0.9.1")
		srv, err := zyre.NewGossipServer(&zyre.GossipConfig{Bind: "tcp://10.0.9.1:5670", Network: c.net.Host(addr)})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		c.gossip = srv.Endpoint()
	}
	defer func() {
		for _, n := range c.nodes {
			n.node.Close()
			n.rec.Wait()
		}
	}()
	for i := range 5 {
		c.start(zyretest.HostAddr(i))
	}
	settle(3 * time.Second)

	var healAt time.Time
	for step := 0; step < 600; step++ { // 600 steps of 150 ms: 90 s
		if !healAt.IsZero() && time.Now().After(healAt) {
			c.net.Heal()
			healAt = time.Time{}
		}
		live := c.live()
		a := live[c.rng.IntN(len(live))]
		switch r := c.rng.IntN(1000); {
		case r < 300:
			c.whisper(a, live[c.rng.IntN(len(live))], nil)
		case r < 550:
			c.shout(a, chaosGroups[c.rng.IntN(len(chaosGroups))])
		case r < 700:
			c.member(a, chaosGroups[c.rng.IntN(len(chaosGroups))], true)
		case r < 800:
			c.member(a, chaosGroups[c.rng.IntN(len(chaosGroups))], false)
		case r < 815:
			if healAt.IsZero() && len(live) > 1 {
				c.partition(live)
				healAt = time.Now().Add(time.Duration(5+c.rng.IntN(40)) * time.Second)
			}
		case r < 820:
			if len(live) > 3 {
				c.t.Logf("%v: node %d crashes", time.Now().Format(time.TimeOnly), a.slot)
				a.node.Close()
				a.live = false
			}
		case r < 825:
			if len(live) > 3 {
				c.t.Logf("%v: node %d leaves", time.Now().Format(time.TimeOnly), a.slot)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := a.node.Shutdown(ctx); err != nil {
					c.t.Errorf("node %d: Shutdown: %v", a.slot, err)
				}
				cancel()
				a.live = false
			}
		case r < 830:
			if !a.rec.paused() {
				d := time.Duration(1+c.rng.IntN(60)) * time.Second
				c.t.Logf("%v: node %d stops reading events for %v", time.Now().Format(time.TimeOnly), a.slot, d)
				a.rec.pause(d)
			}
		case r < 840:
			// A burst of large whispers: enough to fill the stream, the
			// mailbox queue and the outbox of a peer that stopped reading.
			b := live[c.rng.IntN(len(live))]
			for _, n := range live {
				if n.rec.paused() && n != a {
					b = n // the interesting case
				}
			}
			pad := make([]byte, 32<<10)
			for range 200 {
				if !c.whisper(a, b, pad) {
					break
				}
			}
		case r < 845:
			if len(c.nodes) < 12 {
				addr := zyretest.HostAddr(len(c.nodes))
				if free := c.freeAddrs(); len(free) > 0 && c.rng.IntN(2) == 0 {
					addr = free[c.rng.IntN(len(free))]
				}
				c.t.Logf("%v: node %d starts at %v", time.Now().Format(time.TimeOnly), len(c.nodes), addr)
				c.start(addr)
			}
		}
		time.Sleep(150 * time.Millisecond)
	}
	c.net.Heal()
	for _, n := range c.nodes {
		n.rec.resume()
	}
	settle(45 * time.Second) // past the expiry of anything that left

	for _, n := range c.nodes {
		c.checkLog(n)
	}
	if t.Failed() {
		return
	}
	c.checkConverged()
	c.checkDelivery()
	if t.Failed() {
		for _, n := range c.live() {
			t.Logf("node %d (%s) stats: %+v", n.slot, n.node.ID(), n.node.Stats())
		}
	}
	var events, messages int
	var sum zyre.Stats
	for _, n := range c.nodes {
		evs := n.rec.Events()
		events += len(evs)
		messages += count(evs, func(ev zyre.Event) bool { return ev.Type() == zyre.EventWhisper || ev.Type() == zyre.EventShout })
		st := n.node.Stats()
		sum.ConnectionsLost += st.ConnectionsLost
		sum.SequenceGaps += st.SequenceGaps
		sum.PeersExpired += st.PeersExpired
		sum.PeersUnresponsive += st.PeersUnresponsive
		sum.OutboxFull += st.OutboxFull
		sum.MessagesUnsent += st.MessagesUnsent
	}
	t.Logf("%d nodes, %d live at the end; %d events checked, %d of them messages", len(c.nodes), len(c.live()), events, messages)
	t.Logf("connections lost %d, sequence gaps %d, expired %d, unresponsive %d, outbox full %d, unsent %d",
		sum.ConnectionsLost, sum.SequenceGaps, sum.PeersExpired, sum.PeersUnresponsive, sum.OutboxFull, sum.MessagesUnsent)
}

// start adds a node at addr.
func (c *chaos) start(addr netip.Addr) {
	slot := len(c.nodes)
	cfg := &zyre.Config{Name: fmt.Sprint("n", slot), Network: c.net.Host(addr), Interface: addr.String(),
		// Small queues, so that an application that stops reading (see
		// chaosRec.pause) soon holds its peers back.
		EventQueueLen: 16, OutboxLen: 64, EventQueueBytes: 256 << 10, OutboxBytes: 256 << 10}
	if c.gossip != "" {
		cfg.DisableBeacon, cfg.GossipConnect = true, []string{c.gossip}
	}
	if c.dual {
		six := sixOf(addr)
		cfg.Network, cfg.Interface = dualHost{c.net.Host(addr), c.net.Host(six)}, addr.String()+","+six.String()
		cfg.DualStack, cfg.IPv6 = true, c.rng.IntN(2) == 0
	}
	curve := c.curve
	if c.mixed {
		curve = c.rng.IntN(2) == 0
	}
	if curve {
		k, err := zyre.GenerateKeyPair()
		if err != nil {
			c.t.Fatal(err)
		}
		cfg.Curve = &k
	}
	if c.log != nil {
		cfg.Logger = c.log.With("node", slot)
	}
	node, err := zyre.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := node.Start(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	n := &chaosNode{slot: slot, node: node, rec: recordChaos(node), addr: addr, live: true, curve: curve,
		groups: map[string]bool{}, seq: map[string]int{}, accepted: map[int]map[int]bool{}}
	c.nodes = append(c.nodes, n)
	c.byID[node.ID()] = n
}

// sixOf is the IPv6 address of a dual-stack chaos node at IPv4 address a.
func sixOf(a netip.Addr) netip.Addr {
	b := a.As4()
	return netip.AddrFrom16([16]byte{0: 0xfd, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})
}

// freeAddrs returns the addresses of nodes that are gone, where no live
// node is.
func (c *chaos) freeAddrs() []netip.Addr {
	var out []netip.Addr
	for _, n := range c.nodes {
		if !n.live && !slices.ContainsFunc(c.nodes, func(o *chaosNode) bool { return o.live && o.addr == n.addr }) &&
			!slices.Contains(out, n.addr) {
			out = append(out, n.addr)
		}
	}
	return out
}

// peersOf returns the live nodes n should see: the others in its mode.
func (c *chaos) peersOf(n *chaosNode) []*chaosNode {
	var out []*chaosNode
	for _, o := range c.live() {
		if o != n && o.curve == n.curve {
			out = append(out, o)
		}
	}
	return out
}

func (c *chaos) live() []*chaosNode {
	var out []*chaosNode
	for _, n := range c.nodes {
		if n.live {
			out = append(out, n)
		}
	}
	return out
}

// opCtx bounds one API call: a peer's full outbox may make it wait.
func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Second)
}

// whisper sends one numbered whisper, with pad as a second frame if not
// nil, and reports whether Whisper took it.
func (c *chaos) whisper(a, b *chaosNode, pad []byte) bool {
	if a == b {
		return false
	}
	key := "w" + strconv.Itoa(b.slot)
	payload := fmt.Sprintf("w %d %d", a.slot, a.seq[key])
	ctx, cancel := opCtx()
	defer cancel()
	frames := [][]byte{[]byte(payload)}
	if pad != nil {
		frames = append(frames, pad)
	}
	err := a.node.Whisper(ctx, b.node.ID(), frames...)
	if err == nil {
		if a.accepted[b.slot] == nil {
			a.accepted[b.slot] = map[int]bool{}
		}
		a.accepted[b.slot][a.seq[key]] = true
	}
	switch {
	case err == nil, errors.Is(err, zyre.ErrUnknownPeer), errors.Is(err, context.DeadlineExceeded):
		a.seq[key]++ // a number is never reused, sent or not
	default:
		c.t.Errorf("node %d: Whisper: %v", a.slot, err)
	}
	return err == nil
}

func (c *chaos) shout(a *chaosNode, group string) {
	key := "s" + group
	payload := fmt.Sprintf("s %d %d", a.slot, a.seq[key])
	ctx, cancel := opCtx()
	defer cancel()
	if err := a.node.Shout(ctx, group, []byte(payload)); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		c.t.Errorf("node %d: Shout: %v", a.slot, err)
	}
	a.seq[key]++
}

// member joins a to group, or has it leave.
func (c *chaos) member(a *chaosNode, group string, join bool) {
	ctx, cancel := opCtx()
	defer cancel()
	op := a.node.Leave
	if join {
		op = a.node.Join
	}
	if err := op(ctx, group); err != nil {
		c.t.Errorf("node %d: join %v %s: %v", a.slot, join, group, err)
		return
	}
	if join {
		a.groups[group] = true
	} else {
		delete(a.groups, group)
	}
}

func (c *chaos) partition(live []*chaosNode) {
	var left, right []netip.Addr
	for _, n := range live {
		side := &right
		if c.rng.IntN(2) == 0 {
			side = &left
		}
		*side = append(*side, n.addr)
		if c.dual {
			*side = append(*side, sixOf(n.addr))
		}
	}
	if len(left) == 0 || len(right) == 0 {
		return
	}
	c.t.Logf("%v: partition %v | %v", time.Now().Format(time.TimeOnly), left, right)
	c.net.Partition(left, right)
}

// session is what a node's event log says about one peer.
type session struct {
	in     bool
	groups map[string]bool
	lastW  int // sequence number of the last whisper seen in the session; -1: none
}

// checkLog checks the event log of n: sessions, group changes, and the
// order of every sender's messages.
func (c *chaos) checkLog(n *chaosNode) {
	t := c.t
	sessions := map[zyre.PeerID]*session{}
	last := map[string]int{} // sender slot and stream -> last sequence number
	for i, ev := range n.rec.Events() {
		fail := func(format string, args ...any) {
			t.Errorf("node %d, event %d (%s): %s", n.slot, i, zyretest.Describe([]zyre.Event{ev}), fmt.Sprintf(format, args...))
		}
		if _, ok := ev.(zyre.StopEvent); ok {
			continue
		}
		peer, ok := eventPeer(ev)
		if !ok {
			fail("unexpected event")
			continue
		}
		if _, ok := ev.(zyre.EnterEvent); ok {
			if s := sessions[peer]; s != nil && s.in {
				fail("ENTER inside a session")
			}
			if o := c.byID[peer]; o != nil && o.curve != n.curve {
				fail("ENTER of a node in the other security mode")
			}
			sessions[peer] = &session{in: true, groups: map[string]bool{}, lastW: -1}
			continue
		}
		s := sessions[peer]
		if s == nil || !s.in {
			fail("event from a peer outside its session")
			continue
		}
		switch ev := ev.(type) {
		case zyre.ExitEvent:
			s.in = false
		case zyre.JoinEvent:
			if s.groups[ev.Group] {
				fail("JOIN of a group the peer is in")
			}
			s.groups[ev.Group] = true
		case zyre.LeaveEvent:
			if !s.groups[ev.Group] {
				fail("LEAVE of a group the peer is not in")
			}
			delete(s.groups, ev.Group)
		case zyre.WhisperEvent:
			if seq, ok := c.checkOrder(fail, last, ev.Peer, "w", ev.Frames); ok {
				c.checkNoHole(fail, s, c.byID[peer], n, seq)
			}
		case zyre.ShoutEvent:
			c.checkOrder(fail, last, ev.Peer, "s"+ev.Group, ev.Frames)
		}
	}
	n.sessions = sessions
}

// eventPeer returns the peer an event is about.
func eventPeer(ev zyre.Event) (zyre.PeerID, bool) {
	f := reflect.ValueOf(ev).FieldByName("Peer")
	if !f.IsValid() {
		return zyre.PeerID{}, false
	}
	id, ok := f.Interface().(zyre.PeerID)
	return id, ok
}

// checkOrder checks that a message "KIND SLOT SEQ" from peer carries a
// sequence number above the last one seen on that stream.
func (c *chaos) checkOrder(fail func(string, ...any), last map[string]int, peer zyre.PeerID, stream string, frames [][]byte) (seq int, ok bool) {
	from := c.byID[peer]
	if from == nil || len(frames) == 0 {
		fail("message from no node of the run")
		return 0, false
	}
	f := strings.Fields(string(frames[0]))
	if len(f) != 3 || f[1] != strconv.Itoa(from.slot) {
		fail("message %q does not come from node %d", frames[0], from.slot)
		return 0, false
	}
	seq, _ = strconv.Atoi(f[2])
	key := f[1] + "/" + stream
	if prev, ok := last[key]; ok && seq <= prev {
		fail("sequence %d after %d: reordered or duplicated", seq, prev)
	}
	last[key] = seq
	return seq, true
}

// checkNoHole checks that no whisper from -> to that Whisper accepted is
// missing between two whispers delivered in one session: a session is one
// connection, so such a hole would be a message lost without a trace.
func (c *chaos) checkNoHole(fail func(string, ...any), s *session, from, to *chaosNode, seq int) {
	if s.lastW >= 0 {
		for k := s.lastW + 1; k < seq; k++ {
			if from.accepted[to.slot][k] {
				fail("whisper %d, accepted by Whisper, is missing between %d and %d in one session", k, s.lastW, seq)
			}
		}
	}
	s.lastW = seq
}

// checkConverged checks that every live node sees exactly the other live
// nodes, in the groups they are in, through its queries and its event log.
func (c *chaos) checkConverged() {
	t := c.t
	ctx := context.Background()
	live := c.live()
	for _, n := range live {
		peers, err := n.node.Peers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []int
		for _, p := range peers {
			got = append(got, c.byID[p.ID].slot)
		}
		for _, o := range c.peersOf(n) {
			want = append(want, o.slot)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("node %d sees peers %v, want %v", n.slot, got, want)
		}
		var open []int
		for id, s := range n.sessions {
			if s.in {
				open = append(open, c.byID[id].slot)
			}
		}
		slices.Sort(open)
		if !slices.Equal(open, want) {
			t.Errorf("node %d's events leave peers %v entered, want %v", n.slot, open, want)
		}
		for _, g := range chaosGroups {
			ids, err := n.node.PeersByGroup(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []int
			for _, id := range ids {
				got = append(got, c.byID[id].slot)
			}
			for _, o := range c.peersOf(n) {
				if o.groups[g] {
					want = append(want, o.slot)
					if s := n.sessions[o.node.ID()]; s == nil || !s.groups[g] {
						t.Errorf("node %d's events do not have node %d in %s", n.slot, o.slot, g)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("node %d: group %s has %v, want %v", n.slot, g, got, want)
			}
		}
	}
}

// checkDelivery sends a whisper between every pair of live nodes and a
// shout from each to group A, and checks each arrives once.
func (c *chaos) checkDelivery() {
	t := c.t
	ctx := context.Background()
	live := c.live()
	before := make([]int, len(live))
	for i, n := range live {
		before[i] = len(n.rec.Events())
	}
	for _, a := range live {
		for _, b := range c.peersOf(a) {
			if err := a.node.Whisper(ctx, b.node.ID(), []byte(fmt.Sprintf("final %d", a.slot))); err != nil {
				t.Errorf("node %d: final whisper to %d: %v", a.slot, b.slot, err)
			}
		}
		if err := a.node.Shout(ctx, "A", []byte(fmt.Sprintf("final %d", a.slot))); err != nil {
			t.Errorf("node %d: final shout: %v", a.slot, err)
		}
	}
	settle(2 * time.Second)
	for i, n := range live {
		evs := n.rec.Events()[before[i]:]
		for _, a := range c.peersOf(n) {
			text := fmt.Sprintf("final %d", a.slot)
			if got := count(evs, isWhisper(text)); got != 1 {
				t.Errorf("node %d got the final whisper of node %d %d times", n.slot, a.slot, got)
			}
			want := 0
			if n.groups["A"] {
				want = 1
			}
			if got := count(evs, isShout("A", text)); got != want {
				t.Errorf("node %d got the final shout of node %d %d times, want %d", n.slot, a.slot, got, want)
			}
		}
	}
}

// chaosRec records a node's events, like zyretest.Recorder, and can stop
// reading for a while, as a slow application does.
type chaosRec struct {
	mu   sync.Mutex
	evs  []zyre.Event
	gate chan struct{} // non-nil while paused; closed to resume
	done chan struct{}
}

func recordChaos(n *zyre.Node) *chaosRec {
	r := &chaosRec{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			r.mu.Lock()
			gate := r.gate
			r.mu.Unlock()
			if gate != nil {
				<-gate
			}
			ev, err := n.Recv(context.Background())
			if err != nil {
				return
			}
			r.mu.Lock()
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
		}
	}()
	return r
}

// pause stops reading events for d.
func (r *chaosRec) pause(d time.Duration) {
	r.mu.Lock()
	r.gate = make(chan struct{})
	r.mu.Unlock()
	time.AfterFunc(d, r.resume)
}

// resume reads events again.
func (r *chaosRec) resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gate != nil {
		close(r.gate)
		r.gate = nil
	}
}

func (r *chaosRec) paused() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gate != nil
}

// Events returns a copy of the events so far.
func (r *chaosRec) Events() []zyre.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// Wait waits until the node's event stream has ended (after Close).
func (r *chaosRec) Wait() { <-r.done }
