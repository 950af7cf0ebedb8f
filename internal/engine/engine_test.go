package engine

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/beacon"
	"github.com/gozyre/zyre/internal/zre"
)

const helloSelf = "tcp://10.0.0.1:49152 groups=[] status=0 name=self"

func TestFirstTickSendsBeaconAtOnce(t *testing.T) {
	h := newHarness(t, nil)
	if dl := h.e.NextDeadline(); !dl.IsZero() {
		t.Fatalf("NextDeadline before the first Tick = %v, want zero (tick now)", dl)
	}
	expect(t, h.step(Tick{}), "beacon 49152")
	if dl := h.e.NextDeadline(); !dl.Equal(t0.Add(time.Second)) {
		t.Fatalf("NextDeadline = %v, want t0+1s", dl)
	}
	expect(t, h.step(Tick{})) // early tick: nothing
	expect(t, h.advance(3*time.Second), "beacon 49152", "beacon 49152", "beacon 49152")
	if dl := h.e.NextDeadline(); !dl.Equal(t0.Add(4 * time.Second)) {
		t.Fatalf("NextDeadline = %v, want t0+4s", dl)
	}
}

func TestNoBeaconingMeansNoDeadline(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BeaconInterval = 0 })
	if dl := h.e.NextDeadline(); !dl.Equal(Never) {
		t.Fatalf("NextDeadline = %v, want Never", dl)
	}
	expect(t, h.step(Tick{}))
	r := newRemote(2)
	h.step(r.beacon())
	if dl := h.e.NextDeadline(); !dl.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("NextDeadline with a not-ready peer = %v, want its expiry t0+30s", dl)
	}
}

func TestDiscoveryHelloEnterJoins(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Groups = []string{"b", "a", "b"} })
	r := newRemote(2)
	out := h.step(r.beacon())
	expect(t, out,
		"connect p2 tcp://10.0.0.2:49152",
		"send p2 HELLO#1 tcp://10.0.0.1:49152 groups=[a b] status=0 name=self")
	hello := out[1].(*Send).Msg.(*zre.Hello)
	if want := []zre.Header{{Key: "X-ROLE", Value: "test"}}; !slices.Equal(hello.Headers, want) {
		t.Errorf("HELLO headers = %v, want %v", hello.Headers, want)
	}
	if out[0].(Connect).PublicKey != nil {
		t.Errorf("v1 Connect has a public key")
	}
	ps := h.e.Peers()
	if len(ps) != 1 || ps[0].Ready || ps[0].ID != r.id || ps[0].Endpoint != r.endpoint() {
		t.Fatalf("Peers before HELLO = %+v", ps)
	}

	expect(t, h.step(r.hello("g1", "g2", "g1")),
		"ENTER p2 node2 tcp://10.0.0.2:49152",
		"JOIN p2 g1",
		"JOIN p2 g2")
	p, ok := h.e.Peer(r.id)
	if !ok || !p.Ready || p.Name != "node2" || !slices.Equal(p.Groups, []string{"g1", "g2"}) ||
		!slices.Equal(p.Headers, []zre.Header{{Key: "X-NAME", Value: "node2"}}) {
		t.Fatalf("Peer = %+v, %v", p, ok)
	}
	if got := h.e.PeersByGroup("g1"); !slices.Equal(got, []zre.UUID{r.id}) {
		t.Errorf("PeersByGroup(g1) = %v", got)
	}
	if got := h.e.PeerGroups(); !slices.Equal(got, []string{"g1", "g2"}) {
		t.Errorf("PeerGroups = %v", got)
	}
	if got := h.e.OwnGroups(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("OwnGroups = %v", got)
	}
	// A snapshot is a copy.
	p.Groups[0] = "mutated"
	if p2, _ := h.e.Peer(r.id); p2.Groups[0] != "g1" {
		t.Errorf("PeerInfo aliases engine state")
	}
	expect(t, h.step(r.beacon())) // known, same endpoint: refresh only
}

func TestHelloFromUnknownPeerCreatesIt(t *testing.T) {
	h := newHarness(t, nil)
	r := newRemote(2)
	expect(t, h.step(r.hello("g")),
		"connect p2 tcp://10.0.0.2:49152",
		"send p2 HELLO#1 "+helloSelf,
		"ENTER p2 node2 tcp://10.0.0.2:49152",
		"JOIN p2 g")
	expect(t, h.step(r.beacon())) // the beacon agrees: nothing to do
}

func TestLifecycleEvasiveSilentExpired(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BeaconInterval = 0 })
	r := newRemote(2)
	h.enter(r)
	wantDeadline := func(d time.Duration) {
		t.Helper()
		if dl := h.e.NextDeadline(); !dl.Equal(t0.Add(d)) {
			t.Fatalf("NextDeadline = t0%+v, want t0+%v", dl.Sub(t0), d)
		}
	}
	wantDeadline(5 * time.Second)
	expect(t, h.at(5*time.Second-1))
	expect(t, h.at(5*time.Second), "send p2 PING#2", "EVASIVE p2")
	wantDeadline(6 * time.Second)
	expect(t, h.at(6*time.Second), "SILENT p2")
	wantDeadline(30 * time.Second)
	expect(t, h.at(30*time.Second-1))
	expect(t, h.at(30*time.Second), "EXIT p2 (expired)", "disconnect p2 both")
	if c := h.e.Counters(); c.PeersExpired != 1 || c.PeersNeverReady != 0 {
		t.Errorf("PeersExpired = %d, PeersNeverReady = %d, want 1 and 0", c.PeersExpired, c.PeersNeverReady)
	}
	if len(h.e.Peers()) != 0 || !h.e.NextDeadline().Equal(Never) {
		t.Errorf("peer left behind: %v, deadline %v", h.e.Peers(), h.e.NextDeadline())
	}
}

