package zyre_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gozyre/zyre"
	"github.com/gozyre/zyre/internal/beacon"
	"github.com/gozyre/zyre/internal/vectors"
	"github.com/gozyre/zyre/internal/zmtp"
	"github.com/gozyre/zyre/internal/zre"
)

// Tests that talk to a node at the wire level, as a C Zyre peer would,
// over real ZMTP on loopback.

// startWireNode starts one node on loopback with beacons off, so the only
// peers it meets are the ones the test makes.
func startWireNode(t *testing.T, mutate func(*zyre.Config)) (*zyre.Node, *recorder) {
	t.Helper()
	cfg := loopbackConfig(loopbackPort(), "node")
	cfg.DisableBeacon = true
	if mutate != nil {
		mutate(cfg)
	}
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

// dialNode opens a DEALER to the node's mailbox with identity 0x01+uuid.
func dialNode(t *testing.T, n *zyre.Node, uuid zre.UUID) *zmtp.Conn {
	t.Helper()
	ep := strings.TrimPrefix(n.Endpoint(), "tcp://")
	nc, err := net.Dial("tcp", ep)
	if err != nil {
		t.Fatal(err)
	}
	c, err := zmtp.Handshake(t.Context(), nc, zmtp.Config{SocketType: zmtp.SocketDealer, Identity: append([]byte{1}, uuid[:]...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c *zmtp.Conn, frames [][]byte) {
	t.Helper()
	if err := c.Send(frames); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A node fed the bytes C Zyre's alpha sent to beta (live/ vectors) over a
// real ZMTP connection produces the events beta's application saw.
func TestGoldenVectorsIntoNode(t *testing.T) {
	set := vectors.Load(t)
	n, rec := startWireNode(t, nil)
	alpha, err := zre.ParseUUID("4EDFE427B2C44582BECE66BA7A7C7B39")
	if err != nil {
		t.Fatal(err)
	}
	c := dialNode(t, n, alpha)
	for _, m := range set.Select([]string{"live/alpha_to_beta_"}) {
		send(t, c, set.Frames(t, m))
	}
	id := zyre.PeerID(alpha)
	rec.WaitFor(t, waitBound, "EXIT of alpha after its GOODBYE", has(isExit(id)))
	var got []string
	for _, ev := range rec.Events() {
		switch e := ev.(type) {
		case zyre.EnterEvent:
			got = append(got, "ENTER "+e.Name+" "+e.Endpoint+" X-HELLO="+e.Headers["X-HELLO"]+" X-TYPE="+e.Headers["X-TYPE"])
		case zyre.JoinEvent:
			got = append(got, "JOIN "+e.Group)
		case zyre.ShoutEvent:
			got = append(got, "SHOUT "+e.Group+" "+string(bytes.Join(e.Frames, []byte("|"))))
		case zyre.WhisperEvent:
			got = append(got, "WHISPER "+string(e.Frames[0])+" "+string(rune(len(e.Frames[1])+'0')))
		case zyre.ExitEvent:
			got = append(got, "EXIT "+e.Reason)
		default:
			got = append(got, ev.Type().String())
		}
	}
	want := []string{
		"ENTER alpha tcp://127.0.0.1:33305 X-HELLO=World X-TYPE=ref",
		"JOIN CHAT", "JOIN GLOBAL",
		"SHOUT CHAT Hello, World",
		"WHISPER Hello 4",
		"JOIN VOTE",
		"EXIT goodbye",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	st := n.Stats()
	if st.SequenceGaps != 0 || st.MessagesBad != 0 || st.MessagesReceived != 10 {
		t.Errorf("stats %+v", st)
	}
}

// The HELLO our node sends decodes as C Zyre decodes it: sequence 1, our
// endpoint, groups, status, name and headers, from identity 0x01+our ID.
func TestNodeHelloOnTheWire(t *testing.T) {
	// A fake C peer: a ROUTER the node will connect to.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r, err := zmtp.NewRouter(ln, zmtp.RouterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n, _ := startWireNode(t, func(c *zyre.Config) {
		c.Name = "gonode"
		c.Groups = []string{"CHAT", "GLOBAL"}
		c.Headers = map[string]string{"X-HELLO": "World", "X-TYPE": "go"}
	})
	// Introduce the fake peer with a HELLO carrying its endpoint.
	peer := zre.UUID{0xC0, 0xFF, 0xEE}
	c := dialNode(t, n, peer)
	hello := &zre.Hello{Sequence: 1, Endpoint: "tcp://" + ln.Addr().String(), Name: "fake"}
	f0, _ := hello.Append(nil)
	send(t, c, [][]byte{f0})

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	m, err := r.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nid := n.ID()
	if len(m.Identity) != 17 || m.Identity[0] != 1 || !bytes.Equal(m.Identity[1:], nid[:]) {
		t.Fatalf("identity %x", m.Identity)
	}
	msg, err := zre.ParseFrames(m.Frames)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := msg.(*zre.Hello)
	if !ok {
		t.Fatalf("first message %T", msg)
	}
	hdr := map[string]string{}
	for _, kv := range h.Headers {
		hdr[kv.Key] = kv.Value
	}
	if h.Sequence != 1 || h.Endpoint != n.Endpoint() || h.Name != "gonode" || h.Status != 0 ||
		strings.Join(h.Groups, ",") != "CHAT,GLOBAL" || hdr["X-HELLO"] != "World" || hdr["X-TYPE"] != "go" {
		t.Errorf("HELLO = %+v", h)
	}
	// Re-encoding gives the bytes we received: what we send is canonical.
	again, _ := h.Append(nil)
	if !bytes.Equal(again, m.Frames[0]) {
		t.Errorf("re-encoded HELLO differs")
	}
}

// Bad input never crashes a node, never reaches the application, and is
// counted: garbage and foreign beacons, our own beacon, malformed ZRE
// messages, messages before HELLO, a sequence gap, a bad routing id.
func TestBadInputIsCounted(t *testing.T) {
	port := loopbackPort()
	n, rec := startWireNode(t, func(c *zyre.Config) { c.DisableBeacon = false; c.BeaconPort = port })

	// Beacons: garbage, wrong version, our own UUID.
	uc, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	own := beacon.Beacon{Version: 1, ID: zre.UUID(n.ID()), Port: 1234}
	v3 := beacon.Beacon{Version: 3, ID: zre.UUID{9}, Port: 1234}
	for _, p := range [][]byte{[]byte("garbage"), {}, bytes.Repeat([]byte{0xff}, 300), own.Append(nil), v3.Append(nil), []byte("ZRE\x02aaaaaaaaaaaaaaaaaa")} {
		if _, err := uc.Write(p); err != nil {
			t.Fatal(err)
		}
	}

	// ZRE: a message before HELLO, then garbage frames, then a bad routing id.
	stranger := dialNode(t, n, zre.UUID{0x51})
	w := &zre.Whisper{Sequence: 2, Content: [][]byte{[]byte("sneaky")}}
	wf, _ := w.Append(nil)
	send(t, stranger, [][]byte{wf, []byte("sneaky")})
	send(t, stranger, [][]byte{[]byte("\xaa\xa1\x01\x02\x00\x01\xff")}) // truncated HELLO
	send(t, stranger, [][]byte{[]byte("not zre at all")})
	send(t, stranger, [][]byte{{0xAA, 0xA1, 0x63, 0x02, 0x00, 0x03}}) // unknown id 99
	nc, err := net.Dial("tcp", strings.TrimPrefix(n.Endpoint(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	anon, err := zmtp.Handshake(t.Context(), nc, zmtp.Config{SocketType: zmtp.SocketDealer, Identity: []byte("short")})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	send(t, anon, [][]byte{wf})
	// A raw TCP client that sends junk instead of a greeting.
	junk, err := net.Dial("tcp", strings.TrimPrefix(n.Endpoint(), "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	junk.Write(bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 10))
	defer junk.Close()

	// A proper peer, then a sequence gap.
	good := zre.UUID{0x60, 0x0D}
	gc := dialNode(t, n, good)
	hello := &zre.Hello{Sequence: 1, Endpoint: "tcp://127.0.0.1:9", Name: "good"}
	hf, _ := hello.Append(nil)
	send(t, gc, [][]byte{hf})
	rec.WaitFor(t, waitBound, "ENTER of the good peer", has(isEnter(zyre.PeerID(good))))
	gap := &zre.Ping{Sequence: 7}
	gf, _ := gap.Append(nil)
	send(t, gc, [][]byte{gf})
	rec.WaitFor(t, waitBound, "EXIT of the good peer on a sequence gap", has(isExit(zyre.PeerID(good))))

	deadline := time.Now().Add(20 * time.Second)
	for {
		st := n.Stats()
		if st.BeaconsBad >= 4 && st.BeaconsIgnored >= 2 && st.MessagesBad >= 3 && st.MessagesUnknownPeer >= 1 &&
			st.BadIdentities >= 1 && st.SequenceGaps == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters did not move as expected: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, ev := range rec.Events() {
		if e, ok := ev.(zyre.WhisperEvent); ok {
			t.Errorf("a whisper reached the application: %+v", e)
		}
		if e, ok := ev.(zyre.EnterEvent); ok && e.Peer != zyre.PeerID(good) {
			t.Errorf("unexpected ENTER %+v", e)
		}
	}
}
