package zmtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gozyre/zyre/internal/vectors"
)

func loadVectors(t *testing.T) *vectors.Set { return vectors.Load(t) }

// greetingBytes is a NULL (or other) greeting as libzmq would send it.
func greetingBytes(t testing.TB, mech string, minor byte) []byte {
	return mustGreeting(t, Greeting{Padding: 1, Major: 3, Minor: minor, Mechanism: mech})
}

// commandFrame encodes a command frame.
func commandFrame(t testing.TB, name string, data []byte) []byte {
	t.Helper()
	body, err := AppendCommand(nil, name, data)
	if err != nil {
		t.Fatal(err)
	}
	return AppendFrame(nil, FlagCommand, body)
}

// readyFrame encodes a READY command with the given properties.
func readyFrame(t testing.TB, props ...string) []byte {
	t.Helper()
	var md Metadata
	for i := 0; i+1 < len(props); i += 2 {
		md = append(md, Property{Name: props[i], Value: []byte(props[i+1])})
	}
	data, err := AppendMetadata(nil, md)
	if err != nil {
		t.Fatal(err)
	}
	return commandFrame(t, CommandReady, data)
}

// rawPeer is the far end of a net.Pipe driven by a test: it writes raw
// bytes and collects everything our side sends.
type rawPeer struct {
	c    net.Conn
	mu   sync.Mutex
	got  bytes.Buffer
	done chan struct{}
}

func newRawPeer(t testing.TB) (ours net.Conn, p *rawPeer) {
	a, b := net.Pipe()
	p = &rawPeer{c: b, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := b.Read(buf)
			p.mu.Lock()
			p.got.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		a.Close()
		b.Close()
		<-p.done
	})
	return a, p
}

// write sends b in the background (net.Pipe writes block until read).
func (p *rawPeer) write(b []byte) {
	go func() { _, _ = p.c.Write(b) }()
}

func (p *rawPeer) received() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.got.Bytes())
}

func routerCfg() Config { return Config{SocketType: SocketRouter} }

func dealerCfg() Config { return Config{SocketType: SocketDealer, Identity: testIdentity()} }

func TestHandshakePair(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := Handshake(ctx, b, routerCfg())
		ch <- res{c, err}
	}()
	dcfg := dealerCfg()
	dcfg.Metadata = Metadata{{Name: "X-Hello", Value: []byte("world")}}
	d, err := Handshake(ctx, a, dcfg)
	if err != nil {
		t.Fatal(err)
	}
	rr := <-ch
	if rr.err != nil {
		t.Fatal(rr.err)
	}
	r := rr.c
	if !bytes.Equal(r.PeerIdentity(), testIdentity()) || r.PeerSocketType() != SocketDealer || r.PeerMinor() != 1 {
		t.Fatalf("router sees identity %x type %q minor %d", r.PeerIdentity(), r.PeerSocketType(), r.PeerMinor())
	}
	if v, _ := r.PeerMetadata().Get("x-hello"); string(v) != "world" {
		t.Fatalf("X-Hello %q", v)
	}
	if d.PeerIdentity() != nil || d.PeerSocketType() != SocketRouter || d.PeerGreeting().Padding != 1 {
		t.Fatalf("dealer sees identity %x type %q greeting %+v", d.PeerIdentity(), d.PeerSocketType(), d.PeerGreeting())
	}
	if r.PeerGreeting().Padding != 18 {
		t.Fatalf("padding %d, want identity length + 1", r.PeerGreeting().Padding)
	}
	// Messages both ways; Send buffers until Flush.
	go func() {
		_ = d.Send([][]byte{[]byte("a"), {}, []byte("c")})
		_ = d.Flush()
	}()
	msg, err := r.Recv()
	if err != nil || len(msg) != 3 || string(msg[0]) != "a" || len(msg[1]) != 0 || string(msg[2]) != "c" {
		t.Fatalf("recv %q %v", msg, err)
	}
	if err := r.Send(nil); !errors.Is(err, ErrEmptyMessage) {
		t.Fatal(err)
	}
	d.Close()
	if _, err := r.Recv(); err != io.EOF {
		t.Fatalf("after peer close: %v", err)
	}
	if _, err := d.Recv(); !errors.Is(err, ErrClosed) {
		t.Fatalf("after own close: %v", err)
	}
	if err := d.Send([][]byte{{1}}); err != nil {
		// Buffered: may or may not fail yet; Flush must.
		t.Log(err)
	}
	if err := d.Flush(); !errors.Is(err, ErrClosed) {
		t.Fatalf("flush after close: %v", err)
	}
}

func TestHandshakeConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{SocketType: "PUB"},
		{SocketType: SocketDealer, Identity: []byte{0, 1}},
		{SocketType: SocketDealer, Identity: make([]byte, 256)},
		{SocketType: SocketDealer, HeartbeatInterval: -1},
	} {
		a, b := net.Pipe()
		_, err := Handshake(context.Background(), a, cfg)
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
		// a was closed by Handshake.
		if _, err := b.Write([]byte{1}); err == nil {
			t.Error("connection left open")
		}
		b.Close()
	}
}

// TestHandshakeBadInput feeds malformed peer input to Handshake.
func TestHandshakeBadInput(t *testing.T) {
	good := greetingBytes(t, "NULL", 1)
	ready := readyFrame(t, "Socket-Type", "DEALER", "Identity", "\x01abc")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name  string
		in    []byte
		close bool // peer closes after writing
		want  error
	}{
		{"wrong signature", []byte("GET / HTTP/1.0\r\n\r\n" + strings.Repeat(" ", 60)), false, ErrBadSignature},
		{"major 2", func() []byte { b := bytes.Clone(good); b[10] = 2; return b }(), false, ErrVersion},
		{"zmtp 2 greeting", []byte("\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x01\x05"), false, ErrVersion},
		{"mechanism mismatch", greetingBytes(t, "PLAIN", 1), false, ErrMechanismMismatch},
		{"garbage mechanism", func() []byte { b := bytes.Clone(good); b[20] = 'Z'; return b }(), false, ErrBadGreeting},
		{"garbage", bytes.Repeat([]byte{0xA5}, 200), false, ErrBadSignature},
		{"truncated greeting", good[:40], true, io.ErrUnexpectedEOF},
		{"nothing", nil, true, io.ErrUnexpectedEOF},
		{"data frame instead of READY", cat(good, AppendFrame(nil, 0, []byte("hi"))), false, ErrUnexpectedCommand},
		{"other command instead of READY", cat(good, commandFrame(t, "HELLO", nil)), false, ErrUnexpectedCommand},
		{"READY truncated properties", cat(good, commandFrame(t, CommandReady, unhex(t, "0b536f636b65742d54797065000000"))), false, ErrBadMetadata},
		{"READY value past end", cat(good, commandFrame(t, CommandReady, unhex(t, "01 41 00000009 4142"))), false, ErrBadMetadata},
		{"command with MORE", cat(good, []byte{0x05, 0x06}, []byte("\x05READY")), false, ErrBadFrame},
		{"bad flags", cat(good, []byte{0x44, 0x00}), false, ErrBadFrame},
		{"oversize READY 2^63", cat(good, unhex(t, "06 8000000000000000")), false, ErrTooLarge},
		{"empty command name", cat(good, AppendFrame(nil, FlagCommand, []byte{0})), false, ErrBadCommand},
		{"wrong socket type", cat(good, readyFrame(t, "Socket-Type", "PUB")), false, ErrSocketType},
		{"identity too long", cat(good, readyFrame(t, "Socket-Type", "DEALER", "Identity", "\x01"+strings.Repeat("i", 255))), false, ErrBadMetadata},
		{"no socket type", cat(good, readyFrame(t, "Identity", "x")), false, ErrSocketType},
		{"ERROR from peer", cat(good, commandFrame(t, CommandError, appendErrorData(nil, "go away"))), false, ErrPeer},
		{"truncated READY", cat(good, ready[:10]), true, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, p := newRawPeer(t)
			go func() {
				_, _ = p.c.Write(tc.in)
				if tc.close {
					p.c.Close()
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Handshake(ctx, ours, routerCfg())
			if err == nil {
				c.Close()
				t.Fatal("handshake succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			var pe *PeerError
			if errors.As(err, &pe) && pe.Reason != "go away" {
				t.Fatalf("reason %q", pe.Reason)
			}
			if tc.want == ErrSocketType && strings.Contains(tc.name, "wrong") {
				// We told the peer why, with an ERROR command after our READY.
				<-p.done
				got := p.received()
				r := NewFrameReader(bytes.NewReader(got[GreetingSize:]), 0, 0)
				if f, err := r.ReadFrame(); err != nil || !commandIs(f.Body, CommandReady) {
					t.Fatalf("our READY: %v", err)
				}
				f, err := r.ReadFrame()
				if err != nil || !commandIs(f.Body, CommandError) {
					t.Fatalf("our ERROR: %v %q", err, f.Body)
				}
			}
		})
	}
}

func TestHandshakeContext(t *testing.T) {
	// A peer that sends nothing: the deadline ends the handshake.
	ours, _ := newRawPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Handshake(ctx, ours, routerCfg())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	// Cancellation without a deadline.
	ours, _ = newRawPeer(t)
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = Handshake(ctx, ours, routerCfg())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	// Already cancelled.
	ours, _ = newRawPeer(t)
	if _, err := Handshake(ctx, ours, routerCfg()); !errors.Is(err, context.Canceled) {
		t.Fatalf("pre-cancelled: %v", err)
	}
}

// establish returns our Conn (ROUTER) talking to a raw peer that has
// completed the handshake as a DEALER with the given greeting minor.
func establish(t *testing.T, minor byte, cfg Config) (*Conn, *rawPeer) {
	t.Helper()
	ours, p := newRawPeer(t)
	p.write(append(greetingBytes(t, "NULL", minor), readyFrame(t, "Socket-Type", "DEALER", "Identity", "\x01peer")...))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Handshake(ctx, ours, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, p
}

// TestRecvBadInput feeds malformed input after a good handshake.
func TestRecvBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		max  int64
		want error
	}{
		{"bad flags", []byte{0x10, 0x00}, 0, ErrBadFrame},
		{"junk", []byte("\xde\xad\xbe\xef junk after handshake"), 0, ErrBadFrame},
		{"oversize declared", unhex(t, "02 0000000000100001"), 1 << 20, ErrTooLarge},
		{"declared 2^63", unhex(t, "02 8000000000000000"), 0, ErrTooLarge},
		{"declared 2^63 unlimited", unhex(t, "02 8000000000000000"), -1, ErrTooLarge},
		{"multipart over limit", append(AppendFrame(nil, FlagMore, make([]byte, 600)), AppendFrame(nil, 0, make([]byte, 600))...), 1000, ErrTooLarge},
		{"command with MORE", []byte{0x05, 0x05, 4, 'P', 'O', 'N', 'G'}, 0, ErrBadFrame},
		{"ERROR", commandFrame(t, CommandError, appendErrorData(nil, "bye")), 0, ErrPeer},
		{"short PING", commandFrame(t, CommandPing, []byte{1}), 0, ErrBadCommand},
		{"bad command body", AppendFrame(nil, FlagCommand, []byte{9, 'A'}), 0, ErrBadCommand},
		{"eof inside message", AppendFrame(nil, FlagMore, []byte("x")), 0, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := establish(t, 1, Config{SocketType: SocketRouter, MaxMessageSize: tc.max})
			go func() {
				_, _ = p.c.Write(tc.in)
				if tc.want == io.ErrUnexpectedEOF {
					p.c.Close()
				}
			}()
			_, err := c.Recv()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if _, err2 := c.Recv(); err2 == nil {
				t.Fatal("connection usable after error")
			}
			<-p.done // we closed the connection
		})
	}
}