func TestLifecycleWithBeaconTicks(t *testing.T) {
	// Our own beacon ticks every second must not repeat EVASIVE or SILENT.
	h := newHarness(t, nil)
	r := newRemote(2)
	h.enter(r)
	expect(t, nil)
	got := events(h.at(40 * time.Second))
	want := []string{"EVASIVE p2", "SILENT p2", "EXIT p2 (expired)"}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
}

func TestCustomSilentTimeout(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.BeaconInterval = 0
		c.SilentTimeout = 12 * time.Second
	})
	r := newRemote(2)
	h.enter(r)
	expect(t, h.at(11*time.Second), "send p2 PING#2", "EVASIVE p2")
	expect(t, h.at(12*time.Second), "SILENT p2")

	// A silent timeout shorter than the evasive one: SILENT follows EVASIVE
	// at once.
	h = newHarness(t, func(c *Config) {
		c.BeaconInterval = 0
		c.SilentTimeout = time.Second
	})
	h.enter(r)
	expect(t, h.at(5*time.Second), "send p2 PING#2", "EVASIVE p2", "SILENT p2")
}

func TestZeroTimeoutsTakeDefaults(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.BeaconInterval = 0
		c.EvasiveTimeout = 0
		c.ExpiredTimeout = 0
	})
	h.enter(newRemote(2))
	got := events(h.at(time.Minute))
	want := []string{"EVASIVE p2", "SILENT p2", "EXIT p2 (expired)"}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %q", got)
	}
	if time.Duration(h.e.evasive) != DefaultEvasiveTimeout || time.Duration(h.e.silent) != DefaultEvasiveTimeout+time.Second ||
		time.Duration(h.e.expired) != DefaultExpiredTimeout {
		t.Fatalf("timeouts %v %v %v", h.e.evasive, h.e.silent, h.e.expired)
	}
}

func TestEvasiveOncePerTransition(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BeaconInterval = 0 })
	r := newRemote(2)
	h.enter(r)
	expect(t, h.at(5*time.Second), "send p2 PING#2", "EVASIVE p2")
	h.at(5500 * time.Millisecond)
	expect(t, h.step(r.msg(&zre.PingOK{}))) // answer: refreshed, flags cleared
	expect(t, h.at(10500*time.Millisecond-1))
	expect(t, h.at(10500*time.Millisecond), "send p2 PING#3", "EVASIVE p2")
	expect(t, h.at(11500*time.Millisecond), "SILENT p2")
	expect(t, h.at(35500*time.Millisecond-1))
	expect(t, h.at(35500*time.Millisecond), "EXIT p2 (expired)", "disconnect p2 both")
}

func TestBeaconsAndActivityRefreshLiveness(t *testing.T) {
	h := newHarness(t, nil)
	r := newRemote(2)
	h.enter(r)
	for i := range 60 {
		out := h.advance(time.Second)
		if ev := events(out); ev != nil {
			t.Fatalf("second %d: events %q although beacons arrive", i, ev)
		}
		h.step(r.beacon())
	}
	// Beacons stop; Activity (bytes arriving, no message) keeps it alive.
	for i := range 60 {
		if ev := events(h.advance(time.Second)); ev != nil {
			t.Fatalf("second %d: events %q although activity arrives", i, ev)
		}
		h.step(Activity{From: r.id})
	}
	// Silence: EVASIVE five seconds after the last activity.
	got := events(h.advance(5 * time.Second))
	if !slices.Equal(got, []string{"EVASIVE p2"}) {
		t.Fatalf("events = %q", got)
	}
}

func TestBeaconPortZero(t *testing.T) {
	h := newHarness(t, nil)
	r := newRemote(2)
	h.enter(r, "g")
	expect(t, h.step(r.leaving()), "EXIT p2 (beacon port 0)", "disconnect p2 both")
	if len(h.e.Peers()) != 0 || h.e.PeersByGroup("g") != nil || len(h.e.PeerGroups()) != 0 {
		t.Fatalf("peer left behind")
	}
	// Unknown peer leaving: ignored and counted.
	expect(t, h.step(newRemote(3).leaving()))
	if c := h.e.Counters(); c.BeaconsIgnored != 1 {
		t.Fatalf("BeaconsIgnored = %d", c.BeaconsIgnored)
	}
	// A not-ready peer leaving: removed without EXIT.
	r4 := newRemote(4)
	h.step(r4.beacon())
	expect(t, h.step(r4.leaving()), "disconnect p4 both")
}

func TestGoodbye(t *testing.T) {
	h := newHarness(t, nil)
	r := newRemote(2)
	h.enter(r, "g")
	expect(t, h.step(r.msg(&zre.Goodbye{})), "EXIT p2 (goodbye)", "disconnect p2 both")
	if len(h.e.Peers()) != 0 || len(h.e.PeerGroups()) != 0 {
		t.Fatalf("peer left behind")
	}
	// EXIT was its last event: later messages are from an unknown peer.
	expect(t, h.step(r.whisper("late")))
	if c := h.e.Counters(); c.MessagesUnknownPeer != 1 {
		t.Fatalf("MessagesUnknownPeer = %d", c.MessagesUnknownPeer)
	}
}

