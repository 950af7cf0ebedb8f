package engine

import (
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

// t0 is the fake clock's start.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// uid makes a readable UUID: byte 0 is n, so transcripts label it "p<n>".
func uid(n byte) zre.UUID {
	var u zre.UUID
	u[0] = n
	u[15] = 0xEE
	return u
}

// label names a uid in transcripts.
func label(u zre.UUID) string { return fmt.Sprintf("p%d", u[0]) }

// selfID is the engine under test.
var selfID = uid(1)

// baseConfig is the configuration of the engine under test.
func baseConfig(tb testing.TB) Config {
	return Config{
		ID:             selfID,
		Name:           "self",
		Headers:        []zre.Header{{Key: "X-ROLE", Value: "test"}},
		Endpoint:       "tcp://10.0.0.1:49152",
		Port:           49152,
		BeaconVersion:  1,
		BeaconInterval: time.Second,
		EvasiveTimeout: 5 * time.Second,
		ExpiredTimeout: 30 * time.Second,
		Logger:         testLogger(tb),
	}
}

// testLogger writes every record (Debug and up) to the test's output, so
// the logging paths run under -race and show up on failures.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// harness steps one engine with a fake clock.
type harness struct {
	tb  testing.TB
	e   *Engine
	now time.Time
}

func newHarness(tb testing.TB, mut func(*Config)) *harness {
	tb.Helper()
	cfg := baseConfig(tb)
	if mut != nil {
		mut(&cfg)
	}
	return &harness{tb: tb, e: New(cfg), now: t0}
}

// step feeds one input at the current time and returns its outputs.
func (h *harness) step(in Input) []Output {
	return h.stepKeep(in, nil)
}

// steps feeds inputs in order and returns all outputs.
func (h *harness) steps(ins ...Input) []Output {
	var out []Output
	for _, in := range ins {
		out = h.stepKeep(in, out)
	}
	return out
}

// stepKeep is Step for callers that collect outputs over several Steps:
// it detaches the new outputs from the engine's recycled storage.
func (h *harness) stepKeep(in Input, out []Output) []Output {
	n := len(out)
	out = h.e.Step(h.now, in, out)
	for i, o := range out[n:] {
		out[n+i] = detach(o)
	}
	return out
}

// detach copies an output that points into the engine's storage.
func detach(o Output) Output {
	switch o := o.(type) {
	case *Send:
		c := *o
		switch m := c.Msg.(type) {
		case *zre.Whisper:
			mc := *m
			c.Msg = &mc
		case *zre.Shout:
			mc := *m
			c.Msg = &mc
		}
		return &c
	case *Emit:
		c := *o
		return &c
	}
	return o
}

// advance moves the clock forward by d, ticking at every deadline on the
// way as the owner's timer would, and returns all outputs.
func (h *harness) advance(d time.Duration) []Output {
	h.tb.Helper()
	end := h.now.Add(d)
	var out []Output
	for {
		dl := h.e.NextDeadline()
		if dl.After(end) {
			break
		}
		if dl.After(h.now) {
			h.now = dl
		}
		out = h.stepKeep(Tick{}, out)
		if nd := h.e.NextDeadline(); !nd.After(h.now) {
			h.tb.Fatalf("advance: Tick at %v left the deadline at %v", h.now, nd)
		}
	}
	h.now = end
	return out
}

// at moves the clock to t0+d, ticking on the way.
func (h *harness) at(d time.Duration) []Output {
	h.tb.Helper()
	if t := t0.Add(d); t.After(h.now) {
		return h.advance(t.Sub(h.now))
	}
	return nil
}

// remote plays a peer node: it makes the beacons and messages that peer
// would send, with correct sequence and status counters.
type remote struct {
	id     zre.UUID
	ip     netip.Addr
	port   uint16
	name   string
	seq    uint16
	status uint8
}

func newRemote(n byte) *remote {
	return &remote{
		id:   uid(n),
		ip:   netip.AddrFrom4([4]byte{10, 0, 0, n}),
		port: 49152,
		name: fmt.Sprintf("node%d", n),
	}
}

func (r *remote) endpoint() string {
	return "tcp://" + netip.AddrPortFrom(r.ip, r.port).String()
}

func (r *remote) beacon() BeaconIn {
	return BeaconIn{From: r.ip, Beacon: beacon.Beacon{Version: 1, ID: r.id, Port: r.port}}
}

func (r *remote) leaving() BeaconIn {
	return BeaconIn{From: r.ip, Beacon: beacon.Beacon{Version: 1, ID: r.id, Port: 0}}
}

// hello restarts the remote's outgoing sequence at 1.
func (r *remote) hello(groups ...string) MessageIn {
	r.seq = 1
	return MessageIn{From: r.id, Msg: &zre.Hello{
		Sequence: 1, Endpoint: r.endpoint(), Groups: groups, Status: r.status, Name: r.name,
		Headers: []zre.Header{{Key: "X-NAME", Value: r.name}},
	}}
}

// msg stamps the next sequence number into m.
func (r *remote) msg(m zre.Message) MessageIn {
	r.seq++
	m.SetSeq(r.seq)
	return MessageIn{From: r.id, Msg: m}
}

func (r *remote) join(g string) MessageIn {
	r.status++
	return r.msg(&zre.Join{Group: g, Status: r.status})
}

func (r *remote) leave(g string) MessageIn {
	r.status++
	return r.msg(&zre.Leave{Group: g, Status: r.status})
}

func (r *remote) whisper(s string) MessageIn {
	return r.msg(&zre.Whisper{Content: [][]byte{[]byte(s)}})
}

// enter makes a remote known and ready: beacon, then its HELLO.
func (h *harness) enter(r *remote, groups ...string) []Output {
	return h.steps(r.beacon(), r.hello(groups...))
}

// ---------------------------------------------------------------------------
// Transcripts

// show renders outputs one per line, compactly, for exact comparison.
func show(outs []Output) []string {
	lines := make([]string, 0, len(outs))
	for _, o := range outs {
		lines = append(lines, showOne(o))
	}
	return lines
}

func showOne(o Output) string {
	switch o := o.(type) {
	case Connect:
		s := "connect " + label(o.Peer) + " " + o.Endpoint
		if o.PublicKey != nil {
			s += fmt.Sprintf(" key=%x", o.PublicKey[:4])
		}
		return s
	case Disconnect:
		if o.Inbound {
			return "disconnect " + label(o.Peer) + " both"
		}
		return "disconnect " + label(o.Peer)
	case SendBeacon:
		return fmt.Sprintf("beacon %d", o.Port)
	case *Send:
		return "send " + label(o.Peer) + " " + showMsg(o.Msg)
	case *Emit:
		return showEvent(o.Event)
	}
	return fmt.Sprintf("?%T", o)
}

func showMsg(m zre.Message) string {
	s := fmt.Sprintf("%v#%d", m.Command(), m.Seq())
	switch m := m.(type) {
	case *zre.Hello:
		s += fmt.Sprintf(" %s groups=%v status=%d name=%s", m.Endpoint, m.Groups, m.Status, m.Name)
	case *zre.Join:
		s += fmt.Sprintf(" %s %d", m.Group, m.Status)
	case *zre.Leave:
		s += fmt.Sprintf(" %s %d", m.Group, m.Status)
	case *zre.Shout:
		s += fmt.Sprintf(" %s %q", m.Group, m.Content)
	case *zre.Whisper:
		s += fmt.Sprintf(" %q", m.Content)
	}
	return s
}

var eventNames = map[EventType]string{
	EventEnter: "ENTER", EventExit: "EXIT", EventJoin: "JOIN", EventLeave: "LEAVE",
	EventWhisper: "WHISPER", EventShout: "SHOUT", EventEvasive: "EVASIVE",
	EventSilent: "SILENT", EventLeader: "LEADER",
}

func showEvent(ev Event) string {
	s := eventNames[ev.Type] + " " + label(ev.Peer)
	switch ev.Type {
	case EventEnter:
		s += fmt.Sprintf(" %s %s", ev.Name, ev.Endpoint)
	case EventExit:
		s += " (" + ev.Reason + ")"
	case EventJoin, EventLeave:
		s += " " + ev.Group
	case EventWhisper:
		s += fmt.Sprintf(" %q", ev.Content)
	case EventShout:
		s += fmt.Sprintf(" %s %q", ev.Group, ev.Content)
	}
	return s
}

// expect compares a transcript with the wanted lines.
func expect(tb testing.TB, outs []Output, want ...string) {
	tb.Helper()
	got := show(outs)
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		tb.Fatalf("outputs differ\n got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// events keeps only the Emit outputs, rendered.
func events(outs []Output) []string {
	var s []string
	for _, o := range outs {
		if e, ok := o.(*Emit); ok {
			s = append(s, showEvent(e.Event))
		}
	}
	return s
}
