package engine

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/beacon"
	"github.com/gozyre/zyre/internal/zre"
)

// A cluster wires engines together in one test loop: every Send is encoded
// with the real zre codec and parsed again on the receiving side, beacons
// are broadcast to every node (including the sender), delivery is
// immediate and FIFO, and time is a fake clock driven by the engines'
// NextDeadline.

type simNode struct {
	id       zre.UUID
	ip       netip.Addr
	endpoint string
	e        *Engine
	conns    map[zre.UUID]string // our outbound connections: peer -> endpoint
	events   []Event             // since the last take
	ch       *eventChecker       // sees every event as it is emitted
	dead     bool                // crashed: receives nothing, ticks never
}

type delivery struct {
	from, to *simNode
	in       Input
}

type cluster struct {
	tb         testing.TB
	now        time.Time
	nodes      []*simNode
	byEndpoint map[string]*simNode
	queue      []delivery
	// drop, if set, may discard a message on the wire.
	drop func(from, to *simNode, m zre.Message) bool
	buf  []byte
}

func newCluster(tb testing.TB) *cluster {
	return &cluster{tb: tb, now: t0, byEndpoint: make(map[string]*simNode)}
}

// add starts a node with ID uid(n) at 10.0.0.n.
func (c *cluster) add(n byte, groups ...string) *simNode {
	return c.addAt(uid(n), netip.AddrFrom4([4]byte{10, 0, 0, n}), groups...)
}