func TestJoinLeaveStatus(t *testing.T) {
	h := newHarness(t, nil)
	r := newRemote(2)
	r.status = 7 // HELLO carries 7: the first JOIN must carry 8
	h.enter(r, "x")
	// withStatus sends a JOIN or LEAVE with an arbitrary status.
	withStatus := func(m zre.Message, s uint8) MessageIn {
		switch m := m.(type) {
		case *zre.Join:
			m.Status = s
		case *zre.Leave:
			m.Status = s
		}
		r.status = s
		return r.msg(m)
	}
	tests := []struct {
		name       string
		in         MessageIn
		want       []string
		mismatches uint64
	}{
		{"join", r.join("a"), []string{"JOIN p2 a"}, 0},
		{"duplicate join", r.join("a"), nil, 0},
		{"leave", r.leave("a"), []string{"LEAVE p2 a"}, 0},
		{"leave again", r.leave("a"), nil, 0},
		{"leave hello group", r.leave("x"), []string{"LEAVE p2 x"}, 0},
		{"status jump resyncs", withStatus(&zre.Join{Group: "b"}, 42), []string{"JOIN p2 b"}, 1},
		{"after resync", r.join("c"), []string{"JOIN p2 c"}, 1},
		{"status behind, duplicate", withStatus(&zre.Join{Group: "c"}, 3), nil, 2},
		{"after second resync", r.leave("b"), []string{"LEAVE p2 b"}, 2},
	}
	for _, tt := range tests {
		expect(t, h.step(tt.in), tt.want...)
		if c := h.e.Counters(); c.StatusMismatches != tt.mismatches {
			t.Fatalf("%s: StatusMismatches = %d, want %d", tt.name, c.StatusMismatches, tt.mismatches)
		}
	}
	if p, _ := h.e.Peer(r.id); !slices.Equal(p.Groups, []string{"c"}) {
		t.Fatalf("groups = %v", p.Groups)
	}
	// The u8 status wraps 255 -> 0 without a mismatch.
	for i := range 600 {
		g := fmt.Sprint("w", i%3)
		if i%2 == 0 {
			h.step(r.join(g))
		} else {
			h.step(r.leave(g))
		}
	}
	if c := h.e.Counters(); c.StatusMismatches != 2 || c.SequenceGaps != 0 {
		t.Fatalf("after wrap: %+v", c)
	}
}

func TestSequenceGap(t *testing.T) {
	h := newHarness(t, nil)
	r := newRemote(2)
	h.enter(r, "g")
	expect(t, h.step(r.whisper("one")), `WHISPER p2 ["one"]`)
	r.seq++ // a message lost on the way
	expect(t, h.step(r.whisper("three")), "EXIT p2 (sequence gap)", "disconnect p2 both")
	if c := h.e.Counters(); c.SequenceGaps != 1 {
		t.Fatalf("SequenceGaps = %d", c.SequenceGaps)
	}
	if len(h.e.Peers()) != 0 || len(h.e.PeerGroups()) != 0 {
		t.Fatalf("peer left behind")
	}
	// A repeated (old) sequence number is a gap too.
	h.enter(r)
	h.step(r.whisper("a"))
	r.seq--
	expect(t, h.step(r.whisper("again")), "EXIT p2 (sequence gap)", "disconnect p2 both")
}

func TestIncomingSequenceWraps(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BeaconInterval = 0; c.Logger = nil }) // 65,536 steps: no debug log
	r := newRemote(2)
	h.enter(r)
	for r.seq != 65535 {
		if out := h.step(r.msg(&zre.PingOK{})); len(out) != 0 {
			t.Fatalf("seq %d: %q", r.seq, show(out))
		}
	}
	expect(t, h.step(r.whisper("zero")), `WHISPER p2 ["zero"]`)
	if r.seq != 0 {
		t.Fatalf("remote seq = %d, want 0", r.seq)
	}
	expect(t, h.step(r.whisper("one")), `WHISPER p2 ["one"]`)
	if c := h.e.Counters(); c.SequenceGaps != 0 {
		t.Fatalf("SequenceGaps = %d", c.SequenceGaps)
	}
}

func TestOutgoingSequenceWraps(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BeaconInterval = 0; c.Logger = nil }) // 65,536 steps: no debug log
	r := newRemote(2)
	h.enter(r) // our HELLO was #1
	var seqs []uint16
	var out []Output
	for range 65536 {
		out = h.e.Step(h.now, SendWhisper{To: r.id, Content: [][]byte{nil}}, out[:0])
		seqs = append(seqs, out[0].(*Send).Msg.Seq())
	}
	if seqs[0] != 2 || seqs[65533] != 65535 || seqs[65534] != 0 || seqs[65535] != 1 {
		t.Fatalf("sequences: first %d, around the wrap %v", seqs[0], seqs[65532:])
	}
}

