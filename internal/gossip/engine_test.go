package gossip

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Small timers so transcripts stay short: TTL 3 s, republish every 1 s,
// PING after 500 ms of silence, a silent remote closed after 2 s.
var testCfg = Config{
	TTL:               3 * time.Second,
	RepublishInterval: time.Second,
	PingInterval:      500 * time.Millisecond,
	RemoteTimeout:     2 * time.Second,
}

func pub(k, v string, ttl uint32) *Publish { return &Publish{Key: k, Value: v, TTL: ttl} }

func TestDefaults(t *testing.T) {
	e := New(Config{})
	if e.ttl != mono(DefaultTTL) || e.ttlMS != 30000 || e.republish != mono(10*time.Second) ||
		e.ping != mono(DefaultPingInterval) || e.remoteTimeout != mono(5*time.Second) ||
		e.clientTimeout != 0 || e.hold != mono(DefaultTTL) || e.maxTuples != 65536 {
		t.Fatalf("defaults: %+v", e)
	}
	if e.NextDeadline() != Never {
		t.Fatal("NextDeadline before any input is not Never")
	}
	if e := New(Config{TTL: 1500 * time.Microsecond, RemoteTimeout: -1}); e.ttlMS != 2 || e.remoteTimeout != 0 {
		t.Fatalf("TTL rounding / negative RemoteTimeout: %d ms, %d", e.ttlMS, e.remoteTimeout)
	}
}

// The server side, message by message.
func TestServerTranscript(t *testing.T) {
	r := newRig(t, testCfg)
	r.expect(r.step(ClientUp{Conn: 1}))
	r.expect(r.step(ClientUp{Conn: 2}))
	// HELLO on an empty store: nothing to send.
	r.expect(r.step(MessageIn{1, &Hello{}}))
	// A new tuple: delivered, and forwarded to clients that said HELLO
	// except its source (client 2 has not said HELLO yet).
	r.expect(r.step(MessageIn{1, pub("A", "tcp://a:1", 3000)}),
		Deliver{"A", "tcp://a:1"})
	// HELLO gets every tuple, with its remaining lifetime.
	r.advance(500 * time.Millisecond)
	r.expect(r.step(MessageIn{2, &Hello{}}),
		Send{2, pub("A", "tcp://a:1", 2500)})
	r.expect(r.step(MessageIn{2, pub("B", "tcp://b:1", 3000)}),
		Deliver{"B", "tcp://b:1"},
		Send{1, pub("B", "tcp://b:1", 3000)})
	r.expect(r.step(MessageIn{1, &Ping{}}), Send{1, &Pong{}})
	// A duplicate that hardly moves the expiry is dropped...
	r.advance(100 * time.Millisecond)
	r.expect(r.step(MessageIn{1, pub("A", "tcp://a:1", 3000)}))
	// ...the owner's republish moves it far enough and is forwarded.
	r.advance(900 * time.Millisecond)
	r.expect(r.step(MessageIn{1, pub("A", "tcp://a:1", 3000)}),
		Send{2, pub("A", "tcp://a:1", 3000)})
	// A changed value is delivered and forwarded.
	r.expect(r.step(MessageIn{1, pub("A", "tcp://a:2", 3000)}),
		Deliver{"A", "tcp://a:2"},
		Send{2, pub("A", "tcp://a:2", 3000)})
	c := r.e.Counters()
	if c.Delivered != 3 || c.Duplicates != 1 || c.Refreshes != 1 {
		t.Fatalf("counters %+v", c)
	}
	// Nobody refreshes: both expire at their TTL, in key order, and
	// nothing goes on the wire.
	r.expect(r.advance(3*time.Second),
		Expire{Key: "B", Value: "tcp://b:1"},
		Expire{Key: "A", Value: "tcp://a:2"})
	if len(r.e.Tuples()) != 0 || r.e.NextDeadline() != Never {
		t.Fatalf("after expiry: %+v, deadline %v", r.e.Tuples(), r.e.NextDeadline())
	}
}

