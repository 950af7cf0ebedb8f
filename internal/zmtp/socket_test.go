package zmtp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// listenLoopback listens on 127.0.0.1 (or ::1 when that is all there is).
func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln, err = net.Listen("tcp", "[::1]:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func startRouter(t testing.TB, cfg RouterConfig) *Router {
	t.Helper()
	r, err := NewRouter(listenLoopback(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func dialTo(addr net.Addr) func(ctx context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr.String())
	}
}

func startDealer(t testing.TB, cfg DealerConfig) *Dealer {
	t.Helper()
	d, err := NewDealer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func waitReady(t testing.TB, d *Dealer) {
	t.Helper()
	select {
	case <-d.Ready():
	case <-d.Done():
		t.Fatalf("dealer failed: %v", d.Err())
	case <-time.After(10 * time.Second):
		t.Fatal("dealer not ready")
	}
}

func recvTimeout(t testing.TB, r *Router) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := r.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDealerRouter(t *testing.T) {
	r := startRouter(t, RouterConfig{})
	id := testIdentity()
	d := startDealer(t, DealerConfig{Conn: Config{Identity: id}, Dial: dialTo(r.Addr())})
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789ABCDEF"), (4<<20)/16)
	msgs := [][][]byte{
		{{}},
		{bytes.Repeat([]byte{1}, 255)},
		{bytes.Repeat([]byte{2}, 256)},
		{big},
		{[]byte("multi"), {}, bytes.Repeat([]byte{3}, 255), bytes.Repeat([]byte{4}, 256), big[:100000], []byte("end")},
	}
	// Queued before the handshake completes, sent after.
	for _, m := range msgs {
		if err := d.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, d)
	for i, want := range msgs {
		m := recvTimeout(t, r)
		if !bytes.Equal(m.Identity, id) {
			t.Fatalf("message %d identity %x", i, m.Identity)
		}
		if len(m.Frames) != len(want) {
			t.Fatalf("message %d: %d frames, want %d", i, len(m.Frames), len(want))
		}
		for j := range want {
			if !bytes.Equal(m.Frames[j], want[j]) {
				t.Fatalf("message %d frame %d: %d bytes, want %d", i, j, len(m.Frames[j]), len(want[j]))
			}
		}
	}
	if c := d.Conn(); c == nil || c.PeerSocketType() != SocketRouter {
		t.Fatal("dealer Conn accessors")
	}
	if n, ok := r.BytesReceived(id); !ok || n < uint64(len(big)) {
		t.Fatalf("BytesReceived %d %v", n, ok)
	}
	if st := r.Stats(); st.Accepted != 1 || st.Active != 1 || st.Messages != uint64(len(msgs)) {
		t.Fatalf("router stats %+v", st)
	}
	if st := d.Stats(); st.Sent != uint64(len(msgs)) || st.Queued != 0 {
		t.Fatalf("dealer stats %+v", st)
	}
	if err := d.TrySend(nil); !errors.Is(err, ErrEmptyMessage) {
		t.Fatal(err)
	}
}

func TestRouterGeneratedIdentity(t *testing.T) {
	r := startRouter(t, RouterConfig{})
	var ids [][]byte
	for range 2 {
		d := startDealer(t, DealerConfig{Dial: dialTo(r.Addr())}) // no identity
		if err := d.TrySend([][]byte{[]byte("x")}); err != nil {
			t.Fatal(err)
		}
		m := recvTimeout(t, r)
		if len(m.Identity) != 5 || m.Identity[0] != 0 {
			t.Fatalf("generated identity %x", m.Identity)
		}
		ids = append(ids, m.Identity)
	}
	if bytes.Equal(ids[0], ids[1]) {
		t.Fatal("generated identities collide")
	}
}

func TestRouterHandover(t *testing.T) {
	disconnects := make(chan error, 10)
	r := startRouter(t, RouterConfig{OnDisconnect: func(id []byte, err error) { disconnects <- err }})
	id := testIdentity()
	doneErr := make(chan error, 1)
	d1 := startDealer(t, DealerConfig{
		Conn:   Config{Identity: id},
		Dial:   dialTo(r.Addr()),
		OnDone: func(err error) { doneErr <- err },
	})
	_ = d1.TrySend([][]byte{[]byte("one")})
	if m := recvTimeout(t, r); string(m.Frames[0]) != "one" {
		t.Fatalf("%q", m.Frames[0])
	}
	d2 := startDealer(t, DealerConfig{Conn: Config{Identity: id}, Dial: dialTo(r.Addr())})
	_ = d2.TrySend([][]byte{[]byte("two")})
	if m := recvTimeout(t, r); string(m.Frames[0]) != "two" || !bytes.Equal(m.Identity, id) {
		t.Fatalf("%q", m.Frames[0])
	}
	// The old connection was closed by the Router: its Dealer notices.
	select {
	case err := <-doneErr:
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
			t.Logf("old dealer stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("old dealer not told")
	}
	if d1.Err() == nil {
		t.Fatal("old dealer still running")
	}
	select {
	case err := <-disconnects:
		if !errors.Is(err, ErrHandover) {
			t.Fatalf("disconnect reason %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no OnDisconnect")
	}
	if st := r.Stats(); st.Handovers != 1 || st.Active != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The new connection keeps working.
	_ = d2.TrySend([][]byte{[]byte("three")})
	if m := recvTimeout(t, r); string(m.Frames[0]) != "three" {
		t.Fatalf("%q", m.Frames[0])
	}
}

func TestDealerQueueFull(t *testing.T) {
	release := make(chan struct{})
	d := startDealer(t, DealerConfig{
		QueueLen: 2,
		Dial: func(ctx context.Context) (net.Conn, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, errors.New("no network here")
		},
	})
	msg := [][]byte{[]byte("x")}
	for range 2 {
		if err := d.TrySend(msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.TrySend(msg); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third TrySend: %v", err)
	}
	if d.Stats().Queued != 2 {
		t.Fatal("queued")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := d.Send(ctx, msg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocking Send: %v", err)
	}
	// A Send blocked on a full queue is released when the Dealer fails.
	errc := make(chan error, 1)
	go func() { errc <- d.Send(context.Background(), msg) }()
	close(release)
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after failure: %v", err)
	}
	<-d.Done()
	if err := d.Err(); err == nil || !strings.Contains(err.Error(), "no network here") {
		t.Fatalf("Err %v", err)
	}
	if err := d.TrySend(msg); !errors.Is(err, ErrClosed) {
		t.Fatalf("TrySend after failure: %v", err)
	}
}

func TestDealerDialFailureNotifies(t *testing.T) {
	ln := listenLoopback(t)
	addr := ln.Addr()
	ln.Close() // nothing listens there now
	got := make(chan error, 1)
	d := startDealer(t, DealerConfig{Dial: dialTo(addr), OnDone: func(err error) { got <- err }})
	select {
	case err := <-got:
		if err == nil || d.Err() == nil {
			t.Fatal("no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnDone not called")
	}
	if _, err := NewDealer(DealerConfig{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil Dial: %v", err)
	}
}

func TestDealerCloseNoOnDone(t *testing.T) {
	r := startRouter(t, RouterConfig{})
	var called atomic.Bool
	d := startDealer(t, DealerConfig{Dial: dialTo(r.Addr()), OnDone: func(error) { called.Store(true) }})
	waitReady(t, d)
	d.Close()
	d.Close() // idempotent
	if !errors.Is(d.Err(), ErrClosed) || called.Load() {
		t.Fatalf("Err %v, OnDone called %v", d.Err(), called.Load())
	}
}

func TestDealerShutdownFlushes(t *testing.T) {
	r := startRouter(t, RouterConfig{QueueLen: 10000})
	d := startDealer(t, DealerConfig{Conn: Config{Identity: testIdentity()}, Dial: dialTo(r.Addr()), QueueLen: 5000})
	const n = 3000
	for i := range n {
		if err := d.TrySend([][]byte{[]byte("msg"), {byte(i), byte(i >> 8)}}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.TrySend([][]byte{{1}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after Shutdown: %v", err)
	}
	for i := range n {
		m := recvTimeout(t, r)
		if got := int(m.Frames[1][0]) | int(m.Frames[1][1])<<8; got != i&0xFFFF {
			t.Fatalf("message %d out of order: %d", i, got)
		}
	}
}

func TestDealerShutdownDeadline(t *testing.T) {
	// A peer that never completes the handshake: Shutdown gives up at ctx.
	ln := listenLoopback(t)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	d := startDealer(t, DealerConfig{Dial: dialTo(ln.Addr())})
	_ = d.TrySend([][]byte{[]byte("goodbye")})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	<-d.Done()
}

func TestDealerAnswersPing(t *testing.T) {
	// A raw ROUTER that PINGs our Dealer and reads the PONG.
	ln := listenLoopback(t)
	defer ln.Close()
	d := startDealer(t, DealerConfig{Conn: Config{Identity: testIdentity()}, Dial: dialTo(ln.Addr())})
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(append(greetingBytes(t, "NULL", 1), readyFrame(t, "Socket-Type", "ROUTER", "Identity", "")...)); err != nil {
		t.Fatal(err)
	}
	r := NewFrameReader(nc, 0, 0)
	greet := make([]byte, GreetingSize)
	if _, err := io.ReadFull(r.br, greet); err != nil {
		t.Fatal(err)
	}
	if f, err := r.ReadFrame(); err != nil || !commandIs(f.Body, CommandReady) {
		t.Fatalf("READY: %v", err)
	}
	waitReady(t, d)
	if _, err := nc.Write(commandFrame(t, CommandPing, appendPing(nil, 0, []byte("abc")))); err != nil {
		t.Fatal(err)
	}
	f, err := r.ReadFrame()
	if err != nil || string(f.Body) != "\x04PONGabc" {
		t.Fatalf("PONG: %q %v", f.Body, err)
	}
	// Messages from the peer are dropped and counted (no OnMessage).
	if _, err := nc.Write(AppendFrame(nil, 0, []byte("unsolicited"))); err != nil {
		t.Fatal(err)
	}
	for i := 0; d.Stats().Dropped != 1; i++ {
		if i > 1000 {
			t.Fatal("not counted")
		}
		time.Sleep(time.Millisecond)
	}
	// ERROR from the peer ends the Dealer with a *PeerError.
	if _, err := nc.Write(commandFrame(t, CommandError, appendErrorData(nil, "enough"))); err != nil {
		t.Fatal(err)
	}
	<-d.Done()
	var pe *PeerError
	if !errors.As(d.Err(), &pe) || pe.Reason != "enough" {
		t.Fatalf("Err %v", d.Err())
	}
}

// TestRouterSurvivesBadPeers runs a good Dealer next to connections that
// send garbage; only the bad ones are dropped.
func TestRouterSurvivesBadPeers(t *testing.T) {
	r := startRouter(t, RouterConfig{Conn: Config{MaxMessageSize: 1 << 20}, HandshakeTimeout: 2 * time.Second})
	d := startDealer(t, DealerConfig{Conn: Config{Identity: testIdentity()}, Dial: dialTo(r.Addr())})
	good := greetingBytes(t, "NULL", 1)
	ready := readyFrame(t, "Socket-Type", "DEALER", "Identity", "\x01bad")
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	bad := map[string][]byte{
		"signature":       []byte("GET / HTTP/1.1\r\n\r\n" + strings.Repeat("x", 64)),
		"major 2":         func() []byte { b := bytes.Clone(good); b[10] = 2; return b }(),
		"mechanism":       greetingBytes(t, "CURVE", 1),
		"bad flags":       cat(good, ready, []byte{0xF0, 0}),
		"oversize":        cat(good, ready, unhex(t, "02 0000000000200000")),
		"2^63":            cat(good, ready, unhex(t, "02 8000000000000000")),
		"command MORE":    cat(good, ready, []byte{0x05, 0x01, 0x00}),
		"wrong type":      cat(good, readyFrame(t, "Socket-Type", "SUB")),
		"ERROR":           cat(good, ready, commandFrame(t, CommandError, appendErrorData(nil, "x"))),
		"junk":            cat(good, ready, bytes.Repeat([]byte{0xFF}, 100)),
		"truncated READY": cat(good, ready[:7]),
	}
	// Each bad peer gets its own identity: a shared one would let a
	// handover close one of them before its bad frame is read.
	i := 0
	for name, in := range bad {
		bad[name] = bytes.Replace(in, []byte("\x01bad"), fmt.Appendf(nil, "\x01b%02d", i), 1)
		i++
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// The good Dealer streams messages while bad peers come and go.
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := d.Send(context.Background(), [][]byte{[]byte("good"), {byte(i)}}); err != nil {
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	for name, in := range bad {
		wg.Go(func() {
			nc, err := net.Dial("tcp", r.Addr().String())
			if err != nil {
				t.Error(name, err)
				return
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
			go func() { _, _ = nc.Write(in) }()
			if name == "truncated READY" {
				time.Sleep(10 * time.Millisecond)
				nc.(*net.TCPConn).CloseWrite()
			}
			_, _ = io.Copy(io.Discard, nc) // until the Router closes it
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := 0
	for st := r.Stats(); st.HandshakeFailures+st.ProtocolErrors < uint64(len(bad)) || got < 100; st = r.Stats() {
		m, err := r.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d good messages: %v (stats %+v)", got, err, r.Stats())
		}
		if string(m.Frames[0]) != "good" || !bytes.Equal(m.Identity, testIdentity()) {
			t.Fatalf("unexpected message %q from %x", m.Frames, m.Identity)
		}
		got++
	}
	close(stop)
	st := r.Stats()
	if st.HandshakeFailures != 5 || st.ProtocolErrors != 6 || st.Active != 1 {
		t.Fatalf("stats %+v", st)
	}
	if d.Err() != nil {
		t.Fatalf("good dealer failed: %v", d.Err())
	}
	wg.Wait()
}

func TestRouterBackpressure(t *testing.T) {
	r := startRouter(t, RouterConfig{QueueLen: 1})
	d := startDealer(t, DealerConfig{Conn: Config{Identity: testIdentity()}, Dial: dialTo(r.Addr()), QueueLen: 4})
	waitReady(t, d)
	chunk := make([]byte, 1<<20)
	sent := 0
	// Nobody reads the Router: the queue, the socket buffers and the
	// Dealer's queue fill up, and Send blocks.
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := d.Send(ctx, [][]byte{chunk})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sent++
		if sent > 500 {
			t.Fatal("no backpressure after 500 MiB")
		}
	}
	for deadline := time.Now().Add(10 * time.Second); r.Stats().Queued != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("router queue %+v", r.Stats())
		}
	}
	// Reading drains everything.
	buf := make([]Message, 0, 8)
	for got := 0; got < sent; {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var err error
		buf, err = r.RecvBatch(ctx, buf[:0])
		cancel()
		if err != nil {
			t.Fatalf("after %d of %d: %v", got, sent, err)
		}
		got += len(buf)
	}
}

func TestRouterRecvCancelAndClose(t *testing.T) {
	r := startRouter(t, RouterConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := r.Recv(context.Background())
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	r.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv after Close: %v", err)
	}
	if r.Disconnect([]byte("nobody")) {
		t.Fatal("Disconnect of unknown identity")
	}
	if _, ok := r.BytesReceived([]byte("nobody")); ok {
		t.Fatal("BytesReceived of unknown identity")
	}
}

func TestRouterDisconnect(t *testing.T) {
	r := startRouter(t, RouterConfig{})
	done := make(chan error, 1)
	d := startDealer(t, DealerConfig{Conn: Config{Identity: testIdentity()}, Dial: dialTo(r.Addr()), OnDone: func(err error) { done <- err }})
	_ = d.TrySend([][]byte{{1}})
	recvTimeout(t, r)
	if !r.Disconnect(testIdentity()) {
		t.Fatal("not connected")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("dealer did not notice")
	}
}

// TestNoGoroutineLeak checks that Close stops every goroutine.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		r, err := NewRouter(listenLoopback(t), RouterConfig{Conn: Config{HeartbeatInterval: time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		var ds []*Dealer
		for i := range 5 {
			id := testIdentity()
			id[1] = byte(i)
			d, err := NewDealer(DealerConfig{Conn: Config{Identity: id, HeartbeatInterval: time.Second}, Dial: dialTo(r.Addr())})
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, d)
			_ = d.TrySend([][]byte{[]byte("hi")})
		}
		for range ds {
			recvTimeout(t, r)
		}
		// A connection stuck in the handshake, and a Recv in progress.
		nc, err := net.Dial("tcp", r.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		go func() { _, _ = r.Recv(context.Background()) }()
		ds[0].Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ds[1].Shutdown(ctx)
		r.Close()
		for _, d := range ds {
			d.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pipeListener is an in-memory net.Listener over net.Pipe, for synctest.
type pipeListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) Dial(ctx context.Context) (net.Conn, error) {
	a, b := net.Pipe()
	select {
	case l.ch <- b:
		return a, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// TestSynctestLifecycle runs Dealers and a Router over net.Pipe inside a
// synctest bubble: the bubble fails if any goroutine outlives Close.
// Heartbeats run on the fake clock.
func TestSynctestLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		hb := Config{HeartbeatInterval: time.Second, HeartbeatTTL: 3 * time.Second}
		r, err := NewRouter(ln, RouterConfig{Conn: hb})
		if err != nil {
			t.Fatal(err)
		}
		dcfg := hb
		dcfg.Identity = testIdentity()
		d, err := NewDealer(DealerConfig{Conn: dcfg, Dial: ln.Dial})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			if err := d.Send(context.Background(), [][]byte{{byte(i)}, make([]byte, i*50)}); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]Message, 0, 16)
		for got := 0; got < 100; {
			buf, err = r.RecvBatch(context.Background(), buf[:0])
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range buf {
				if m.Frames[0][0] != byte(got) || len(m.Frames[1]) != got*50 {
					t.Fatalf("message %d wrong", got)
				}
				got++
			}
		}
		// Idle for a minute of fake time: heartbeats keep both ends up.
		time.Sleep(time.Minute)
		if d.Err() != nil || r.Stats().Active != 1 {
			t.Fatalf("idle connection dropped: %v %+v", d.Err(), r.Stats())
		}
		if n := d.Conn().Stats().PingsReceived; n < 30 {
			t.Fatalf("dealer answered %d PINGs", n)
		}
		d.Close()
		r.Close()
	})
}

// TestSynctestHeartbeatTimeout: a Router whose peer stops answering
// (frozen, not closed) drops it after the heartbeat timeout.
func TestSynctestHeartbeatTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		gone := make(chan error, 1)
		r, err := NewRouter(ln, RouterConfig{
			Conn:         Config{HeartbeatInterval: time.Second, HeartbeatTimeout: 2 * time.Second},
			OnDisconnect: func(_ []byte, err error) { gone <- err },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx := context.Background()
		nc, err := ln.Dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A peer that handshakes and then reads without ever answering.
		hello := append(greetingBytes(t, "NULL", 1), readyFrame(t, "Socket-Type", "DEALER")...)
		go func() { _, _ = nc.Write(hello) }()
		go func() { _, _ = io.Copy(io.Discard, nc) }()
		start := time.Now()
		err = <-gone
		if !errors.Is(err, ErrHeartbeatTimeout) {
			t.Fatalf("disconnect reason %v", err)
		}
		if el := time.Since(start); el < 2*time.Second || el > 5*time.Second {
			t.Fatalf("dropped after %v", el)
		}
		nc.Close()
	})
}

// With NotifyClose, the end of a connection is queued behind its last
// message; a connection taken over by a newer one gives no notice.
func TestRouterNotifyClose(t *testing.T) {
	r := startRouter(t, RouterConfig{NotifyClose: true})
	id := testIdentity()
	d1 := startDealer(t, DealerConfig{Conn: Config{Identity: id}, Dial: dialTo(r.Addr())})
	_ = d1.TrySend([][]byte{[]byte("one")})
	_ = d1.TrySend([][]byte{[]byte("two")})
	for _, want := range []string{"one", "two"} {
		if m := recvTimeout(t, r); m.Frames == nil || string(m.Frames[0]) != want {
			t.Fatalf("got %q, want %q", m.Frames, want)
		}
	}
	d2 := startDealer(t, DealerConfig{Conn: Config{Identity: id}, Dial: dialTo(r.Addr())})
	_ = d2.TrySend([][]byte{[]byte("three")})
	if m := recvTimeout(t, r); m.Frames == nil || string(m.Frames[0]) != "three" {
		t.Fatalf("got %q, want three", m.Frames)
	}
	d2.Close()
	if m := recvTimeout(t, r); m.Frames != nil || !bytes.Equal(m.Identity, id) {
		t.Fatalf("got %q from %x, want the close notice", m.Frames, m.Identity)
	}
	// The notice stays pending until acknowledged.
	if _, open := r.BytesReceived(id); open || !r.NoticePending(id) {
		t.Fatalf("after the notice: open %v, pending %v", open, r.NoticePending(id))
	}
	r.NoticeDone(id)
	if r.NoticePending(id) {
		t.Fatal("notice pending after NoticeDone")
	}
	// A connection that writes 100 messages and closes at once: all of
	// them come before its notice.
	nc, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Handshake(t.Context(), nc, Config{SocketType: SocketDealer, Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := c.Send([][]byte{[]byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for i := range 100 {
		if m := recvTimeout(t, r); m.Frames == nil || string(m.Frames[0]) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, m.Frames)
		}
		// Whenever the connection is gone, its notice is due.
		if _, open := r.BytesReceived(id); !open && !r.NoticePending(id) {
			t.Fatalf("after message %d: connection gone, no notice pending", i)
		}
	}
	m := recvTimeout(t, r)
	if m.Frames != nil || !bytes.Equal(m.Identity, id) {
		t.Fatalf("got %q from %x, want the close notice", m.Frames, m.Identity)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if m, err := r.Recv(ctx); err == nil {
		t.Fatalf("unexpected %q from %x after the notice", m.Frames, m.Identity)
	}
	if st := r.Stats(); st.Messages != 103 {
		t.Errorf("Messages = %d, want 103 (notices are not messages)", st.Messages)
	}
}

// QueueBytes bounds the queue in bytes: with two connections sending
// small and large messages and nobody reading, the queue stops well short
// of QueueLen, past QueueBytes by at most what each connection had read at
// once; then everything arrives, in order per connection.
func TestRouterQueueBytes(t *testing.T) {
	const limit = 256 << 10
	r := startRouter(t, RouterConfig{QueueLen: 4096, QueueBytes: limit})
	sizes := []int{100, 64 << 10, 1 << 10, 200 << 10}
	var dealers []*Dealer
	for i := range 2 {
		id := append(testIdentity(), byte(i))
		d := startDealer(t, DealerConfig{Conn: Config{Identity: id}, Dial: dialTo(r.Addr()), QueueLen: 4})
		waitReady(t, d)
		dealers = append(dealers, d)
	}
	sent := make([]int, len(dealers))
	var wg sync.WaitGroup
	for i, d := range dealers {
		wg.Go(func() {
			for ; sent[i] < 100_000; sent[i]++ {
				msg := make([]byte, sizes[sent[i]%len(sizes)])
				binary.BigEndian.PutUint32(msg, uint32(sent[i]))
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				err := d.Send(ctx, [][]byte{msg})
				cancel()
				if err != nil {
					return // held back (or failed: the reads below tell)
				}
			}
		})
	}
	wg.Wait()
	st := r.Stats()
	t.Logf("sent %v; router holds %d messages, %d bytes", sent, st.Queued, st.QueuedBytes)
	// Per connection: at most its 64 KiB read buffer and one message.
	if over := st.QueuedBytes - limit; st.QueuedBytes < limit || over > 2*(64<<10+200<<10) {
		t.Errorf("queue holds %d bytes, bound %d", st.QueuedBytes, limit)
	}
	next := make(map[string]int)
	var total int64
	for got := 0; got < sent[0]+sent[1]; got++ {
		m := recvTimeout(t, r)
		n := next[string(m.Identity)]
		size := sizes[n%len(sizes)]
		if len(m.Frames) != 1 || len(m.Frames[0]) != size || int(binary.BigEndian.Uint32(m.Frames[0])) != n {
			t.Fatalf("from %x: message %d is %d frames, %d bytes", m.Identity, n, len(m.Frames), len(m.Frames[0]))
		}
		next[string(m.Identity)] = n + 1
		total += int64(size)
	}
	if st := r.Stats(); st.Queued != 0 || st.QueuedBytes != 0 {
		t.Errorf("after draining %d bytes: %+v", total, st)
	}
}

// What an old connection read but could not queue yet (the queue was
// full) is dropped once a newer connection takes its identity over, and
// counted: nothing of the old connection comes after the new one's first
// message.
func TestRouterHandoverDropsOldBacklog(t *testing.T) {
	r := startRouter(t, RouterConfig{QueueLen: 4})
	id := testIdentity()
	d1 := startDealer(t, DealerConfig{Conn: Config{Identity: id}, Dial: dialTo(r.Addr()), QueueLen: 64})
	waitReady(t, d1)
	for i := range 40 {
		if err := d1.Send(context.Background(), [][]byte{fmt.Appendf(nil, "old %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Nobody reads: the queue fills with 4, the old reader holds the rest.
	for deadline := time.Now().Add(10 * time.Second); r.Stats().Queued < 4; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queue never filled: %+v", r.Stats())
		}
	}
	d2 := startDealer(t, DealerConfig{Conn: Config{Identity: id}, Dial: dialTo(r.Addr())})
	waitReady(t, d2)
	_ = d2.TrySend([][]byte{[]byte("new")})
	for deadline := time.Now().Add(10 * time.Second); r.Stats().Handovers != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no handover: %+v", r.Stats())
		}
	}
	old := 0
	for {
		m := recvTimeout(t, r)
		if string(m.Frames[0]) == "new" {
			break
		}
		if want := fmt.Sprintf("old %d", old); string(m.Frames[0]) != want {
			t.Fatalf("got %q, want %q", m.Frames[0], want)
		}
		old++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if m, err := r.Recv(ctx); err == nil {
		t.Fatalf("after the new connection's message: %q", m.Frames[0])
	}
	if st := r.Stats(); st.Superseded == 0 || int(st.Superseded)+old > 40 || st.Messages != uint64(old+1) {
		t.Errorf("%d old messages delivered; stats %+v", old, st)
	}
}