func TestBadMessage(t *testing.T) {
	h := newHarness(t, nil)
	r := newRemote(2)
	h.enter(r)
	bad := func(cmd zre.Command, seq uint16) BadMessage {
		return BadMessage{From: r.id, Err: fmt.Errorf("read frame: %w", &zre.Error{Command: cmd, Sequence: seq, Err: zre.ErrTruncated})}
	}
	// A malformed WHISPER with the right sequence: counted, accounted, dropped.
	r.seq++
	expect(t, h.step(bad(zre.CmdWhisper, r.seq)))
	expect(t, h.step(r.whisper("next")), `WHISPER p2 ["next"]`)
	// Without a header: just counted.
	expect(t, h.step(BadMessage{From: r.id, Err: zre.ErrBadSignature}))
	expect(t, h.step(BadMessage{From: r.id, Err: errors.New("garbage")}))
	// An unknown command id still accounts its sequence.
	r.seq++
	expect(t, h.step(bad(11, r.seq)))
	// A malformed HELLO is not a gap.
	expect(t, h.step(bad(zre.CmdHello, 1)))
	expect(t, h.step(r.whisper("still")), `WHISPER p2 ["still"]`)
	if c := h.e.Counters(); c.BadMessages != 5 || c.SequenceGaps != 0 {
		t.Fatalf("counters %+v", c)
	}
	// From an unknown peer: counted only.
	expect(t, h.step(BadMessage{From: uid(9), Err: &zre.Error{Command: zre.CmdShout, Sequence: 9, Err: zre.ErrTruncated}}))
	// A malformed message with the wrong sequence: gap.
	expect(t, h.step(bad(zre.CmdShout, r.seq+2)), "EXIT p2 (sequence gap)", "disconnect p2 both")
	if c := h.e.Counters(); c.BadMessages != 7 || c.SequenceGaps != 1 {
		t.Fatalf("counters %+v", c)
	}
}

func TestMessagesBeforeHelloDropped(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BeaconInterval = 0 })
	r := newRemote(2)
	h.step(r.beacon()) // known, not ready
	h.at(29 * time.Second)
	expect(t, h.step(r.whisper("early")))
	expect(t, h.step(r.join("g")))
	expect(t, h.step(newRemote(3).whisper("stranger")))
	if c := h.e.Counters(); c.MessagesUnknownPeer != 3 {
		t.Fatalf("MessagesUnknownPeer = %d", c.MessagesUnknownPeer)
	}
	// The dropped messages did not refresh it: it expires 30 s after
	// discovery, silently (it never entered).
	expect(t, h.at(30*time.Second), "disconnect p2 both")
	if c := h.e.Counters(); c.PeersExpired != 0 || c.PeersNeverReady != 1 {
		t.Fatalf("PeersExpired = %d, PeersNeverReady = %d, want 0 and 1", c.PeersExpired, c.PeersNeverReady)
	}
}

func TestNotReadyPeerGetsNoPingOrEvasive(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BeaconInterval = 0 })
	h.step(newRemote(2).beacon())
	if dl := h.e.NextDeadline(); !dl.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("NextDeadline = %v", dl)
	}
	expect(t, h.at(29*time.Second))
}

func TestDuplicateHelloFromReadyPeer(t *testing.T) {
	h := newHarness(t, nil)
	r := newRemote(2)
	h.enter(r, "g")
	h.step(r.whisper("x"))
	expect(t, h.step(r.hello("h")),
		"EXIT p2 (new HELLO)",
		"disconnect p2",
		"connect p2 tcp://10.0.0.2:49152",
		"send p2 HELLO#1 "+helloSelf,
		"ENTER p2 node2 tcp://10.0.0.2:49152",
		"JOIN p2 h")
	if got := h.e.PeerGroups(); !slices.Equal(got, []string{"h"}) {
		t.Fatalf("PeerGroups = %v", got)
	}
	expect(t, h.step(r.whisper("y")), `WHISPER p2 ["y"]`) // sequence restarted at the HELLO
}

func TestRestartedPeerAtSameEndpoint(t *testing.T) {
	h := newHarness(t, nil)
	old := newRemote(2)
	h.enter(old, "g")
	restarted := newRemote(2)
	restarted.id = uid(3) // new process, new UUID, same address and port
	expect(t, h.step(restarted.beacon()),
		"EXIT p2 (replaced at same endpoint)",
		"disconnect p2 both",
		"connect p3 tcp://10.0.0.2:49152",
		"send p3 HELLO#1 "+helloSelf)
	ps := h.e.Peers()
	if len(ps) != 1 || ps[0].ID != restarted.id {
		t.Fatalf("ghost left: %+v", ps)
	}
	if h.e.PeersByGroup("g") != nil {
		t.Fatalf("ghost left in group")
	}
	expect(t, h.step(restarted.hello("g")), "ENTER p3 node2 tcp://10.0.0.2:49152", "JOIN p3 g")

	// The same through a HELLO from the next incarnation.
	again := newRemote(2)
	again.id = uid(4)
	expect(t, h.step(again.hello()),
		"EXIT p3 (replaced at same endpoint)",
		"disconnect p3 both",
		"connect p4 tcp://10.0.0.2:49152",
		"send p4 HELLO#1 "+helloSelf,
		"ENTER p4 node2 tcp://10.0.0.2:49152")
	if len(h.e.Peers()) != 1 {
		t.Fatalf("ghost left: %+v", h.e.Peers())
	}
}