// The client side: HELLO and own tuples on connect, PING when idle,
// republish at RepublishInterval, close a silent remote.
func TestClientTranscript(t *testing.T) {
	r := newRig(t, testCfg)
	r.expect(r.step(PublishOwn{"K", "tcp://k:1"}))
	r.expect(r.step(RemoteUp{Conn: 1}),
		Send{1, &Hello{}},
		Send{1, pub("K", "tcp://k:1", 3000)})
	r.expect(r.advance(500*time.Millisecond), Send{1, &Ping{}})
	r.expect(r.step(MessageIn{1, &Pong{}}))
	// t=1 s: republish is due, and counts as traffic (no PING).
	r.expect(r.advance(500*time.Millisecond), Send{1, pub("K", "tcp://k:1", 3000)})
	// Silence since the PONG at 0.5 s: PING at 1.5 s, republish at 2 s,
	// closed at 2.5 s.
	r.expect(r.advance(1500*time.Millisecond),
		Send{1, &Ping{}},
		Send{1, pub("K", "tcp://k:1", 3000)},
		Close{1, "remote silent"})
	r.expect(r.advance(10 * time.Second))
	r.expect(r.step(ConnDown{Conn: 1}))
	if c := r.e.Counters(); c.ClosedForSilence != 1 {
		t.Fatalf("counters %+v", c)
	}
	// Reconnect: HELLO and the tuple again.
	r.expect(r.step(RemoteUp{Conn: 2}),
		Send{2, &Hello{}},
		Send{2, pub("K", "tcp://k:1", 3000)})
	// A tuple from the server is delivered; our own echoed back is not.
	r.expect(r.step(MessageIn{2, pub("K", "tcp://k:1", 0)}))
	r.expect(r.step(MessageIn{2, pub("P", "tcp://p:1", 0)}), Deliver{"P", "tcp://p:1"})
}

// INVALID from the server: re-HELLO and republish everything, but not for
// INVALIDs that answer commands sent before our last HELLO.
func TestInvalidReHello(t *testing.T) {
	r := newRig(t, testCfg)
	r.step(RemoteUp{Conn: 1})
	r.expect(r.step(PublishOwn{"A-own", "tcp://a:1"}), Send{1, pub("A-own", "tcp://a:1", 3000)})
	r.expect(r.step(MessageIn{1, pub("B-learned", "tcp://b:1", 0)}), Deliver{"B-learned", "tcp://b:1"})
	r.expect(r.step(MessageIn{1, &Invalid{}}))
	r.advance(600 * time.Millisecond)
	r.expect(r.step(MessageIn{1, &Invalid{}}),
		Send{1, &Hello{}},
		Send{1, pub("A-own", "tcp://a:1", 3000)},
		Send{1, pub("B-learned", "tcp://b:1", 0)})
	r.expect(r.step(MessageIn{1, &Invalid{}}))
	if c := r.e.Counters(); c.InvalidReceived != 3 || c.ReHellos != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// Bad or misplaced input gets INVALID from a server (never a crash, never
// INVALID for INVALID) and is ignored by a client.
func TestBadInput(t *testing.T) {
	seed := pub("S", "tcp://s:1", 0)
	for _, tc := range []struct {
		name   string
		remote bool
		hello  bool
		in     Input
		want   []Output
	}{
		{"client garbage", false, true, BadMessage{1, ErrBadSignature}, []Output{Send{1, &Invalid{}}}},
		{"client garbage before hello", false, false, BadMessage{1, ErrTruncated}, []Output{Send{1, &Invalid{}}}},
		{"client pong", false, true, MessageIn{1, &Pong{}}, []Output{Send{1, &Invalid{}}}},
		{"client nil message", false, true, MessageIn{1, nil}, []Output{Send{1, &Invalid{}}}},
		{"client nil publish", false, true, MessageIn{1, (*Publish)(nil)}, []Output{Send{1, &Invalid{}}}},
		{"client invalid", false, true, MessageIn{1, &Invalid{}}, nil},
		{"client second hello", false, true, MessageIn{1, &Hello{}}, []Output{Send{1, seed}}},
		{"client ping before hello", false, false, MessageIn{1, &Ping{}}, []Output{Send{1, &Pong{}}}},
		{"client publish before hello", false, false, MessageIn{1, pub("N", "tcp://n:1", 0)},
			[]Output{Send{1, &Invalid{}}, Deliver{"N", "tcp://n:1"}}},
		{"unknown conn", false, true, MessageIn{9, &Ping{}}, nil},
		{"unknown conn garbage", false, true, BadMessage{9, ErrBadVersion}, nil},
		{"remote garbage", true, true, BadMessage{1, ErrBadSignature}, nil},
		{"remote hello", true, true, MessageIn{1, &Hello{}}, nil},
		{"remote ping", true, true, MessageIn{1, &Ping{}}, []Output{Send{1, &Pong{}}}},
		{"remote nil publish", true, true, MessageIn{1, (*Publish)(nil)}, nil},
		{"unknown input", false, true, struct{ Input }{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, testCfg)
			if tc.remote {
				r.step(RemoteUp{Conn: 1})
				r.step(MessageIn{1, seed})
			} else {
				r.step(ClientUp{Conn: 2})
				r.step(MessageIn{2, seed})
				r.step(ClientUp{Conn: 1})
				if tc.hello {
					r.step(MessageIn{1, &Hello{}})
				}
			}
			r.expect(r.step(tc.in), tc.want...)
		})
	}
}