func (c *cluster) addAt(id zre.UUID, ip netip.Addr, groups ...string) *simNode {
	ep := "tcp://" + netip.AddrPortFrom(ip, 49152).String()
	node := &simNode{id: id, ip: ip, endpoint: ep, conns: make(map[zre.UUID]string), ch: newChecker()}
	node.e = New(Config{
		ID:             id,
		Name:           label(id),
		Groups:         groups,
		Endpoint:       ep,
		Port:           49152,
		BeaconVersion:  1,
		BeaconInterval: time.Second,
		EvasiveTimeout: 5 * time.Second,
		ExpiredTimeout: 30 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(c.tb.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	c.nodes = append(c.nodes, node)
	c.byEndpoint[ep] = node
	return node
}

// do steps a command on a node and delivers everything that follows.
func (c *cluster) do(n *simNode, in Input) {
	c.perform(n, n.e.Step(c.now, in, nil))
	c.drain()
}

func (c *cluster) perform(n *simNode, outs []Output) {
	for _, o := range outs {
		switch o := o.(type) {
		case SendBeacon:
			for _, m := range c.nodes {
				c.queue = append(c.queue, delivery{n, m, BeaconIn{
					From:   n.ip,
					Beacon: beacon.Beacon{Version: 1, ID: n.id, Port: o.Port},
				}})
			}
		case Connect:
			if _, dup := n.conns[o.Peer]; dup {
				c.tb.Fatalf("%s: Connect to %s twice without Disconnect", label(n.id), label(o.Peer))
			}
			n.conns[o.Peer] = o.Endpoint
		case Disconnect:
			if _, ok := n.conns[o.Peer]; !ok {
				c.tb.Fatalf("%s: Disconnect from %s without Connect", label(n.id), label(o.Peer))
			}
			delete(n.conns, o.Peer)
		case *Send:
			ep, ok := n.conns[o.Peer]
			if !ok {
				c.tb.Fatalf("%s: Send %v to %s without a connection", label(n.id), o.Msg.Command(), label(o.Peer))
			}
			to := c.byEndpoint[ep]
			if to == nil || (c.drop != nil && c.drop(n, to, o.Msg)) {
				continue
			}
			c.queue = append(c.queue, delivery{n, to, MessageIn{From: n.id, Msg: c.roundTrip(o.Msg)}})
		case *Emit:
			n.events = append(n.events, o.Event)
			n.ch.feed(c.tb, label(n.id), []Event{o.Event})
		default:
			c.tb.Fatalf("unknown output %T", o)
		}
	}
}

// roundTrip encodes m as the frames a ZMTP message would carry and parses
// them back, copying the bytes as a network would.
func (c *cluster) roundTrip(m zre.Message) zre.Message {
	var err error
	c.buf, err = m.Append(c.buf[:0])
	if err != nil {
		c.tb.Fatalf("encode %v: %v", m.Command(), err)
	}
	if len(c.buf) != m.Len() {
		c.tb.Fatalf("%v: Len %d, Append wrote %d", m.Command(), m.Len(), len(c.buf))
	}
	frames := [][]byte{bytes.Clone(c.buf)}
	for _, f := range zre.ContentOf(m) {
		frames = append(frames, bytes.Clone(f))
	}
	if cmd := m.Command(); (cmd == zre.CmdWhisper || cmd == zre.CmdShout) && len(frames) == 1 {
		frames = append(frames, []byte{}) // C sends one empty frame
	}
	got, err := zre.ParseFrames(frames)
	if err != nil {
		c.tb.Fatalf("parse %v: %v", m.Command(), err)
	}
	return got
}

func (c *cluster) drain() {
	for len(c.queue) > 0 {
		d := c.queue[0]
		c.queue = c.queue[1:]
		if d.to.dead {
			continue
		}
		c.perform(d.to, d.to.e.Step(c.now, d.in, nil))
	}
}

// run advances the clock by d, ticking every node at its deadlines.
func (c *cluster) run(d time.Duration) {
	end := c.now.Add(d)
	for {
		c.drain()
		next := Never
		for _, n := range c.nodes {
			if dl := n.e.NextDeadline(); !n.dead && dl.Before(next) {
				next = dl
			}
		}
		if next.After(end) {
			break
		}
		if next.After(c.now) {
			c.now = next
		}
		for _, n := range c.nodes {
			if !n.dead && !n.e.NextDeadline().After(c.now) {
				c.perform(n, n.e.Step(c.now, Tick{}, nil))
			}
		}
	}
	c.now = end
}

// take returns a node's events since the last take, rendered.
func (n *simNode) take() []string {
	var s []string
	for _, ev := range n.events {
		s = append(s, showEvent(ev))
	}
	n.events = n.events[:0]
	return s
}

// eventChecker follows a node's event stream and checks the
// application-level guarantees: ENTER first, EXIT last, JOIN only for a
// non-member, LEAVE only for a member, nothing from a peer that is not in.
// It keeps the membership it derived, for comparison with the queries.
type eventChecker struct {
	in     map[zre.UUID]bool
	groups map[zre.UUID]map[string]bool
}

func newChecker() *eventChecker {
	return &eventChecker{in: map[zre.UUID]bool{}, groups: map[zre.UUID]map[string]bool{}}
}

func (ch *eventChecker) feed(tb testing.TB, who string, evs []Event) {
	tb.Helper()
	for _, ev := range evs {
		bad := func(why string) { tb.Fatalf("%s: %s: %s", who, showEvent(ev), why) }
		switch ev.Type {
		case EventEnter:
			if ch.in[ev.Peer] {
				bad("ENTER for a peer already in")
			}
			ch.in[ev.Peer] = true
			ch.groups[ev.Peer] = map[string]bool{}
			continue
		}
		if !ch.in[ev.Peer] {
			bad("event for a peer that is not in")
		}
		switch ev.Type {
		case EventExit:
			delete(ch.in, ev.Peer)
			delete(ch.groups, ev.Peer)
		case EventJoin:
			if ch.groups[ev.Peer][ev.Group] {
				bad("JOIN for a member")
			}
			ch.groups[ev.Peer][ev.Group] = true
		case EventLeave:
			if !ch.groups[ev.Peer][ev.Group] {
				bad("LEAVE for a non-member")
			}
			delete(ch.groups[ev.Peer], ev.Group)
		}
	}
}

// agrees checks the derived membership against the engine's queries.
func (ch *eventChecker) agrees(tb testing.TB, n *simNode) {
	tb.Helper()
	for _, p := range n.e.Peers() {
		if p.Ready != ch.in[p.ID] {
			tb.Fatalf("%s: %s ready=%v but events say %v", label(n.id), label(p.ID), p.Ready, ch.in[p.ID])
		}
		var want []string
		for g := range ch.groups[p.ID] {
			want = append(want, g)
		}
		slices.Sort(want)
		if !slices.Equal(p.Groups, want) {
			tb.Fatalf("%s: %s groups %v, events say %v", label(n.id), label(p.ID), p.Groups, want)
		}
	}
}

// checkEvents checks every live node's queries against its event history.
func (c *cluster) checkEvents() {
	c.tb.Helper()
	for _, n := range c.nodes {
		if !n.dead && !n.e.Stopped() {
			n.ch.agrees(c.tb, n)
		}
	}
}

func readyPeers(n *simNode) []string {
	var s []string
	for _, p := range n.e.Peers() {
		if p.Ready {
			s = append(s, label(p.ID))
		}
	}
	return s
}

func TestClusterThroughCodec(t *testing.T) {
	c := newCluster(t)
	n2 := c.add(2, "chat")
	n3 := c.add(3, "chat", "ops")
	n4 := c.add(4, "ops")
	n5 := c.add(5)
	check := func() {
		t.Helper()
		c.checkEvents()
		for _, n := range c.nodes {
			n.events = n.events[:0]
		}
	}

	c.run(1500 * time.Millisecond)
	for _, n := range c.nodes {
		if got := len(readyPeers(n)); got != 3 {
			t.Fatalf("%s sees %d ready peers: %v", label(n.id), got, n.e.Peers())
		}
	}
	if got := n2.e.PeersByGroup("ops"); !slices.Equal(got, []zre.UUID{n3.id, n4.id}) {
		t.Fatalf("n2 PeersByGroup(ops) = %v", got)
	}
	if got := n5.e.PeerGroups(); !slices.Equal(got, []string{"chat", "ops"}) {
		t.Fatalf("n5 PeerGroups = %v", got)
	}
	check()

	c.do(n5, JoinGroup{Group: "chat"})
	for _, n := range []*simNode{n2, n3, n4} {
		if got := n.take(); !slices.Equal(got, []string{"JOIN p5 chat"}) {
			t.Fatalf("%s events %q", label(n.id), got)
		}
	}
	c.do(n2, SendShout{Group: "chat", Content: [][]byte{[]byte("hello"), []byte("all")}})
	for _, n := range []*simNode{n3, n5} {
		if got := n.take(); !slices.Equal(got, []string{`SHOUT p2 chat ["hello" "all"]`}) {
			t.Fatalf("%s events %q", label(n.id), got)
		}
	}
	if got := n4.take(); got != nil {
		t.Fatalf("n4 (not in chat) got %q", got)
	}
	c.do(n4, SendWhisper{To: n2.id, Content: [][]byte{[]byte("psst")}})
	c.do(n4, SendWhisper{To: n2.id})
	if got := n2.take(); !slices.Equal(got, []string{`WHISPER p4 ["psst"]`, `WHISPER p4 [""]`}) {
		t.Fatalf("n2 events %q", got)
	}
	c.do(n3, LeaveGroup{Group: "chat"})
	c.do(n3, JoinGroup{Group: "chat"})
	c.do(n3, LeaveGroup{Group: "ops"})
	if got := n4.take(); !slices.Equal(got, []string{"LEAVE p3 chat", "JOIN p3 chat", "LEAVE p3 ops"}) {
		t.Fatalf("n4 events %q", got)
	}
	check()

	// A minute of idle time: beacons keep everyone fresh, nobody is evasive.
	c.run(time.Minute)
	for _, n := range c.nodes {
		if got := n.take(); got != nil {
			t.Fatalf("%s idle events %q", label(n.id), got)
		}
	}

	// A crash (no Stop): the others see EVASIVE, SILENT, then EXIT.
	n4.dead = true
	c.run(31 * time.Second)
	for _, n := range []*simNode{n2, n3, n5} {
		if got := n.take(); !slices.Equal(got, []string{"EVASIVE p4", "SILENT p4", "EXIT p4 (expired)"}) {
			t.Fatalf("%s events %q", label(n.id), got)
		}
	}

	// A restart: new UUID at n5's endpoint while n5 is still known.
	n5.dead = true
	c.run(2 * time.Second)
	n6 := c.addAt(uid(6), n5.ip, "ops")
	c.run(2 * time.Second)
	for _, n := range []*simNode{n2, n3} {
		got := n.take()
		want := []string{"EXIT p5 (replaced at same endpoint)", "ENTER p6 p6 tcp://10.0.0.5:49152", "JOIN p6 ops"}
		if !slices.Equal(got, want) {
			t.Fatalf("%s events %q, want %q", label(n.id), got, want)
		}
		if got := readyPeers(n); len(got) != 2 {
			t.Fatalf("%s ready peers %v (ghost?)", label(n.id), got)
		}
	}
	check()

	// A polite stop: port-0 beacon first, so EXIT says so; the GOODBYE that
	// follows comes from a peer already gone.
	c.do(n6, Stop{})
	for _, n := range []*simNode{n2, n3} {
		if got := n.take(); !slices.Equal(got, []string{"EXIT p6 (beacon port 0)"}) {
			t.Fatalf("%s events %q", label(n.id), got)
		}
		if len(n.e.Peers()) != 1 {
			t.Fatalf("%s peers %v", label(n.id), n.e.Peers())
		}
	}
	for _, n := range c.nodes {
		if cs := n.e.Counters(); cs.SequenceGaps != 0 || cs.StatusMismatches != 0 || cs.BadMessages != 0 {
			t.Fatalf("%s counters %+v", label(n.id), cs)
		}
	}
	if cs := n2.e.Counters(); cs.BeaconsIgnored == 0 {
		t.Fatalf("own beacons were not seen: %+v", cs)
	}
}

func TestClusterRecoversFromSequenceGap(t *testing.T) {
	c := newCluster(t)
	n2 := c.add(2, "g")
	n3 := c.add(3, "g")
	c.run(1500 * time.Millisecond)
	n2.take()
	n3.take()

	dropped := false
	c.drop = func(from, to *simNode, m zre.Message) bool {
		if !dropped && from == n2 && to == n3 && m.Command() == zre.CmdShout {
			dropped = true
			return true
		}
		return false
	}
	c.do(n2, SendShout{Group: "g", Content: [][]byte{[]byte("lost")}})
	c.do(n2, SendShout{Group: "g", Content: [][]byte{[]byte("gap")}})
	if got := n3.take(); !slices.Equal(got, []string{"EXIT p2 (sequence gap)"}) {
		t.Fatalf("n3 events %q", got)
	}
	if cs := n3.e.Counters(); cs.SequenceGaps != 1 {
		t.Fatalf("n3 counters %+v", cs)
	}
	// Within a beacon interval both sides exchange fresh HELLOs.
	c.run(1500 * time.Millisecond)
	if got := n3.take(); !slices.Equal(got, []string{"ENTER p2 p2 tcp://10.0.0.2:49152", "JOIN p2 g"}) {
		t.Fatalf("n3 events %q", got)
	}
	if got := n2.take(); !slices.Equal(got, []string{"EXIT p3 (new HELLO)", "ENTER p3 p3 tcp://10.0.0.3:49152", "JOIN p3 g"}) {
		t.Fatalf("n2 events %q", got)
	}
	c.do(n2, SendShout{Group: "g", Content: [][]byte{[]byte("again")}})
	if got := n3.take(); !slices.Equal(got, []string{`SHOUT p2 g ["again"]`}) {
		t.Fatalf("n3 events %q", got)
	}
	if cs := n3.e.Counters(); cs.SequenceGaps != 1 {
		t.Fatalf("n3 counters %+v", cs)
	}
}

func TestClusterManyNodesConverge(t *testing.T) {
	const size = 30
	c := newCluster(t)
	for i := range size {
		c.add(byte(10+i), fmt.Sprint("g", i%3))
	}
	c.run(1500 * time.Millisecond)
	c.checkEvents()
	for _, n := range c.nodes {
		if got := len(readyPeers(n)); got != size-1 {
			t.Fatalf("%s sees %d ready peers", label(n.id), got)
		}
		if got := len(n.e.PeersByGroup("g0")); got < size/3-1 {
			t.Fatalf("%s: g0 has %d members", label(n.id), got)
		}
	}
	for i, n := range c.nodes {
		if i%2 == 0 {
			c.do(n, JoinGroup{Group: "all"})
		}
	}
	for _, n := range c.nodes {
		n.events = n.events[:0]
	}
	c.do(c.nodes[1], SendShout{Group: "all", Content: [][]byte{[]byte("x")}})
	got := 0
	for _, n := range c.nodes {
		got += len(n.events)
	}
	if got != size/2 {
		t.Fatalf("shout reached %d nodes, want %d", got, size/2)
	}
}