func TestPeerReappearsAtNewEndpoint(t *testing.T) {
	h := newHarness(t, nil)
	r := newRemote(2)
	h.enter(r, "g")
	r.ip = netip.MustParseAddr("10.0.0.99")
	expect(t, h.step(r.beacon()),
		"EXIT p2 (endpoint changed to tcp://10.0.0.99:49152)",
		"disconnect p2",
		"connect p2 tcp://10.0.0.99:49152",
		"send p2 HELLO#1 "+helloSelf)
	expect(t, h.step(r.hello()), "ENTER p2 node2 tcp://10.0.0.99:49152")
	if ps := h.e.Peers(); len(ps) != 1 || ps[0].Endpoint != "tcp://10.0.0.99:49152" || len(ps[0].Groups) != 0 {
		t.Fatalf("Peers = %+v", ps)
	}
}

// A dual-stack peer beacons over IPv4 and IPv6 and announces its IPv4
// endpoint in HELLO and gossip: heard over either family it stays one
// peer, in one session, at the endpoint we met it at.
func TestDualStackPeerStays(t *testing.T) {
	for _, first := range []string{"10.0.0.2", "fd00::2"} {
		t.Run(first, func(t *testing.T) {
			h := newHarness(t, nil)
			r := newRemote(2)
			r.ip = netip.MustParseAddr(first)
			at := r.endpoint()
			expect(t, h.step(r.beacon()), "connect p2 "+at, "send p2 HELLO#1 "+helloSelf)
			v4, v6 := newRemote(2), newRemote(2)
			v6.ip = netip.MustParseAddr("fd00::2")
			hello := v4.hello("g") // announces its IPv4 endpoint
			expect(t, h.step(hello), "ENTER p2 node2 "+at, "JOIN p2 g")
			for range 3 {
				expect(t, h.step(v4.beacon()))
				expect(t, h.step(v6.beacon()))
				expect(t, h.step(Discover{ID: r.id, Endpoint: v4.endpoint()}))
				expect(t, h.step(Discover{ID: r.id, Endpoint: v6.endpoint()}))
			}
			if ps := h.e.Peers(); len(ps) != 1 || ps[0].Endpoint != at {
				t.Fatalf("Peers = %+v", ps)
			}
			// A move within a family is still a move.
			moved := newRemote(2)
			moved.ip = netip.MustParseAddr(map[string]string{"10.0.0.2": "10.0.0.99", "fd00::2": "fd00::99"}[first])
			to := moved.endpoint()
			expect(t, h.step(moved.beacon()),
				"EXIT p2 (endpoint changed to "+to+")",
				"disconnect p2",
				"connect p2 "+to,
				"send p2 HELLO#1 "+helloSelf)
		})
	}
}

// A dual-stack node tells each peer its endpoint in the family it
// reaches the peer in: an IPv6-only peer must not be told an IPv4
// endpoint. Its other endpoint is its own too.
func TestDualStackHelloEndpoint(t *testing.T) {
	const alt = "tcp://[fd00::1]:49152"
	h := newHarness(t, func(c *Config) { c.AltEndpoint = alt })
	r4, r6 := newRemote(2), newRemote(3)
	r6.ip = netip.MustParseAddr("fd00::3")
	expect(t, h.step(r4.beacon()), "connect p2 tcp://10.0.0.2:49152", "send p2 HELLO#1 "+helloSelf)
	expect(t, h.step(r6.beacon()), "connect p3 tcp://[fd00::3]:49152", "send p3 HELLO#1 "+strings.Replace(helloSelf, "tcp://10.0.0.1:49152", alt, 1))
	expect(t, h.step(Discover{ID: uid(9), Endpoint: alt})) // our own
	if n := len(h.e.Peers()); n != 2 {
		t.Fatalf("%d peers", n)
	}
}

func TestBeaconsIgnored(t *testing.T) {
	h := newHarness(t, nil)
	r := newRemote(2)
	tests := []struct {
		name string
		in   BeaconIn
	}{
		{"own beacon", BeaconIn{From: netip.MustParseAddr("10.0.0.1"), Beacon: beacon.Beacon{Version: 1, ID: selfID, Port: 49152}}},
		{"own leaving beacon", BeaconIn{From: netip.MustParseAddr("10.0.0.1"), Beacon: beacon.Beacon{Version: 1, ID: selfID}}},
		{"wrong version", BeaconIn{From: r.ip, Beacon: beacon.Beacon{Version: 3, ID: r.id, Port: r.port}}},
		{"unknown peer leaving", r.leaving()},
		{"no source address", BeaconIn{Beacon: beacon.Beacon{Version: 1, ID: r.id, Port: r.port}}},
	}
	for i, tt := range tests {
		expect(t, h.step(tt.in))
		if c := h.e.Counters(); c.BeaconsIgnored != uint64(i+1) {
			t.Fatalf("%s: BeaconsIgnored = %d", tt.name, c.BeaconsIgnored)
		}
	}
	if len(h.e.Peers()) != 0 {
		t.Fatalf("peers: %+v", h.e.Peers())
	}
	// Our own endpoint under another ID: not a peer.
	me := newRemote(1)
	me.id = uid(7)
	expect(t, h.step(me.beacon()))
	if len(h.e.Peers()) != 0 {
		t.Fatalf("peer at our own endpoint: %+v", h.e.Peers())
	}
}