func TestPublishOwn(t *testing.T) {
	cfg := testCfg
	cfg.RemoteTimeout = -1 // never close the remote for silence
	r := newRig(t, cfg)
	r.step(RemoteUp{Conn: 1})
	r.step(ClientUp{Conn: 2})
	r.step(ClientUp{Conn: 3})
	r.step(MessageIn{3, &Hello{}})
	// To every remote and every client that said HELLO.
	r.expect(r.step(PublishOwn{"K", "v1"}), Send{1, pub("K", "v1", 3000)}, Send{3, pub("K", "v1", 3000)})
	r.expect(r.step(PublishOwn{"K", "v1"}))
	r.expect(r.step(PublishOwn{"K", "v2"}), Send{1, pub("K", "v2", 3000)}, Send{3, pub("K", "v2", 3000)})
	// Invalid own tuples are refused.
	r.expect(r.step(PublishOwn{"K", ""}))
	r.expect(r.step(PublishOwn{"", "v"}))
	if c := r.e.Counters(); c.BadOwnTuples != 2 {
		t.Fatalf("counters %+v", c)
	}
	// The network cannot change or withdraw our own tuple.
	r.expect(r.step(MessageIn{1, pub("K", "evil", 0)}))
	r.expect(r.step(MessageIn{1, Withdrawal("K")}))
	if tp := r.e.Tuples(); len(tp) != 1 || tp[0] != (Tuple{Key: "K", Value: "v2", Own: true}) {
		t.Fatalf("tuples %+v", tp)
	}
	// Own tuples never expire locally.
	r.advance(time.Minute)
	if len(r.e.Tuples()) != 1 {
		t.Fatal("own tuple expired")
	}
	r.expect(r.step(WithdrawOwn{"K"}), Send{1, Withdrawal("K")}, Send{3, Withdrawal("K")})
	r.expect(r.step(WithdrawOwn{"K"}))
	// The withdrawn value is tombstoned: an echo does not bring it back.
	r.expect(r.step(MessageIn{1, pub("K", "v2", 3000)}))
	if len(r.e.Tuples()) != 0 {
		t.Fatalf("tuples %+v", r.e.Tuples())
	}
}

