package engine

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/beacon"
	"github.com/gozyre/zyre/internal/zre"
)

// FuzzEngine drives the engine with arbitrary sequences of inputs from a
// few remote peers (beacons, HELLO, JOIN, LEAVE, WHISPER, SHOUT, PING,
// GOODBYE with right or wrong sequence numbers and group status), our own
// commands, lost connections and the passing of time, and checks after
// every step what the node above it relies on:
//
//   - the events form sessions per peer: ENTER first, EXIT last, nothing
//     from a peer outside a session, JOIN and LEAVE alternating per group;
//   - the engine's queries agree with the events (who is ready, in which
//     groups);
//   - Send and Disconnect only name peers we were told to Connect to;
//   - after a Tick the next deadline is in the future (no busy loop).
func FuzzEngine(f *testing.F) {
	f.Add([]byte{0, 2, 1, 2, 3, 2, 2, 2, 5, 4, 2, 8, 20, 8, 120})
	f.Add([]byte{1, 3, 7, 0, 9, 1, 4, 3, 200, 11, 3, 2, 3, 1, 0, 8, 40, 7, 3})
	f.Add([]byte{0, 4, 1, 4, 1, 5, 0, 5, 12, 5, 6, 4, 10, 0, 15, 13, 4, 8, 255})
	f.Fuzz(func(t *testing.T, ops []byte) {
		fz := newFuzzEngine()
		for len(ops) > 0 {
			var in Input
			in, ops = fz.input(ops)
			fz.step(t, in)
			if t.Failed() {
				return
			}
		}
	})
}

const fuzzPeers = 4 // remotes p2 to p5

var fuzzGroups = []string{"a", "b", "c"}

type fuzzEngine struct {
	e       *Engine
	now     time.Time
	seq     [fuzzPeers]uint16 // last sequence number each remote sent
	status  [fuzzPeers]uint8
	linked  map[zre.UUID]bool
	session map[zre.UUID]map[string]bool // open sessions and their groups, from the events
	out     []Output
}