func TestEndpointFormatting(t *testing.T) {
	h := newHarness(t, nil)
	r6 := newRemote(6)
	r6.ip = netip.MustParseAddr("2001:db8::6")
	expect(t, h.step(r6.beacon()), "connect p6 tcp://[2001:db8::6]:49152", "send p6 HELLO#1 "+helloSelf)
	r7 := newRemote(7)
	r7.ip = netip.MustParseAddr("::ffff:10.0.0.7")
	expect(t, h.step(r7.beacon()), "connect p7 tcp://10.0.0.7:49152", "send p7 HELLO#1 "+helloSelf)
	// The same node seen through its plain IPv4 address: the same endpoint.
	r7.ip = netip.MustParseAddr("10.0.0.7")
	expect(t, h.step(r7.beacon()))
	r6.ip = netip.MustParseAddr("fe80::6%eth0")
	expect(t, h.step(r6.beacon()),
		"disconnect p6", "connect p6 tcp://[fe80::6%eth0]:49152", "send p6 HELLO#1 "+helloSelf)
}

func TestDiscover(t *testing.T) {
	h := newHarness(t, nil)
	key := []byte{0xAA, 0xBB, 0xCC, 0xDD, 5, 6, 7, 8}
	d := Discover{ID: uid(5), Endpoint: "tcp://gossip-host:5555", PublicKey: key}
	expect(t, h.step(d), "connect p5 tcp://gossip-host:5555 key=aabbccdd", "send p5 HELLO#1 "+helloSelf)
	key[0] = 0 // the engine keeps its own copy
	if got := h.step(Tick{}); len(got) != 1 {
		t.Fatalf("tick: %q", show(got))
	}
	expect(t, h.step(d)) // known: refresh
	expect(t, h.step(Discover{ID: selfID, Endpoint: "tcp://x:1"}))
	expect(t, h.step(Discover{ID: uid(6)}))
	expect(t, h.step(Discover{ID: uid(5), Endpoint: "tcp://gossip-host:5556"}),
		"disconnect p5", "connect p5 tcp://gossip-host:5556", "send p5 HELLO#1 "+helloSelf)
}

func TestPingAndIgnoredCommands(t *testing.T) {
	h := newHarness(t, nil)
	r := newRemote(2)
	h.enter(r)
	expect(t, h.step(r.msg(&zre.Ping{})), "send p2 PING-OK#2")
	expect(t, h.step(r.msg(&zre.PingOK{})))
	expect(t, h.step(r.msg(&zre.Elect{Group: "g", Challenger: uid(2).String()})))
	expect(t, h.step(r.msg(&zre.Leader{Group: "g", LeaderID: uid(2).String()})))
	expect(t, h.step(r.msg(&zre.Ping{})), "send p2 PING-OK#3")
	if c := h.e.Counters(); c != (Counters{}) {
		t.Fatalf("counters %+v", c)
	}
}

func TestShoutReachesGroupMembers(t *testing.T) {
	h := newHarness(t, nil)
	r2, r3, r4, r5 := newRemote(2), newRemote(3), newRemote(4), newRemote(5)
	h.enter(r2, "g")
	h.enter(r3, "other")
	h.enter(r4)
	h.step(r4.join("g"))
	h.step(r5.beacon()) // known, not ready: not a member
	h.step(SendWhisper{To: r4.id, Content: [][]byte{[]byte("w")}})
	content := [][]byte{[]byte("hi"), []byte("there")}
	out := h.step(SendShout{Group: "g", Content: content})
	expect(t, out,
		`send p2 SHOUT#2 g ["hi" "there"]`,
		`send p4 SHOUT#3 g ["hi" "there"]`)
	a, b := out[0].(*Send).Msg.(*zre.Shout), out[1].(*Send).Msg.(*zre.Shout)
	if a == b {
		t.Fatal("peers share one *zre.Shout")
	}
	if &a.Content[0][0] != &content[0][0] {
		t.Error("content was copied; it may be shared")
	}
	expect(t, h.step(SendShout{Group: "nobody", Content: content}))
	expect(t, h.step(r2.msg(&zre.Shout{Group: "g", Content: content})), `SHOUT p2 g ["hi" "there"]`)
	if got := h.e.PeersByGroup("g"); !slices.Equal(got, []zre.UUID{r2.id, r4.id}) {
		t.Fatalf("PeersByGroup = %v", got)
	}
}

func TestWhisper(t *testing.T) {
	h := newHarness(t, nil)
	r2, r3 := newRemote(2), newRemote(3)
	h.enter(r2)
	h.step(r3.beacon())
	expect(t, h.step(SendWhisper{To: r2.id, Content: [][]byte{[]byte("a")}}), `send p2 WHISPER#2 ["a"]`)
	expect(t, h.step(SendWhisper{To: r3.id, Content: [][]byte{[]byte("b")}}), `send p3 WHISPER#2 ["b"]`)
	expect(t, h.step(SendWhisper{To: uid(9), Content: [][]byte{[]byte("c")}}))
	if c := h.e.Counters(); c.WhispersUnknownPeer != 1 {
		t.Fatalf("WhispersUnknownPeer = %d", c.WhispersUnknownPeer)
	}
	expect(t, h.step(r2.whisper("back")), `WHISPER p2 ["back"]`)
}