func TestPingPongAndUnknown(t *testing.T) {
	c, p := establish(t, 1, routerCfg())
	var in []byte
	in = append(in, commandFrame(t, "SUBSCRIBE", []byte("x"))...)
	in = append(in, commandFrame(t, CommandReady, nil)...) // a second READY is ignored too
	in = append(in, commandFrame(t, CommandPing, appendPing(nil, 50, []byte("ctx-123")))...)
	in = append(in, commandFrame(t, CommandPong, []byte("whatever"))...)
	in = append(in, AppendFrame(nil, 0, []byte("data"))...)
	p.write(in)
	msg, err := c.Recv()
	if err != nil || string(msg[0]) != "data" {
		t.Fatalf("%q %v", msg, err)
	}
	st := c.Stats()
	if st.UnknownCommands != 2 || st.PingsReceived != 1 || st.BytesRead == 0 {
		t.Fatalf("stats %+v", st)
	}
	c.Close()
	<-p.done
	got := p.received()
	// Our greeting, our READY, then the PONG echoing the context.
	r := NewFrameReader(bytes.NewReader(got[GreetingSize:]), 0, 0)
	if _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	f, err := r.ReadFrame()
	if err != nil || !bytes.Equal(f.Body, []byte("\x04PONGctx-123")) {
		t.Fatalf("PONG: %q %v", f.Body, err)
	}
}

func TestHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// A 3.1 peer that reads but never answers: PING, then timeout.
		cfg := routerCfg()
		cfg.HeartbeatInterval = time.Second
		cfg.HeartbeatTimeout = 3 * time.Second
		cfg.HeartbeatTTL = 10 * time.Second
		c, p := establish(t, 1, cfg)
		start := time.Now()
		if err := c.Heartbeat(start); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		pingFrame := commandFrame(t, CommandPing, appendPing(nil, 100, nil))
		if got := p.received(); !bytes.HasSuffix(got, pingFrame) {
			t.Fatalf("no PING with TTL 100 sent: %x", got[len(got)-10:])
		}
		var err error
		for i := 1; i <= 5 && err == nil; i++ {
			time.Sleep(time.Second)
			err = c.Heartbeat(time.Now())
		}
		if !errors.Is(err, ErrHeartbeatTimeout) || time.Since(start) != 3*time.Second {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}

		// Traffic keeps the connection alive; PINGs keep going out.
		c2, p2 := establish(t, 1, cfg)
		go func() {
			for {
				if _, err := c2.Recv(); err != nil {
					return
				}
			}
		}()
		for range 10 {
			if err := c2.Heartbeat(time.Now()); err != nil {
				t.Fatal(err)
			}
			p2.write(commandFrame(t, CommandPong, nil))
			synctest.Wait()
			time.Sleep(time.Second)
		}
		if n := bytes.Count(p2.received(), pingFrame); n < 5 {
			t.Fatalf("%d PINGs sent", n)
		}

		// ZMTP 3.0 peers get no PINGs and no timeout.
		c3, p3 := establish(t, 0, cfg)
		for range 10 {
			if err := c3.Heartbeat(time.Now()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
		}
		synctest.Wait()
		if bytes.Contains(p3.received(), []byte("\x04PING")) {
			t.Fatal("PING sent to a 3.0 peer")
		}

		// The TTL a peer announces is enforced even with our heartbeats off.
		c4, p4 := establish(t, 1, routerCfg())
		p4.write(commandFrame(t, CommandPing, appendPing(nil, 20, nil))) // 2 s
		go func() { _, _ = c4.Recv() }()
		synctest.Wait()
		_ = c4.Heartbeat(time.Now())
		time.Sleep(1500 * time.Millisecond)
		if err := c4.Heartbeat(time.Now()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if err := c4.Heartbeat(time.Now()); !errors.Is(err, ErrHeartbeatTimeout) {
			t.Fatalf("TTL: %v", err)
		}
	})
}

// TestStagedPeer replays what a libzmq DEALER sent to a bare listener,
// stage by stage, against our Router: signature, wait for our greeting,
// the rest plus READY, wait for our READY, then HELLO.
func TestStagedPeer(t *testing.T) {
	set := loadVectors(t)
	stage1 := set.Read(t, "zmtp/staged/stage1_before_our_greeting.bin")
	stage2 := set.Read(t, "zmtp/staged/stage2_after_our_greeting.bin")
	stage3 := set.Read(t, "zmtp/staged/stage3_after_our_ready.bin")
	routerReady := set.Read(t, "zmtp/router_ready.bin")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRouter(ln, RouterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	if _, err := nc.Write(stage1); err != nil {
		t.Fatal(err)
	}
	// Our Router must send its whole greeting without waiting for more.
	greet := make([]byte, GreetingSize)
	if _, err := io.ReadFull(br, greet); err != nil {
		t.Fatal(err)
	}
	g, _, err := ParseGreeting(greet)
	if err != nil || g.Mechanism != "NULL" || g.Minor != 1 || g.AsServer {
		t.Fatalf("our greeting %+v %v", g, err)
	}
	if _, err := nc.Write(stage2); err != nil {
		t.Fatal(err)
	}
	ready := make([]byte, len(routerReady))
	if _, err := io.ReadFull(br, ready); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ready, routerReady) {
		t.Fatalf("our READY %x\nlibzmq's  %x", ready, routerReady)
	}
	if _, err := nc.Write(stage3); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := r.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantID := unhex(t, "01c28d12e82b6d429895f31598c7687314")
	if !bytes.Equal(m.Identity, wantID) {
		t.Fatalf("identity %x", m.Identity)
	}
	if len(m.Frames) != 1 || !bytes.Equal(m.Frames[0], stage3[2:]) {
		t.Fatalf("frames %x", m.Frames)
	}
	if m.Frames[0][0] != 0xAA || m.Frames[0][1] != 0xA1 || m.Frames[0][2] != 1 {
		t.Fatal("not a ZRE HELLO")
	}
}