// Withdrawal at a hub: removed, Expire (Withdrawn), forwarded once;
// tombstone blocks the old value for TombstoneHold.
func TestWithdrawTombstone(t *testing.T) {
	r := newRig(t, testCfg)
	for c := ConnID(1); c <= 3; c++ {
		r.step(ClientUp{Conn: c})
		r.step(MessageIn{c, &Hello{}})
	}
	r.step(MessageIn{1, pub("K", "tcp://k:1", 3000)})
	r.expect(r.step(MessageIn{1, Withdrawal("K")}),
		Expire{Key: "K", Value: "tcp://k:1", Withdrawn: true},
		Send{2, Withdrawal("K")},
		Send{3, Withdrawal("K")})
	// The same withdrawal again (a loop): dropped, not forwarded.
	r.expect(r.step(MessageIn{2, Withdrawal("K")}))
	// A stale copy of the old value travelling another path: dropped.
	r.advance(time.Second)
	r.expect(r.step(MessageIn{3, pub("K", "tcp://k:1", 3000)}))
	// A new value is accepted at once.
	r.expect(r.step(MessageIn{3, pub("K", "tcp://k:2", 3000)}),
		Deliver{"K", "tcp://k:2"},
		Send{1, pub("K", "tcp://k:2", 3000)},
		Send{2, pub("K", "tcp://k:2", 3000)})
	r.step(MessageIn{3, Withdrawal("K")})
	// After TombstoneHold (= TTL) the old value may come back.
	r.advance(3 * time.Second)
	r.expect(r.step(MessageIn{3, pub("K", "tcp://k:2", 3000)}),
		Deliver{"K", "tcp://k:2"},
		Send{1, pub("K", "tcp://k:2", 3000)},
		Send{2, pub("K", "tcp://k:2", 3000)})
	if c := r.e.Counters(); c.Withdrawn != 2 || c.Tombstoned != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// TTL 0 (czmq) means no expiry; a duplicate with TTL 0 never refreshes a
// real TTL; a real TTL upgrades a TTL-0 tuple.
func TestTTLZero(t *testing.T) {
	r := newRig(t, testCfg)
	r.step(RemoteUp{Conn: 1})
	r.step(ClientUp{Conn: 2})
	r.step(MessageIn{2, &Hello{}})
	r.expect(r.step(MessageIn{1, pub("C", "tcp://c:1", 0)}), Deliver{"C", "tcp://c:1"}, Send{2, pub("C", "tcp://c:1", 0)})
	r.expect(r.step(MessageIn{1, pub("C", "tcp://c:1", 0)}))
	r.advance(time.Hour)
	if len(r.e.Tuples()) != 1 {
		t.Fatal("TTL-0 tuple expired")
	}
	r.step(MessageIn{2, &Pong{}}) // keep nothing else going: ignore
	r.step(RemoteUp{Conn: 1})     // reset the silent remote
	// First real TTL for the same value: adopted and forwarded.
	r.expect(r.step(MessageIn{2, pub("C", "tcp://c:1", 3000)}), Send{1, pub("C", "tcp://c:1", 3000)})
	// A czmq relay of it (TTL 0) does not extend it.
	r.advance(2900 * time.Millisecond)
	r.expect(r.step(MessageIn{1, pub("C", "tcp://c:1", 0)}))
	out := r.advance(100 * time.Millisecond)
	if !slices.Contains(out, Output(Expire{Key: "C", Value: "tcp://c:1"})) {
		t.Fatalf("no expiry at the TTL: %s", fmtOutputs(out))
	}
}

func TestClientTimeoutAndStoreLimit(t *testing.T) {
	cfg := testCfg
	cfg.ClientTimeout = 2 * time.Second
	cfg.MaxTuples = 2
	r := newRig(t, cfg)
	r.step(ClientUp{Conn: 1})
	r.step(MessageIn{1, &Hello{}})
	r.step(MessageIn{1, pub("a", "1", 0)})
	r.step(MessageIn{1, pub("b", "1", 0)})
	r.expect(r.step(MessageIn{1, pub("c", "1", 0)}))
	r.expect(r.step(PublishOwn{"own", "x"}), Send{1, pub("own", "x", 3000)}) // own tuples do not count
	if c := r.e.Counters(); c.StoreFull != 1 || len(r.e.Tuples()) != 3 {
		t.Fatalf("counters %+v, tuples %+v", c, r.e.Tuples())
	}
	r.advance(1500 * time.Millisecond)
	r.step(MessageIn{1, &Ping{}})
	out := r.advance(2500 * time.Millisecond)
	if out[len(out)-1] != (Close{1, "client silent"}) {
		t.Fatalf("outputs %s", fmtOutputs(out))
	}
}

func TestStop(t *testing.T) {
	r := newRig(t, testCfg)
	r.step(RemoteUp{Conn: 1})
	r.step(ClientUp{Conn: 2})
	r.step(PublishOwn{"b", "x"})
	r.step(PublishOwn{"a", "y"})
	r.step(MessageIn{1, pub("L", "z", 0)})
	r.expect(r.step(Stop{}),
		Send{1, Withdrawal("a")},
		Send{1, Withdrawal("b")},
		Close{1, "stop"},
		Close{2, "stop"})
	if !r.e.Stopped() || r.e.NextDeadline() != Never {
		t.Fatal("not stopped")
	}
	r.expect(r.step(PublishOwn{"c", "x"}))
	r.expect(r.step(Tick{}))
}

// ---------------------------------------------------------------------------
// Networks of engines

// Two nodes on one hub discover each other; refreshes keep the tuples
// alive for as long as the owners run; a crashed node's tuple expires at
// its TTL everywhere.
func TestHubDiscoveryAndExpiry(t *testing.T) {
	n := newSimNet(t)
	n.add("hub", testCfg)
	n.add("a", testCfg).Step(n.now, PublishOwn{"A", "tcp://a:1"}, nil)
	n.add("b", testCfg).Step(n.now, PublishOwn{"B", "tcp://b:1"}, nil)
	n.connect("a", "hub")
	n.connect("b", "hub")
	expectOutputs(t, n.take("a"), Deliver{"B", "tcp://b:1"})
	expectOutputs(t, n.take("b"), Deliver{"A", "tcp://a:1"})
	expectOutputs(t, n.take("hub"), Deliver{"A", "tcp://a:1"}, Deliver{"B", "tcp://b:1"})

	sent := n.sent
	n.advance(30 * time.Second) // ten TTLs
	for _, node := range n.names() {
		if ev := n.take(node); len(ev) != 0 {
			t.Fatalf("%s: events while both nodes run: %s", node, fmtOutputs(ev))
		}
	}
	// Per second: 2 republishes, 1 forwarded each, plus pings: bounded.
	if per := float64(n.sent-sent) / 30; per > 12 {
		t.Fatalf("%.1f messages/s in steady state", per)
	}

	n.crash("a")
	n.advance(2 * time.Second)
	if n.take("b") != nil {
		t.Fatal("expired early")
	}
	n.advance(time.Second)
	expectOutputs(t, n.take("b"), Expire{Key: "A", Value: "tcp://a:1"})
	expectOutputs(t, n.take("hub"), Expire{Key: "A", Value: "tcp://a:1"})
	n.advance(10 * time.Second)
	if !n.holds("hub", "B", "tcp://b:1") || !n.holds("b", "B", "tcp://b:1") {
		t.Fatal("B's tuple lost")
	}
	if len(n.take("b")) != 0 || len(n.take("hub")) != 0 {
		t.Fatal("more events")
	}
}

// Withdraw on leave reaches every node at once, through a chain of hubs.
func TestWithdrawAcrossHubs(t *testing.T) {
	n := newSimNet(t)
	n.add("h1", testCfg)
	n.add("h2", testCfg)
	n.add("a", testCfg).Step(n.now, PublishOwn{"A", "tcp://a:1"}, nil)
	n.add("b", testCfg)
	n.connect("h1", "h2")
	n.connect("a", "h1")
	n.connect("b", "h2")
	expectOutputs(t, n.take("b"), Deliver{"A", "tcp://a:1"})
	n.step("a", WithdrawOwn{"A"})
	for _, node := range []string{"h1", "h2", "b"} {
		ev := n.take(node)
		if len(ev) == 0 || ev[len(ev)-1] != (Expire{Key: "A", Value: "tcp://a:1", Withdrawn: true}) {
			t.Fatalf("%s: %s", node, fmtOutputs(ev))
		}
	}
	n.advance(10 * time.Second)
	if len(n.take("b")) != 0 {
		t.Fatal("withdrawn tuple came back")
	}
}

// Hubs in cycles (a ring plus a pair dialling each other both ways): every
// tuple reaches everyone, duplicates stop the flooding, refreshes keep
// tuples alive across three hops and do not circulate, and a crash
// expires everywhere.
func TestCyclesConverge(t *testing.T) {
	n := newSimNet(t)
	n.limit = 500 // one input may not cause more than this
	for _, h := range []string{"h1", "h2", "h3"} {
		n.add(h, testCfg)
	}
	n.connect("h1", "h2")
	n.connect("h2", "h3")
	n.connect("h3", "h1")
	n.connect("h2", "h1")
	nodes := map[string]string{"a": "h1", "b": "h2", "c": "h3"}
	for _, node := range []string{"a", "b", "c"} {
		n.add(node, testCfg).Step(n.now, PublishOwn{node, "tcp://" + node + ":1"}, nil)
		n.connect(node, nodes[node])
	}
	for _, holder := range n.names() {
		for _, node := range []string{"a", "b", "c"} {
			if !n.holds(holder, node, "tcp://"+node+":1") {
				t.Fatalf("%s does not hold %s", holder, node)
			}
		}
	}
	for _, name := range n.names() {
		n.take(name)
	}
	sent := n.sent
	n.advance(30 * time.Second)
	for _, name := range n.names() {
		if ev := n.take(name); len(ev) != 0 {
			t.Fatalf("%s: events in steady state: %s", name, fmtOutputs(ev))
		}
	}
	// Each republish crosses each of the 7 connections at most about
	// twice; pings fill idle connections.
	if per := float64(n.sent-sent) / 30; per > 60 {
		t.Fatalf("%.1f messages/s in steady state", per)
	}
	n.crash("a")
	n.advance(3100 * time.Millisecond)
	for _, name := range n.names() {
		want := []Output{Expire{Key: "a", Value: "tcp://a:1"}}
		expectOutputs(t, n.take(name), want...)
	}
}

// Random inputs, including parsed random bytes, never panic and never make
// the deadline go backwards past now.
func TestRandomInputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"a", "b", "c"}
	for round := range 200 {
		r := newRig(t, testCfg)
		for range 200 {
			conn := ConnID(rng.IntN(4))
			var in Input
			switch rng.IntN(11) {
			case 0:
				in = ClientUp{conn}
			case 1:
				in = RemoteUp{conn}
			case 2:
				in = ConnDown{conn, errors.New("x")}
			case 3:
				b := make([]byte, rng.IntN(12))
				for i := range b {
					b[i] = byte(rng.IntN(256))
				}
				if rng.IntN(2) == 0 {
					b = append([]byte{0xAA, 0xA0, byte(rng.IntN(7)), 1}, b...)
				}
				if m, err := Parse(b); err == nil {
					in = MessageIn{conn, m}
				} else {
					in = BadMessage{conn, err}
				}
			case 4:
				in = MessageIn{conn, pub(keys[rng.IntN(3)], keys[rng.IntN(3)], uint32(rng.IntN(3))*1000)}
			case 5:
				in = MessageIn{conn, Withdrawal(keys[rng.IntN(3)])}
			case 6:
				in = MessageIn{conn, []Message{&Hello{}, &Ping{}, &Pong{}, &Invalid{}}[rng.IntN(4)]}
			case 7:
				in = PublishOwn{keys[rng.IntN(3)], keys[rng.IntN(3)]}
			case 8:
				in = WithdrawOwn{keys[rng.IntN(3)]}
			case 9:
				r.advance(time.Duration(rng.IntN(2000)) * time.Millisecond)
				continue
			case 10:
				if rng.IntN(20) == 0 {
					in = Stop{}
				} else {
					in = Tick{}
				}
			}
			for _, o := range r.step(in) {
				if s, ok := o.(Send); ok {
					if _, err := s.Msg.Append(nil); err != nil {
						t.Fatalf("round %d: unencodable output %s", round, fmtOutput(o))
					}
				}
			}
			if dl := r.e.NextDeadline(); dl != Never && dl.Before(r.now.Add(-time.Hour)) {
				t.Fatalf("round %d: deadline %v far behind now %v", round, dl, r.now)
			}
		}
	}
}
