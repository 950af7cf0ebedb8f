package curve

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/zmtp"
)

// codecPair returns a client-side and a server-side codec sharing a key,
// in the state right after a handshake.
func codecPair() (client, server *codec) {
	var key [32]byte
	for i := range key {
		key[i] = byte(i + 1)
	}
	return newCodec(&key, true, 3, 1), newCodec(&key, false, 2, 2)
}

// encodeFrame returns the wire frame (header and body) and its parsed form.
func encodeFrame(t testing.TB, c *codec, flags zmtp.Flags, body []byte) ([]byte, zmtp.Frame) {
	t.Helper()
	wire, err := c.AppendEncoded(nil, flags, body)
	if err != nil {
		t.Fatal(err)
	}
	f, n, err := zmtp.ParseFrame(wire, -1)
	if err != nil || n != len(wire) {
		t.Fatalf("ParseFrame: %v (%d of %d bytes)", err, n, len(wire))
	}
	return wire, f
}

func TestCodecRoundTrip(t *testing.T) {
	cli, srv := codecPair()
	for _, tc := range []struct {
		flags zmtp.Flags
		body  []byte
	}{
		{0, nil},
		{zmtp.FlagMore, []byte("x")},
		{zmtp.FlagCommand, []byte("\x04PING\x00\x00")},
		{0, pattern(255, 1)},
		{zmtp.FlagMore, pattern(256, 2)},
		{0, pattern(scratchMax, 3)},
		{0, pattern(scratchMax+1, 4)},
		{0, pattern(1<<20, 5)},
	} {
		for _, dir := range []struct{ enc, dec *codec }{{cli, srv}, {srv, cli}} {
			_, f := encodeFrame(t, dir.enc, tc.flags, tc.body)
			if f.Flags&^zmtp.FlagLong != 0 || (len(f.Body) > 255) != (f.Flags&zmtp.FlagLong != 0) {
				t.Fatalf("outer flags %#x for %d bytes", f.Flags, len(f.Body))
			}
			if len(f.Body) != minMessageSize+len(tc.body) {
				t.Fatalf("MESSAGE of %d bytes for a %d-byte frame", len(f.Body), len(tc.body))
			}
			flags, body, err := dir.dec.Decode(f.Flags, f.Body)
			if err != nil {
				t.Fatal(err)
			}
			if flags != tc.flags || !bytes.Equal(body, tc.body) {
				t.Fatalf("decoded flags %#x, %d bytes; want %#x, %d bytes", flags, len(body), tc.flags, len(tc.body))
			}
		}
	}
}

// TestCodecDirection checks that a codec cannot open its own frames: the
// nonce prefixes differ per direction, so a reflected frame fails.
func TestCodecDirection(t *testing.T) {
	cli, _ := codecPair()
	_, f := encodeFrame(t, cli, 0, []byte("reflect me"))
	cli2, _ := codecPair()
	cli2.recvLast = 0
	if _, _, err := cli2.Decode(f.Flags, f.Body); !errors.Is(err, ErrCrypto) {
		t.Fatalf("reflected frame: %v, want ErrCrypto", err)
	}
}

// TestCodecTamper flips every bit of a MESSAGE frame: each flip must be
// refused, and must not move the nonce window (the original still opens).
func TestCodecTamper(t *testing.T) {
	cli, _ := codecPair()
	wire, _ := encodeFrame(t, cli, zmtp.FlagMore, []byte("tamper"))
	for bit := range len(wire) * 8 {
		_, srv := codecPair()
		bad := bytes.Clone(wire)
		bad[bit/8] ^= 1 << (bit % 8)
		f, n, err := zmtp.ParseFrame(bad, -1)
		if err != nil || n != len(bad) {
			continue // the frame layer refuses it (reserved flag, size)
		}
		if _, _, err := srv.Decode(f.Flags, f.Body); err == nil {
			t.Fatalf("bit %d flipped: frame accepted", bit)
		}
		f, _, _ = zmtp.ParseFrame(bytes.Clone(wire), -1)
		if _, body, err := srv.Decode(f.Flags, f.Body); err != nil || string(body) != "tamper" {
			t.Fatalf("bit %d: the original no longer opens after a tampered copy: %v", bit, err)
		}
	}
}

