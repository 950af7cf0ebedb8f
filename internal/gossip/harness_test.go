package gossip

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// rig drives one engine with a fake clock.
type rig struct {
	t   testing.TB
	e   *Engine
	now time.Time
}

func newRig(t testing.TB, cfg Config) *rig {
	return &rig{t: t, e: New(cfg), now: t0}
}

func (r *rig) step(in Input) []Output { return r.e.Step(r.now, in, nil) }

// advance moves the clock by d, ticking at every deadline on the way.
func (r *rig) advance(d time.Duration) []Output {
	r.t.Helper()
	target := r.now.Add(d)
	var out []Output
	for i := 0; ; i++ {
		if i > 100000 {
			r.t.Fatal("advance: deadlines do not progress")
		}
		dl := r.e.NextDeadline()
		if dl.After(target) {
			break
		}
		if dl.After(r.now) {
			r.now = dl
		}
		out = r.e.Step(r.now, Tick{}, out)
	}
	r.now = target
	return out
}

func (r *rig) expect(got []Output, want ...Output) {
	r.t.Helper()
	expectOutputs(r.t, got, want...)
}

func expectOutputs(t testing.TB, got []Output, want ...Output) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outputs\n got %s\nwant %s", fmtOutputs(got), fmtOutputs(want))
	}
}

func fmtOutputs(outs []Output) string {
	if len(outs) == 0 {
		return "(none)"
	}
	var b strings.Builder
	for _, o := range outs {
		b.WriteString("\n    ")
		b.WriteString(fmtOutput(o))
	}
	return b.String()
}

func fmtOutput(o Output) string {
	switch o := o.(type) {
	case Send:
		return fmt.Sprintf("Send{%d, %s}", o.Conn, fmtMsg(o.Msg))
	default:
		return fmt.Sprintf("%T%+v", o, o)
	}
}

func fmtMsg(m Message) string {
	if p, ok := m.(*Publish); ok {
		return fmt.Sprintf("PUBLISH(%q, %q, %d)", p.Key, p.Value, p.TTL)
	}
	if m == nil {
		return "<nil>"
	}
	return m.Command().String()
}

// ---------------------------------------------------------------------------
// A network of engines joined by zero-latency, in-order links. Every
// message goes through Append and Parse.

type simLink struct {
	dialer, listener string
	dConn, lConn     ConnID
}

type delivery struct {
	node  string
	conn  ConnID
	frame []byte
	down  bool
}

type simNet struct {
	t        testing.TB
	now      time.Time
	engines  map[string]*Engine
	links    []*simLink
	queue    []delivery
	events   map[string][]Output // Deliver, Expire and Close outputs per node
	sent     int                 // messages carried
	limit    int                 // most messages one drain may carry
	nextConn ConnID
}

func newSimNet(t testing.TB) *simNet {
	return &simNet{t: t, now: t0, engines: map[string]*Engine{}, events: map[string][]Output{}, limit: 100000, nextConn: 100}
}

func (n *simNet) add(name string, cfg Config) *Engine {
	e := New(cfg)
	n.engines[name] = e
	return e
}

func (n *simNet) names() []string {
	var s []string
	for k := range n.engines {
		s = append(s, k)
	}
	slices.Sort(s)
	return s
}

// connect makes dialer a client of listener.
func (n *simNet) connect(dialer, listener string) *simLink {
	n.nextConn++
	l := &simLink{dialer: dialer, listener: listener, dConn: n.nextConn, lConn: n.nextConn + 1000}
	n.links = append(n.links, l)
	n.step(listener, ClientUp{Conn: l.lConn})
	n.step(dialer, RemoteUp{Conn: l.dConn})
	return l
}

func (n *simNet) step(node string, in Input) {
	n.t.Helper()
	e := n.engines[node]
	if e == nil {
		return
	}
	n.handle(node, e.Step(n.now, in, nil))
	n.drain()
}

func (n *simNet) handle(node string, outs []Output) {
	n.t.Helper()
	for _, o := range outs {
		switch o := o.(type) {
		case Send:
			l, peer, conn := n.route(node, o.Conn)
			if l == nil {
				n.t.Fatalf("%s sent on unknown conn %d", node, o.Conn)
			}
			frame, err := o.Msg.Append(nil)
			if err != nil {
				n.t.Fatal(err)
			}
			n.queue = append(n.queue, delivery{node: peer, conn: conn, frame: frame})
		case Close:
			n.events[node] = append(n.events[node], o)
			if l, peer, conn := n.route(node, o.Conn); l != nil {
				n.links = slices.DeleteFunc(n.links, func(x *simLink) bool { return x == l })
				n.queue = append(n.queue, delivery{node: peer, conn: conn, down: true})
			}
		default:
			n.events[node] = append(n.events[node], o)
		}
	}
}

func (n *simNet) route(node string, conn ConnID) (*simLink, string, ConnID) {
	for _, l := range n.links {
		if l.dialer == node && l.dConn == conn {
			return l, l.listener, l.lConn
		}
		if l.listener == node && l.lConn == conn {
			return l, l.dialer, l.dConn
		}
	}
	return nil, "", 0
}

func (n *simNet) drain() {
	n.t.Helper()
	carried := 0
	for len(n.queue) > 0 {
		d := n.queue[0]
		n.queue = n.queue[1:]
		e := n.engines[d.node]
		if e == nil {
			continue
		}
		if d.down {
			n.handle(d.node, e.Step(n.now, ConnDown{Conn: d.conn}, nil))
			continue
		}
		carried++
		n.sent++
		if carried > n.limit {
			n.t.Fatalf("no quiescence after %d messages: forwarding loop", carried)
		}
		m, err := Parse(d.frame)
		if err != nil {
			n.t.Fatalf("%s got an unparsable frame %x: %v", d.node, d.frame, err)
		}
		n.handle(d.node, e.Step(n.now, MessageIn{Conn: d.conn, Msg: m}, nil))
	}
}

// crash removes a node without any goodbye: its peers see ConnDown.
func (n *simNet) crash(node string) {
	delete(n.engines, node)
	for _, l := range slices.Clone(n.links) {
		switch node {
		case l.dialer:
			n.queue = append(n.queue, delivery{node: l.listener, conn: l.lConn, down: true})
		case l.listener:
			n.queue = append(n.queue, delivery{node: l.dialer, conn: l.dConn, down: true})
		default:
			continue
		}
		n.links = slices.DeleteFunc(n.links, func(x *simLink) bool { return x == l })
	}
	n.drain()
}

// advance moves the clock by d, ticking each engine at its deadlines.
func (n *simNet) advance(d time.Duration) {
	n.t.Helper()
	target := n.now.Add(d)
	for i := 0; ; i++ {
		if i > 1000000 {
			n.t.Fatal("advance: deadlines do not progress")
		}
		var next string
		dl := Never
		for _, name := range n.names() {
			if x := n.engines[name].NextDeadline(); x.Before(dl) {
				next, dl = name, x
			}
		}
		if next == "" || dl.After(target) {
			break
		}
		if dl.After(n.now) {
			n.now = dl
		}
		n.step(next, Tick{})
	}
	n.now = target
}

// take returns and clears the events recorded for node.
func (n *simNet) take(node string) []Output {
	ev := n.events[node]
	delete(n.events, node)
	return ev
}

// holds reports whether node's store has key with value.
func (n *simNet) holds(node, key, value string) bool {
	for _, tp := range n.engines[node].Tuples() {
		if tp.Key == key && tp.Value == value {
			return true
		}
	}
	return false
}