func TestJoinLeaveCommands(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Groups = []string{"start"} })
	r2, r3, r4 := newRemote(2), newRemote(3), newRemote(4)
	h.enter(r2)
	h.step(r3.beacon())
	expect(t, h.step(JoinGroup{Group: "a"}), "send p2 JOIN#2 a 1", "send p3 JOIN#2 a 1")
	expect(t, h.step(JoinGroup{Group: "a"}))
	expect(t, h.step(LeaveGroup{Group: "zzz"}))
	expect(t, h.step(JoinGroup{Group: "b"}), "send p2 JOIN#3 b 2", "send p3 JOIN#3 b 2")
	out := h.step(r4.beacon())
	expect(t, out, "connect p4 tcp://10.0.0.4:49152",
		"send p4 HELLO#1 tcp://10.0.0.1:49152 groups=[a b start] status=2 name=self")
	hello := out[1].(*Send).Msg.(*zre.Hello)
	expect(t, h.step(LeaveGroup{Group: "a"}), "send p2 LEAVE#4 a 3", "send p3 LEAVE#4 a 3", "send p4 LEAVE#2 a 3")
	expect(t, h.step(JoinGroup{Group: "c"}), "send p2 JOIN#5 c 4", "send p3 JOIN#5 c 4", "send p4 JOIN#3 c 4")
	if !slices.Equal(hello.Groups, []string{"a", "b", "start"}) {
		t.Fatalf("HELLO already handed out was changed: %v", hello.Groups)
	}
	if got := h.e.OwnGroups(); !slices.Equal(got, []string{"b", "c", "start"}) {
		t.Fatalf("OwnGroups = %v", got)
	}
	long := string(make([]byte, 256))
	expect(t, h.step(JoinGroup{Group: long}))
}

func TestConnLostAndUnresponsive(t *testing.T) {
	h := newHarness(t, nil)
	r2, r3, r4 := newRemote(2), newRemote(3), newRemote(4)
	h.enter(r2, "g")
	h.enter(r3)
	h.step(r4.beacon())
	expect(t, h.step(ConnLost{Peer: r2.id, Err: errors.New("connection reset")}),
		"EXIT p2 (connection lost: connection reset)", "disconnect p2 both")
	expect(t, h.step(Unresponsive{Peer: r3.id, Reason: "outbox full for 30s"}),
		"EXIT p3 (outbox full for 30s)", "disconnect p3 both")
	expect(t, h.step(ConnLost{Peer: r4.id}), "disconnect p4 both")
	expect(t, h.step(ConnLost{Peer: r4.id}))
	expect(t, h.step(Unresponsive{Peer: uid(9)}))
	if c := h.e.Counters(); c.PeersUnresponsive != 1 {
		t.Fatalf("PeersUnresponsive = %d", c.PeersUnresponsive)
	}
	if len(h.e.Peers()) != 0 || len(h.e.PeerGroups()) != 0 {
		t.Fatalf("peers left: %+v", h.e.Peers())
	}
}

func TestStop(t *testing.T) {
	for _, beaconing := range []bool{true, false} {
		t.Run(fmt.Sprint("beaconing=", beaconing), func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				if !beaconing {
					c.BeaconInterval = 0
				}
			})
			r2, r3 := newRemote(2), newRemote(3)
			h.enter(r2, "g")
			h.step(r3.beacon())
			want := []string{"send p2 GOODBYE#2", "send p3 GOODBYE#2", "disconnect p2", "disconnect p3"}
			if beaconing {
				want = append([]string{"beacon 0"}, want...)
			}
			expect(t, h.step(Stop{}), want...)
			if !h.e.Stopped() {
				t.Fatal("not stopped")
			}
			if dl := h.e.NextDeadline(); !dl.Equal(Never) {
				t.Fatalf("NextDeadline after Stop = %v", dl)
			}
			expect(t, h.steps(Tick{}, r2.whisper("late"), r2.beacon(), JoinGroup{Group: "x"}, Stop{}))
			expect(t, h.advance(time.Minute))
			if len(h.e.Peers()) != 0 || len(h.e.PeerGroups()) != 0 {
				t.Fatalf("peers after Stop: %+v", h.e.Peers())
			}
		})
	}
}

func TestCurveMode(t *testing.T) {
	var ourKey, theirKey [32]byte
	for i := range ourKey {
		ourKey[i] = byte(i + 1)
		theirKey[i] = byte(0xF0 - i)
	}
	h := newHarness(t, func(c *Config) {
		c.BeaconVersion = 3
		c.PublicKey = ourKey
	})
	r := newRemote(2)
	b := r.beacon()
	b.Beacon.Version = 3
	b.Beacon.PublicKey = theirKey
	out := h.step(b)
	expect(t, out, "connect p2 tcp://10.0.0.2:49152 key=f0efeeed", "send p2 HELLO#1 "+helloSelf)
	hello := out[1].(*Send).Msg.(*zre.Hello)
	want := []zre.Header{{Key: "X-ROLE", Value: "test"}, {Key: "X-PUBLICKEY", Value: z85Encode(ourKey[:])}}
	if !slices.Equal(hello.Headers, want) {
		t.Fatalf("HELLO headers = %v", hello.Headers)
	}
	// A v1 beacon is ignored in CURVE mode (no downgrade).
	expect(t, h.step(newRemote(3).beacon()))
	// A HELLO from an unknown peer needs X-PUBLICKEY.
	r4 := newRemote(4)
	expect(t, h.step(r4.hello()))
	if c := h.e.Counters(); c.BeaconsIgnored != 1 || c.MessagesUnknownPeer != 1 {
		t.Fatalf("counters %+v", c)
	}
	m := r4.hello()
	m.Msg.(*zre.Hello).Headers = append(m.Msg.(*zre.Hello).Headers, zre.Header{Key: "X-PUBLICKEY", Value: z85Encode(theirKey[:])})
	expect(t, h.step(m), "connect p4 tcp://10.0.0.4:49152 key=f0efeeed", "send p4 HELLO#1 "+helloSelf,
		"ENTER p4 node4 tcp://10.0.0.4:49152")
	// A header the caller set is kept, not duplicated.
	e := New(Config{BeaconVersion: 3, Headers: []zre.Header{{Key: "x-publickey", Value: "mine"}}})
	if len(e.headers) != 1 {
		t.Fatalf("headers %v", e.headers)
	}
}