func TestCodecReplayAndReorder(t *testing.T) {
	cli, srv := codecPair()
	var frames []zmtp.Frame
	for i := range 3 {
		_, f := encodeFrame(t, cli, 0, []byte{byte(i)})
		frames = append(frames, f)
	}
	dec := func(f zmtp.Frame) error {
		_, _, err := srv.Decode(f.Flags, bytes.Clone(f.Body))
		return err
	}
	if err := dec(frames[0]); err != nil {
		t.Fatal(err)
	}
	if err := dec(frames[0]); !errors.Is(err, ErrNonce) {
		t.Fatalf("replay: %v, want ErrNonce", err)
	}
	if err := dec(frames[2]); err != nil { // gaps are allowed
		t.Fatal(err)
	}
	if err := dec(frames[1]); !errors.Is(err, ErrNonce) {
		t.Fatalf("reorder: %v, want ErrNonce", err)
	}
	// The client's first MESSAGE nonce (3) must be above INITIATE's (2).
	_, srv2 := codecPair()
	cli2, _ := codecPair()
	cli2.sendNext = 2
	_, f := encodeFrame(t, cli2, 0, []byte("x"))
	if _, _, err := srv2.Decode(f.Flags, f.Body); !errors.Is(err, ErrNonce) {
		t.Fatalf("nonce equal to INITIATE's: %v, want ErrNonce", err)
	}
}

func TestCodecNonceExhausted(t *testing.T) {
	cli, srv := codecPair()
	cli.sendNext = math.MaxUint64
	_, f := encodeFrame(t, cli, 0, []byte("last"))
	if _, _, err := srv.Decode(f.Flags, f.Body); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AppendEncoded(nil, 0, []byte("one too many")); !errors.Is(err, ErrNonce) {
		t.Fatalf("after the last nonce: %v, want ErrNonce", err)
	}
}

func TestCodecRejectsOtherFrames(t *testing.T) {
	cli, _ := codecPair()
	_, good := encodeFrame(t, cli, 0, []byte("ok"))
	tests := []struct {
		name  string
		flags zmtp.Flags
		body  []byte
	}{
		{"plain data", 0, []byte("hello")},
		{"plain PING", zmtp.FlagCommand, []byte("\x04PING\x00\x00")},
		{"plain ERROR", zmtp.FlagCommand, []byte("\x05ERROR\x03bye")},
		{"short MESSAGE", 0, good.Body[:minMessageSize-1]},
		{"MESSAGE as command", zmtp.FlagCommand, good.Body},
		{"MESSAGE with MORE", zmtp.FlagMore, good.Body},
		{"empty", 0, nil},
	}
	for _, tt := range tests {
		_, srv := codecPair()
		if _, _, err := srv.Decode(tt.flags, bytes.Clone(tt.body)); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", tt.name, err)
		}
	}
}

func TestCodecAllocations(t *testing.T) {
	cli, srv := codecPair()
	body := pattern(1024, 1)
	dst := make([]byte, 0, 4096)
	wire := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		wire, err = cli.AppendEncoded(dst[:0], zmtp.FlagMore, body)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendEncoded: %v allocations per frame", allocs)
	}
	if len(wire) == 0 {
		t.Fatal("nothing encoded")
	}
	cli2, _ := codecPair()
	frames := make([][]byte, 101)
	for i := range frames {
		_, fr := encodeFrame(t, cli2, 0, body)
		frames[i] = fr.Body
	}
	i := 0
	allocs = testing.AllocsPerRun(100, func() {
		if _, _, err := srv.Decode(0, frames[i]); err != nil {
			t.Fatal(err)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("Decode: %v allocations per frame", allocs)
	}
}

// e2ePair sets up a handshaked DEALER (client) and ROUTER (server) over
// net.Pipe with a tap on the client's writes.
func e2ePair(t *testing.T) (tap *tapConn, raw, srvNC net.Conn, cc, sc *zmtp.Conn) {
	c, s := pipePair(t)
	tap = &tapConn{Conn: c}
	client, server := mechPair(t)
	cc, sc, cerr, serr := handshakePair(t, tap, s, client, server)
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: %v, %v", cerr, serr)
	}
	return tap, c, s, cc, sc
}

// capture sends msg through the client and returns the bytes it wrote,
// without delivering them.
func capture(t *testing.T, tap *tapConn, cc *zmtp.Conn, msg [][]byte) []byte {
	t.Helper()
	var mu sync.Mutex
	var got []byte
	tap.setHook(func(p []byte) []byte {
		mu.Lock()
		got = append(got, p...)
		mu.Unlock()
		return nil
	})
	if err := cc.Send(msg); err != nil {
		t.Fatal(err)
	}
	if err := cc.Flush(); err != nil {
		t.Fatal(err)
	}
	tap.setHook(nil)
	mu.Lock()
	defer mu.Unlock()
	return got
}

// deliver writes raw bytes to the server and returns what its Recv says.
func deliver(t *testing.T, raw, srvNC net.Conn, sc *zmtp.Conn, b []byte) ([][]byte, error) {
	t.Helper()
	go func() { _, _ = raw.Write(b) }()
	return recvTimeout(srvNC, sc, 5*time.Second)
}