func newFuzzEngine() *fuzzEngine {
	cfg := Config{
		ID: selfID, Name: "self", Endpoint: "tcp://10.0.0.1:49152", AltEndpoint: "tcp://[fd00::1]:49152", Port: 49152, BeaconVersion: 1,
		BeaconInterval: time.Second, EvasiveTimeout: 5 * time.Second, ExpiredTimeout: 30 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return &fuzzEngine{e: New(cfg), now: t0, linked: map[zre.UUID]bool{}, session: map[zre.UUID]map[string]bool{}}
}

// input decodes one input from the front of ops.
func (fz *fuzzEngine) input(ops []byte) (Input, []byte) {
	next := func() byte {
		if len(ops) == 0 {
			return 0
		}
		b := ops[0]
		ops = ops[1:]
		return b
	}
	op := next()
	arg := next()
	k := int(arg) % fuzzPeers
	id := uid(byte(2 + k))
	ip := netip.AddrFrom4([4]byte{10, 0, byte(arg>>7) & 1, byte(2 + k)}) // two addresses per peer
	if op&0x10 != 0 {
		ip = netip.AddrFrom16([16]byte{0: 0xfd, 14: byte(arg>>7) & 1, 15: byte(2 + k)}) // and two IPv6 ones (dual stack)
	}
	endpoint := "tcp://" + netip.AddrPortFrom(ip, 49152).String()
	group := fuzzGroups[int(arg>>2)%len(fuzzGroups)]
	// Mostly the right next sequence number; sometimes any.
	seq := func() uint16 {
		if arg&0x40 != 0 {
			return uint16(next())
		}
		fz.seq[k]++
		return fz.seq[k]
	}
	status := func() uint8 {
		if arg&0x20 != 0 {
			return next()
		}
		fz.status[k]++
		return fz.status[k]
	}
	switch op % 16 {
	case 0:
		port := uint16(49152)
		if arg&0x10 != 0 {
			port = 0
		}
		return BeaconIn{From: ip, Beacon: beacon.Beacon{Version: 1, ID: id, Port: port}}, ops
	case 1:
		fz.seq[k] = 0
		var groups []string
		for i, g := range fuzzGroups {
			if arg&(1<<(i+2)) != 0 {
				groups = append(groups, g)
			}
		}
		ep := endpoint
		if arg&0x20 != 0 {
			ep = ""
		}
		return MessageIn{From: id, Msg: &zre.Hello{Sequence: seq(), Endpoint: ep, Groups: groups, Status: fz.status[k], Name: fmt.Sprint("n", k)}}, ops
	case 2:
		return MessageIn{From: id, Msg: &zre.Join{Sequence: seq(), Group: group, Status: status()}}, ops
	case 3:
		return MessageIn{From: id, Msg: &zre.Leave{Sequence: seq(), Group: group, Status: status()}}, ops
	case 4:
		return MessageIn{From: id, Msg: &zre.Whisper{Sequence: seq(), Content: [][]byte{{arg}}}}, ops
	case 5:
		return MessageIn{From: id, Msg: &zre.Shout{Sequence: seq(), Group: group, Content: [][]byte{{arg}}}}, ops
	case 6:
		if arg&1 != 0 {
			return MessageIn{From: id, Msg: &zre.PingOK{Sequence: seq()}}, ops
		}
		return MessageIn{From: id, Msg: &zre.Ping{Sequence: seq()}}, ops
	case 7:
		return MessageIn{From: id, Msg: &zre.Goodbye{Sequence: seq()}}, ops
	case 8, 9:
		fz.now = fz.now.Add(time.Duration(arg) * 250 * time.Millisecond)
		return Tick{}, ops
	case 10:
		if arg&1 != 0 {
			return LeaveGroup{Group: group}, ops
		}
		return JoinGroup{Group: group}, ops
	case 11:
		if arg&1 != 0 {
			return SendShout{Group: group, Content: [][]byte{{arg}}}, ops
		}
		return SendWhisper{To: id, Content: [][]byte{{arg}}}, ops
	case 12:
		if arg&1 != 0 {
			return Unresponsive{Peer: id}, ops
		}
		return ConnLost{Peer: id}, ops
	case 13:
		return Discover{ID: id, Endpoint: endpoint}, ops
	case 14:
		return Activity{From: id}, ops
	default:
		if arg == 0xFF {
			return Stop{}, ops
		}
		return Activity{From: id}, ops
	}
}

func (fz *fuzzEngine) step(t *testing.T, in Input) {
	fz.out = fz.e.Step(fz.now, in, fz.out[:0])
	for _, o := range fz.out {
		switch o := o.(type) {
		case Connect:
			fz.linked[o.Peer] = true
		case Disconnect:
			if !fz.linked[o.Peer] {
				t.Fatalf("%T: disconnect of p%d, never connected", in, o.Peer[0])
			}
			delete(fz.linked, o.Peer)
		case *Send:
			if !fz.linked[o.Peer] {
				t.Fatalf("%T: send %s to p%d, not connected", in, o.Msg.Command(), o.Peer[0])
			}
		case *Emit:
			fz.event(t, in, &o.Event)
		}
	}
	if fz.e.Stopped() {
		return // it has let go of its peers, without EXITs: the node ends
	}
	if _, tick := in.(Tick); tick {
		if dl := fz.e.NextDeadline(); !dl.After(fz.now) {
			t.Fatalf("after a Tick at %v the next deadline is %v", fz.now.Sub(t0), dl.Sub(t0))
		}
	}
	fz.checkQueries(t, in)
}

// event checks one event against the sessions seen so far.
func (fz *fuzzEngine) event(t *testing.T, in Input, ev *Event) {
	s, open := fz.session[ev.Peer]
	if ev.Type == EventEnter {
		if open {
			t.Fatalf("%T: ENTER of p%d inside its session", in, ev.Peer[0])
		}
		fz.session[ev.Peer] = map[string]bool{}
		return
	}
	if !open {
		t.Fatalf("%T: %v of p%d outside a session", in, ev.Type, ev.Peer[0])
	}
	switch ev.Type {
	case EventExit:
		delete(fz.session, ev.Peer)
	case EventJoin:
		if s[ev.Group] {
			t.Fatalf("%T: JOIN of p%d to %s, already in it", in, ev.Peer[0], ev.Group)
		}
		s[ev.Group] = true
	case EventLeave:
		if !s[ev.Group] {
			t.Fatalf("%T: LEAVE of p%d from %s, not in it", in, ev.Peer[0], ev.Group)
		}
		delete(s, ev.Group)
	}
}

// checkQueries checks that the engine's queries agree with the events.
func (fz *fuzzEngine) checkQueries(t *testing.T, in Input) {
	for k := range fuzzPeers {
		id := uid(byte(2 + k))
		s, open := fz.session[id]
		p, known := fz.e.Peer(id)
		if open != (known && p.Ready) {
			t.Fatalf("%T: p%d ready=%v known=%v, but the events say in session=%v", in, id[0], p.Ready, known, open)
		}
		var groups []string
		for g := range s {
			groups = append(groups, g)
		}
		slices.Sort(groups)
		if open && !slices.Equal(p.Groups, groups) {
			t.Fatalf("%T: p%d in groups %v, the events say %v", in, id[0], p.Groups, groups)
		}
	}
	for _, g := range fuzzGroups {
		var want []zre.UUID
		for id, s := range fz.session {
			if s[g] {
				want = append(want, id)
			}
		}
		got := fz.e.PeersByGroup(g)
		slices.SortFunc(want, func(a, b zre.UUID) int { return int(a[0]) - int(b[0]) })
		slices.SortFunc(got, func(a, b zre.UUID) int { return int(a[0]) - int(b[0]) })
		if !slices.Equal(got, want) {
			t.Fatalf("%T: PeersByGroup(%s) = %v, the events say %v", in, g, got, want)
		}
	}
}