func TestUnknownInputIgnored(t *testing.T) {
	h := newHarness(t, nil)
	expect(t, h.step(nil))
	expect(t, h.step(MessageIn{From: uid(2)}))
	expect(t, h.step(MessageIn{From: selfID, Msg: &zre.Hello{Sequence: 1, Endpoint: "tcp://10.0.0.1:49152"}}))
	expect(t, h.step(MessageIn{From: uid(2), Msg: &zre.Hello{Sequence: 1}}))
	if len(h.e.Peers()) != 0 {
		t.Fatalf("peers: %+v", h.e.Peers())
	}
}

func TestWarningsCarryTheReason(t *testing.T) {
	var buf bytes.Buffer
	h := newHarness(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	r := newRemote(2)
	h.enter(r)
	if buf.Len() != 0 {
		t.Fatalf("warnings on a clean join: %s", buf.String())
	}
	r.status = 9
	h.step(r.msg(&zre.Join{Group: "g", Status: 9}))
	r.seq += 3
	h.step(r.whisper("gap"))
	logs := buf.String()
	for _, want := range []string{
		`level=WARN msg="group status mismatch: resynchronised" peer=` + r.id.String() + ` cmd=JOIN group=g expected=1 got=9`,
		`level=WARN msg="sequence gap: messages lost, peer dropped" peer=` + r.id.String() + ` cmd=WHISPER expected=3 got=6`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// Link-local IPv6 endpoints only work with our interface as their zone:
// the engine gives them LinkZone whether they come from a HELLO (peers
// announce theirs without a zone, or with their own interface's) or from
// a beacon's source address; other endpoints keep theirs.
func TestLinkLocalEndpointsGetOurZone(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LinkZone = "eth1"; c.Endpoint = "tcp://[fe80::1]:49152" })
	r := newRemote(2)
	r.ip = netip.MustParseAddr("fe80::2%theirs0")
	expect(t, h.step(r.hello()),
		"connect p2 tcp://[fe80::2%eth1]:49152",
		"send p2 HELLO#1 tcp://[fe80::1]:49152 groups=[] status=0 name=self",
		"ENTER p2 node2 tcp://[fe80::2%eth1]:49152")
	// Its beacon, as the socket reports it, refreshes the same peer.
	r.ip = netip.MustParseAddr("fe80::2%eth1")
	expect(t, h.step(r.beacon()))
	r.ip = netip.MustParseAddr("fe80::2")
	expect(t, h.step(r.beacon()))
	// A wider address is left alone.
	r3 := newRemote(3)
	r3.ip = netip.MustParseAddr("fd00::3")
	expect(t, h.step(r3.beacon()),
		"connect p3 tcp://[fd00::3]:49152",
		"send p3 HELLO#1 tcp://[fe80::1]:49152 groups=[] status=0 name=self")
}

// A peer that announced an endpoint of its own (AdvertisedEndpoint: NAT,
// containers) and beacons from its LAN address stays where it announced:
// its beacons refresh it, with no EXIT and ENTER. One found by gossip that
// has not said HELLO yet moves to its beacon's address silently; one
// found by its beacons still moves when they come from elsewhere
// (TestPeerReappearsAtNewEndpoint).
func TestAdvertisedEndpointKeptAgainstBeacons(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BeaconInterval = 0 })
	r := newRemote(2)
	hello := r.hello()
	hello.Msg.(*zre.Hello).Endpoint = "tcp://203.0.113.5:40000"
	expect(t, h.step(hello),
		"connect p2 tcp://203.0.113.5:40000",
		"send p2 HELLO#1 "+helloSelf,
		"ENTER p2 node2 tcp://203.0.113.5:40000")
	h.advance(4 * time.Second)
	expect(t, h.step(r.beacon()))
	expect(t, h.advance(4*time.Second)) // refreshed: not evasive at 8 s
	if ps := h.e.Peers(); len(ps) != 1 || ps[0].Endpoint != "tcp://203.0.113.5:40000" {
		t.Fatalf("Peers = %+v", ps)
	}

	r3 := newRemote(3)
	expect(t, h.step(Discover{ID: r3.id, Endpoint: "tcp://203.0.113.5:40001"}),
		"connect p3 tcp://203.0.113.5:40001",
		"send p3 HELLO#1 "+helloSelf)
	expect(t, h.step(r3.beacon()),
		"disconnect p3",
		"connect p3 tcp://10.0.0.3:49152",
		"send p3 HELLO#1 "+helloSelf)
}