func TestEndToEndTamper(t *testing.T) {
	// One connection per flipped bit; skip the size byte and the LONG bit,
	// which change the framing (the reader would wait for more bytes).
	msgLen := 2 + minMessageSize + 5
	for bit := range msgLen * 8 {
		if bit/8 == 1 || bit == 1 {
			continue
		}
		t.Run("", func(t *testing.T) {
			tap, raw, srvNC, cc, sc := e2ePair(t)
			wire := capture(t, tap, cc, [][]byte{[]byte("hello")})
			if len(wire) != msgLen {
				t.Fatalf("captured %d bytes, want %d", len(wire), msgLen)
			}
			wire[bit/8] ^= 1 << (bit % 8)
			msg, err := deliver(t, raw, srvNC, sc, wire)
			if err == nil {
				t.Fatalf("bit %d flipped: delivered %q", bit, msg)
			}
			if isTimeout(err) {
				t.Fatalf("bit %d flipped: no error, just silence", bit)
			}
			// The connection is closed: nothing more comes through.
			if _, err2 := sc.Recv(); err2 == nil {
				t.Fatalf("bit %d: connection still usable", bit)
			}
		})
	}
}

func TestEndToEndReplay(t *testing.T) {
	tap, raw, srvNC, cc, sc := e2ePair(t)
	wire := capture(t, tap, cc, [][]byte{[]byte("once")})
	msg, err := deliver(t, raw, srvNC, sc, wire)
	if err != nil || string(msg[0]) != "once" {
		t.Fatalf("first delivery: %q, %v", msg, err)
	}
	_, err = deliver(t, raw, srvNC, sc, wire)
	if !errors.Is(err, ErrNonce) {
		t.Fatalf("replay: %v, want ErrNonce", err)
	}
	t.Logf("replay: %v", err)
}

func TestEndToEndReorder(t *testing.T) {
	tap, raw, srvNC, cc, sc := e2ePair(t)
	first := capture(t, tap, cc, [][]byte{[]byte("first")})
	second := capture(t, tap, cc, [][]byte{[]byte("second")})
	msg, err := deliver(t, raw, srvNC, sc, second)
	if err != nil || string(msg[0]) != "second" {
		t.Fatalf("second: %q, %v", msg, err)
	}
	_, err = deliver(t, raw, srvNC, sc, first)
	if !errors.Is(err, ErrNonce) {
		t.Fatalf("reordered: %v, want ErrNonce", err)
	}
	t.Logf("reorder: %v", err)
}

// TestEndToEndPlaintextInjection sends an unencrypted message and an
// unencrypted PING after the handshake: both close the connection.
func TestEndToEndPlaintextInjection(t *testing.T) {
	for _, frame := range [][]byte{
		zmtp.AppendFrame(nil, 0, []byte("plain")),
		zmtp.AppendFrame(nil, zmtp.FlagCommand, []byte("\x04PING\x00\x00")),
		zmtp.AppendFrame(nil, zmtp.FlagCommand, []byte("\x05ERROR\x04spam")),
	} {
		_, raw, srvNC, _, sc := e2ePair(t)
		if _, err := deliver(t, raw, srvNC, sc, frame); !errors.Is(err, ErrProtocol) {
			t.Fatalf("injected % x: %v, want ErrProtocol", frame, err)
		}
	}
}

// TestMaxMessageSizeIsOnPlaintext checks that MaxMessageSize bounds what
// the application gets, not the boxes: a message of exactly the limit
// passes, one byte more (over several frames) closes the connection.
func TestMaxMessageSizeIsOnPlaintext(t *testing.T) {
	const limit = 1000
	sk, ck := testKey(t, 1), testKey(t, 2)
	for _, tc := range []struct {
		name   string
		frames []int
		ok     bool
	}{
		{"one frame at the limit", []int{limit}, true},
		{"two frames at the limit", []int{600, 400}, true},
		{"one frame over", []int{limit + 1}, false},
		{"two frames over", []int{600, 401}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := tcpPair(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var sc *zmtp.Conn
			var serr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				sc, serr = zmtp.Handshake(ctx, s, zmtp.Config{SocketType: zmtp.SocketRouter, Mechanism: &Server{Key: sk}, MaxMessageSize: limit})
			}()
			cc, err := zmtp.Handshake(ctx, c, zmtp.Config{SocketType: zmtp.SocketDealer, Identity: dealerIdentity(1), Mechanism: &Client{Key: ck, ServerKey: sk.Public}})
			<-done
			if err != nil || serr != nil {
				t.Fatal(err, serr)
			}
			defer cc.Close()
			defer sc.Close()
			var msg [][]byte
			for _, n := range tc.frames {
				msg = append(msg, make([]byte, n))
			}
			if err := cc.Send(msg); err != nil {
				t.Fatal(err)
			}
			if err := cc.Flush(); err != nil {
				t.Fatal(err)
			}
			got, err := sc.Recv()
			if tc.ok {
				if err != nil || len(got) != len(tc.frames) {
					t.Fatalf("Recv = %d frames, %v", len(got), err)
				}
				return
			}
			if !errors.Is(err, zmtp.ErrTooLarge) {
				t.Fatalf("Recv = %d frames, %v; want ErrTooLarge", len(got), err)
			}
		})
	}
}
