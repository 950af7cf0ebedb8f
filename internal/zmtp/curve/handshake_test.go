package curve

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/zmtp"
)

// transfer sends msg on from and receives it on to, concurrently (net.Pipe
// is unbuffered).
func transfer(t *testing.T, from, to *zmtp.Conn, msg [][]byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		err := from.Send(msg)
		if err == nil {
			err = from.Flush()
		}
		errc <- err
	}()
	got, err := to.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(got) != len(msg) {
		t.Fatalf("got %d frames, want %d", len(got), len(msg))
	}
	for i := range msg {
		if !bytes.Equal(got[i], msg[i]) {
			t.Fatalf("frame %d: got %d bytes, want %d (or content differs)", i, len(got[i]), len(msg[i]))
		}
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func TestHandshakeAndMessages(t *testing.T) {
	for _, transport := range []string{"pipe", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			var c, s net.Conn
			if transport == "pipe" {
				c, s = pipePair(t)
			} else {
				c, s = tcpPair(t)
			}
			client, server := mechPair(t)
			cc, sc, cerr, serr := handshakePair(t, c, s, client, server)
			if cerr != nil || serr != nil {
				t.Fatalf("handshake: client %v, server %v", cerr, serr)
			}
			// Each side learns the other's proven long-term key.
			if k, ok := PeerKey(sc.PeerMetadata()); !ok || k != client.Key.Public {
				t.Errorf("server: PeerKey = %x, %v; want client key %x", k, ok, client.Key.Public)
			}
			if k, ok := PeerKey(cc.PeerMetadata()); !ok || k != server.Key.Public {
				t.Errorf("client: PeerKey = %x, %v; want server key %x", k, ok, server.Key.Public)
			}
			if !bytes.Equal(sc.PeerIdentity(), dealerIdentity(1)) || sc.PeerSocketType() != zmtp.SocketDealer {
				t.Errorf("server sees identity %x, type %s", sc.PeerIdentity(), sc.PeerSocketType())
			}
			if cc.PeerSocketType() != zmtp.SocketRouter {
				t.Errorf("client sees type %s", cc.PeerSocketType())
			}
			if sc.PeerGreeting().AsServer || !cc.PeerGreeting().AsServer {
				t.Errorf("as-server flags: client saw %v, server saw %v", cc.PeerGreeting().AsServer, sc.PeerGreeting().AsServer)
			}

			msgs := [][][]byte{
				{[]byte("hello")},
				{{}},
				{pattern(255, 1)},
				{pattern(256, 2)},
				{[]byte("a"), {}, pattern(255, 3), pattern(256, 4), pattern(70000, 5)},
				{pattern(4<<20, 6)},
				{pattern(4<<20, 7), []byte("tail")},
			}
			for i, m := range msgs {
				t.Run(fmt.Sprintf("msg%d", i), func(t *testing.T) {
					transfer(t, cc, sc, m)
					transfer(t, sc, cc, m)
				})
			}
			// Many small messages in one flush.
			errc := make(chan error, 1)
			go func() {
				for i := range 1000 {
					if err := cc.Send([][]byte{fmt.Appendf(nil, "m%d", i)}); err != nil {
						errc <- err
						return
					}
				}
				errc <- cc.Flush()
			}()
			for i := range 1000 {
				got, err := sc.Recv()
				if err != nil || len(got) != 1 || string(got[0]) != fmt.Sprintf("m%d", i) {
					t.Fatalf("message %d: %q, %v", i, got, err)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWireIsEncrypted checks that after the handshake only MESSAGE data
// frames without flags go on the wire, and that the payload does not
// appear in clear.
func TestWireIsEncrypted(t *testing.T) {
	c, s := pipePair(t)
	tap := &tapConn{Conn: c}
	client, server := mechPair(t)
	cc, sc, cerr, serr := handshakePair(t, tap, s, client, server)
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: %v, %v", cerr, serr)
	}
	var wire bytes.Buffer
	tap.setHook(func(p []byte) []byte { wire.Write(p); return p })
	secret := []byte("the quick brown fox jumps over the lazy dog")
	transfer(t, cc, sc, [][]byte{secret, secret})
	tap.setHook(nil)
	if bytes.Contains(wire.Bytes(), secret) {
		t.Fatal("plaintext on the wire")
	}
	frames := splitFrames(t, wire.Bytes())
	if len(frames) != 2 {
		t.Fatalf("%d frames on the wire, want 2", len(frames))
	}
	for i, f := range frames {
		if f.Flags != 0 || !bytes.HasPrefix(f.Body, []byte("\x07MESSAGE")) {
			t.Fatalf("frame %d: flags %#x body % x…", i, f.Flags, f.Body[:8])
		}
		if n := f.Body[8:16]; !bytes.Equal(n, []byte{0, 0, 0, 0, 0, 0, 0, byte(3 + i)}) {
			t.Fatalf("frame %d nonce % x, want %d", i, n, 3+i)
		}
		if len(f.Body) != minMessageSize+len(secret) {
			t.Fatalf("frame %d: %d bytes", i, len(f.Body))
		}
	}
}

func TestAuthorize(t *testing.T) {
	t.Run("accept", func(t *testing.T) {
		c, s := pipePair(t)
		client, server := mechPair(t)
		var called atomic.Int32
		server.Authorize = func(key [KeySize]byte, md zmtp.Metadata) error {
			called.Add(1)
			if key != client.Key.Public {
				return fmt.Errorf("unexpected key %x", key)
			}
			if id, _ := md.Get(zmtp.PropIdentity); !bytes.Equal(id, dealerIdentity(1)) {
				return fmt.Errorf("identity %x", id)
			}
			return nil
		}
		_, _, cerr, serr := handshakePair(t, c, s, client, server)
		if cerr != nil || serr != nil || called.Load() != 1 {
			t.Fatalf("client %v, server %v, Authorize called %d times", cerr, serr, called.Load())
		}
	})
	for _, transport := range []string{"pipe", "tcp"} {
		t.Run("reject/"+transport, func(t *testing.T) {
			var c, s net.Conn
			if transport == "pipe" {
				c, s = pipePair(t)
			} else {
				c, s = tcpPair(t)
			}
			client, server := mechPair(t)
			denied := errors.New("not on the list")
			server.Authorize = func([KeySize]byte, zmtp.Metadata) error { return denied }
			start := time.Now()
			_, _, cerr, serr := handshakePair(t, c, s, client, server)
			var ae *AuthError
			if !errors.Is(serr, ErrUnauthorized) || !errors.As(serr, &ae) || ae.Key != client.Key.Public || !errors.Is(serr, denied) {
				t.Errorf("server err = %v, want *AuthError for the client key wrapping %v", serr, denied)
			}
			var pe *zmtp.PeerError
			if !errors.Is(cerr, ErrRejected) || !errors.As(cerr, &pe) || pe.Reason != "400" {
				t.Errorf("client err = %v, want ErrRejected with reason 400", cerr)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("rejection took %v", el)
			}
			t.Logf("client: %v\nserver: %v", cerr, serr)
		})
	}
}

func TestWrongServerKey(t *testing.T) {
	for _, transport := range []string{"pipe", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			var c, s net.Conn
			if transport == "pipe" {
				c, s = pipePair(t)
			} else {
				c, s = tcpPair(t)
			}
			client, server := mechPair(t)
			client.ServerKey = testKey(t, 9).Public
			_, _, cerr, serr := handshakePair(t, c, s, client, server)
			if !errors.Is(serr, ErrCrypto) || !strings.Contains(serr.Error(), "HELLO") {
				t.Errorf("server err = %v, want ErrCrypto about HELLO", serr)
			}
			if !errors.Is(cerr, ErrServerGone) {
				t.Errorf("client err = %v, want ErrServerGone", cerr)
			}
			t.Logf("client: %v\nserver: %v", cerr, serr)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	good := testKey(t, 1)
	bad := good
	bad.Public[0] ^= 1
	tests := []struct {
		name string
		mech zmtp.Mechanism
	}{
		{"client no server key", &Client{Key: good}},
		{"client no key", &Client{ServerKey: good.Public}},
		{"client mismatched key", &Client{Key: bad, ServerKey: good.Public}},
		{"server no key", &Server{}},
		{"server mismatched key", &Server{Key: bad}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := tt.mech.Handshake(t.Context(), &fakeHC{}, nil)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

// TestPeerKeyCannotBeInjected sends PropPeerKey in the client's metadata:
// the server must drop it and report the proven key. A NULL peer cannot
// forge it either.
func TestPeerKeyCannotBeInjected(t *testing.T) {
	client, server := mechPair(t)
	other := testKey(t, 7)
	forged := append(other.Public[:], make([]byte, peerKeyTagSize)...)

	c, s := pipePair(t)
	cfg := zmtp.Config{SocketType: zmtp.SocketDealer, Identity: dealerIdentity(1), Mechanism: client,
		Metadata: zmtp.Metadata{{Name: "curve-peer-KEY", Value: forged}, {Name: PropPeerKey, Value: other.Public[:]}}}
	type result struct {
		c   *zmtp.Conn
		err error
	}
	resc := make(chan result, 1)
	dial := func(nc net.Conn) {
		cc, err := zmtp.Handshake(t.Context(), nc, cfg)
		resc <- result{cc, err}
	}
	go dial(c)
	sc, err := zmtp.Handshake(t.Context(), s, zmtp.Config{SocketType: zmtp.SocketRouter, Mechanism: server})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if r := <-resc; r.err != nil {
		t.Fatal(r.err)
	} else {
		defer r.c.Close()
	}
	n := 0
	for _, p := range sc.PeerMetadata() {
		if strings.EqualFold(p.Name, PropPeerKey) {
			n++
		}
	}
	if k, ok := PeerKey(sc.PeerMetadata()); n != 1 || !ok || k != client.Key.Public {
		t.Fatalf("PeerKey = %x, %v with %d properties; want the client's key once", k, ok, n)
	}

	// On a NULL connection the property passes through, but PeerKey
	// refuses it.
	c2, s2 := pipePair(t)
	cfg.Mechanism = nil
	go dial(c2)
	sc2, err := zmtp.Handshake(t.Context(), s2, zmtp.Config{SocketType: zmtp.SocketRouter})
	if err != nil {
		t.Fatal(err)
	}
	defer sc2.Close()
	if r := <-resc; r.err != nil {
		t.Fatal(r.err)
	} else {
		defer r.c.Close()
	}
	if k, ok := PeerKey(sc2.PeerMetadata()); ok {
		t.Fatalf("PeerKey accepted a forged property on a NULL connection: %x", k)
	}
}

func TestPingPongBoxed(t *testing.T) {
	c, s := pipePair(t)
	tap := &tapConn{Conn: s}
	client, server := mechPair(t)
	ctx := t.Context()
	errc := make(chan error, 1)
	var sc *zmtp.Conn
	go func() {
		var err error
		sc, err = zmtp.Handshake(ctx, tap, zmtp.Config{SocketType: zmtp.SocketRouter, Mechanism: server,
			HeartbeatInterval: 10 * time.Millisecond, HeartbeatTimeout: 5 * time.Second})
		errc <- err
	}()
	cc, err := zmtp.Handshake(ctx, c, zmtp.Config{SocketType: zmtp.SocketDealer, Identity: dealerIdentity(1), Mechanism: client})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	var wire bytes.Buffer
	var wmu = make(chan struct{}, 1)
	wmu <- struct{}{}
	tap.setHook(func(p []byte) []byte {
		<-wmu
		wire.Write(p)
		wmu <- struct{}{}
		return p
	})
	// The client answers PINGs inside Recv; the server reads the PONGs.
	go func() {
		for {
			if _, err := cc.Recv(); err != nil {
				return
			}
		}
	}()
	srvErr := make(chan error, 1)
	go func() {
		for {
			if _, err := sc.Recv(); err != nil {
				srvErr <- err
				return
			}
		}
	}()
	// Drive the server's heartbeat: it PINGs, the client PONGs.
	deadline := time.Now().Add(5 * time.Second)
	for cc.Stats().PingsReceived < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("client answered %d PINGs", cc.Stats().PingsReceived)
		}
		if err := sc.Heartbeat(time.Now()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Every PING from the server went out as a MESSAGE data frame.
	<-wmu
	frames := splitFrames(t, wire.Bytes())
	wmu <- struct{}{}
	if len(frames) < 3 {
		t.Fatalf("%d frames captured", len(frames))
	}
	for i, f := range frames {
		if f.Flags != 0 || !bytes.HasPrefix(f.Body, []byte(messagePrefix)) {
			t.Fatalf("frame %d on the wire: flags %#x, body % x", i, f.Flags, f.Body[:min(len(f.Body), 8)])
		}
	}
	// A PONG (boxed) came back: the server saw traffic after its PINGs
	// and did not time out.
	if err := sc.Heartbeat(time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-srvErr:
		t.Fatalf("server Recv: %v", err)
	default:
	}
}
