package interop

import (
	"context"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/zmtp"
)

// checkPyMsg compares a message reported by router.py with what was sent.
func checkPyMsg(t *testing.T, i int, got pyMsg, id []byte, want [][]byte) {
	t.Helper()
	if got.Error != "" {
		t.Fatalf("message %d: router.py: %s", i, got.Error)
	}
	if got.ID != hex.EncodeToString(id) {
		t.Errorf("message %d: libzmq ROUTER saw routing id %s, want %x", i, got.ID, id)
	}
	if d := describe(want); !reflect.DeepEqual(got.Frames, d) {
		t.Errorf("message %d: libzmq ROUTER got frames %v, want %v", i, got.Frames, d)
	}
}

// TestLibzmqRouterReceivesFromOurDealer: our DEALER (a bare Conn, and a
// Dealer) dials a libzmq ROUTER, which must see our 17-byte identity as the
// routing id and every frame byte for byte.
func TestLibzmqRouterReceivesFromOurDealer(t *testing.T) {
	needPyZMQ(t)
	for _, mode := range []string{"conn", "dealer"} {
		t.Run(mode, func(t *testing.T) {
			ctx := testCtx(t)
			py := startPy(t, ctx, "router.py")
			p := py.ready(ctx)
			id := newID()
			msgs := specFrames(testSpec)
			var peer *zmtp.Conn
			switch mode {
			case "conn":
				c := dial(t, ctx, p, zmtp.Config{SocketType: zmtp.SocketDealer, Identity: id})
				for _, m := range msgs {
					if err := c.Send(m); err != nil {
						t.Fatal(err)
					}
				}
				if err := c.Flush(); err != nil {
					t.Fatal(err)
				}
				peer = c
			case "dealer":
				d, err := zmtp.NewDealer(zmtp.DealerConfig{Conn: zmtp.Config{Identity: id}, Dial: dialer(p)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				for _, m := range msgs {
					if err := d.Send(ctx, m); err != nil {
						t.Fatal(err)
					}
				}
				select {
				case <-d.Ready():
				case <-d.Done():
					t.Fatalf("dealer stopped: %v", d.Err())
				case <-ctx.Done():
					t.Fatal(ctx.Err())
				}
				peer = d.Conn()
			}
			if got := peer.PeerSocketType(); got != zmtp.SocketRouter {
				t.Errorf("PeerSocketType = %q, want ROUTER", got)
			}
			if got := peer.PeerMinor(); got != 1 {
				t.Errorf("PeerMinor = %d, want 1 (libzmq 4.3 speaks ZMTP 3.1)", got)
			}
			if got := peer.PeerIdentity(); len(got) != 0 {
				t.Errorf("PeerIdentity = %x, want none (libzmq ROUTER sends an empty one)", got)
			}
			for i, want := range msgs {
				var got pyMsg
				py.json(ctx, &got)
				checkPyMsg(t, i, got, id, want)
			}
			sum := py.stop(ctx)
			if n := sum.Monitor["HANDSHAKE_SUCCEEDED"]; n != 1 {
				t.Errorf("libzmq ROUTER saw %d handshakes, want 1 (monitor: %v)", n, sum.Monitor)
			}
		})
	}
}

// recvRouter reads one message from r within ctx.
func recvRouter(t *testing.T, ctx context.Context, r *zmtp.Router) zmtp.Message {
	t.Helper()
	m, err := r.Recv(ctx)
	if err != nil {
		t.Fatalf("Router.Recv: %v (stats %+v)", err, r.Stats())
	}
	return m
}

// serveConn accepts one connection on a new listener and handshakes it as
// cfg says. It returns the listener's port at once and the connection
// through the returned function, which waits for it.
func serveConn(t *testing.T, ctx context.Context, cfg zmtp.Config) (int, func() *zmtp.Conn) {
	t.Helper()
	ln := listen(t)
	context.AfterFunc(ctx, func() { ln.Close() })
	type result struct {
		c   *zmtp.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			ch <- result{err: fmt.Errorf("accept: %w", err)}
			return
		}
		c, err := zmtp.Handshake(ctx, nc, cfg)
		if err != nil {
			ch <- result{err: fmt.Errorf("handshake: %w", err)}
			return
		}
		context.AfterFunc(ctx, func() { c.Close() })
		ch <- result{c: c}
	}()
	return port(ln.Addr()), func() *zmtp.Conn {
		t.Helper()
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	}
}

func recvConn(t *testing.T, c *zmtp.Conn) [][]byte {
	t.Helper()
	m, err := c.Recv()
	if err != nil {
		t.Fatalf("Conn.Recv: %v", err)
	}
	return m
}

// sentCount reads dealer.py's {"sent": n}.
func sentCount(t *testing.T, ctx context.Context, py *proc) int {
	t.Helper()
	var v struct {
		Sent *int `json:"sent"`
	}
	py.json(ctx, &v)
	if v.Sent == nil {
		t.Fatal(`dealer.py: want {"sent": n}`)
	}
	return *v.Sent
}

func tick(k int) [][]byte { return [][]byte{[]byte("tick"), []byte(strconv.Itoa(k))} }

// TestOurRouterReceivesFromLibzmqDealer: a libzmq DEALER with a routing id
// connects to our listener (a Router, and a bare Conn): we must get its
// identity and every frame byte for byte.
func TestOurRouterReceivesFromLibzmqDealer(t *testing.T) {
	needPyZMQ(t)
	msgs := specFrames(testSpec)
	id := newID()
	args := []string{"--id", hex.EncodeToString(id), "--spec", specJSON(testSpec)}

	t.Run("router", func(t *testing.T) {
		ctx := testCtx(t)
		r, err := zmtp.NewRouter(listen(t), zmtp.RouterConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		py := startPy(t, ctx, "dealer.py", append(args, "--port", strconv.Itoa(port(r.Addr())))...)
		for i, want := range msgs {
			m := recvRouter(t, ctx, r)
			if string(m.Identity) != string(id) {
				t.Errorf("message %d: identity %x, want %x", i, m.Identity, id)
			}
			if !equalFrames(m.Frames, want) {
				t.Errorf("message %d: got %s, want %s", i, shortFrames(m.Frames), shortFrames(want))
			}
		}
		if n := sentCount(t, ctx, py); n != len(msgs) {
			t.Errorf("dealer.py sent %d messages, want %d", n, len(msgs))
		}
		if st := r.Stats(); st.Accepted != 1 || st.Active != 1 || st.HandshakeFailures != 0 || st.ProtocolErrors != 0 {
			t.Errorf("router stats %+v", st)
		}
		sum := py.stop(ctx)
		if n := sum.Monitor["DISCONNECTED"]; n != 0 {
			t.Errorf("libzmq DEALER was disconnected %d times (monitor: %v)", n, sum.Monitor)
		}
	})

	t.Run("conn", func(t *testing.T) {
		ctx := testCtx(t)
		p, conn := serveConn(t, ctx, zmtp.Config{SocketType: zmtp.SocketRouter})
		py := startPy(t, ctx, "dealer.py", append(args, "--port", strconv.Itoa(p))...)
		c := conn()
		if got := c.PeerIdentity(); string(got) != string(id) {
			t.Errorf("PeerIdentity = %x, want %x", got, id)
		}
		if got := c.PeerSocketType(); got != zmtp.SocketDealer {
			t.Errorf("PeerSocketType = %q, want DEALER", got)
		}
		if got := c.PeerMinor(); got != 1 {
			t.Errorf("PeerMinor = %d, want 1", got)
		}
		for i, want := range msgs {
			if got := recvConn(t, c); !equalFrames(got, want) {
				t.Errorf("message %d: got %s, want %s", i, shortFrames(got), shortFrames(want))
			}
		}
		sentCount(t, ctx, py)
		py.stop(ctx)
	})
}

// commandCount returns how many name commands o sent.
func commandCount(o originStats, name string) int { return o.Commands[name] }

// TestZMTP30Peer: a real libzmq peer made to look like ZMTP 3.0 by a proxy
// that rewrites the greeting's minor version (byte 11) from 1 to 0 in both
// directions. Our side must accept it, record minor 0, never PING it even
// with heartbeats on, and exchange messages.
func TestZMTP30Peer(t *testing.T) {
	needPyZMQ(t)
	msgs := specFrames(testSpec)
	id := newID()
	const hbIvl = 20 * time.Millisecond
	dealerArgs := func(p int) []string {
		return []string{"--port", strconv.Itoa(p), "--id", hex.EncodeToString(id), "--spec", specJSON(testSpec),
			"--proxy", "minor0", "--steady", "0.5", "--every", "10"}
	}
	// checkProxy: the proxy did rewrite, saw READY from both and no PING from us.
	checkProxy := func(t *testing.T, sum summary) {
		t.Helper()
		ps := sum.Proxy
		if ps == nil {
			t.Fatal("no proxy summary")
		}
		for name, o := range map[string]originStats{"go": ps.Go, "zmq": ps.ZMQ} {
			if o.Minor == nil || *o.Minor != 1 {
				t.Errorf("%s greeting minor before rewrite: %v, want 1", name, o.Minor)
			}
			if commandCount(o, "READY") != 1 {
				t.Errorf("%s commands %v, want one READY", name, o.Commands)
			}
		}
		if n := commandCount(ps.Go, "PING"); n != 0 {
			t.Errorf("we sent %d PINGs to a ZMTP 3.0 peer, want none", n)
		}
		if len(ps.Go.Commands) != 1 {
			t.Errorf("we sent commands %v to a ZMTP 3.0 peer, want only READY", ps.Go.Commands)
		}
	}
	recvAll := func(t *testing.T, ctx context.Context, py *proc, recv func() ([]byte, [][]byte)) {
		t.Helper()
		if n := sentCount(t, ctx, py); n != len(msgs) {
			t.Fatalf("dealer.py sent %d, want %d", n, len(msgs))
		}
		for i, want := range msgs {
			gid, got := recv()
			if gid != nil && string(gid) != string(id) {
				t.Errorf("message %d: identity %x, want %x", i, gid, id)
			}
			if !equalFrames(got, want) {
				t.Errorf("message %d: got %s, want %s", i, shortFrames(got), shortFrames(want))
			}
		}
		ticks := sentCount(t, ctx, py)
		for k := range ticks {
			if _, got := recv(); !equalFrames(got, tick(k)) {
				t.Fatalf("tick %d: got %s", k, shortFrames(got))
			}
		}
	}

	t.Run("router", func(t *testing.T) {
		ctx := testCtx(t)
		r, err := zmtp.NewRouter(listen(t), zmtp.RouterConfig{Conn: zmtp.Config{HeartbeatInterval: hbIvl}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		py := startPy(t, ctx, "dealer.py", dealerArgs(port(r.Addr()))...)
		recvAll(t, ctx, py, func() ([]byte, [][]byte) {
			m := recvRouter(t, ctx, r)
			return m.Identity, m.Frames
		})
		if st := r.Stats(); st.Accepted != 1 || st.Active != 1 || st.ProtocolErrors != 0 {
			t.Errorf("router stats %+v", st)
		}
		checkProxy(t, py.stop(ctx))
	})

	t.Run("conn", func(t *testing.T) {
		ctx := testCtx(t)
		p, conn := serveConn(t, ctx, zmtp.Config{SocketType: zmtp.SocketRouter, HeartbeatInterval: hbIvl})
		py := startPy(t, ctx, "dealer.py", dealerArgs(p)...)
		c := conn()
		if got := c.PeerMinor(); got != 0 {
			t.Errorf("PeerMinor = %d, want 0", got)
		}
		if g := c.PeerGreeting(); g.SupportsHeartbeat() {
			t.Errorf("PeerGreeting %+v claims heartbeat support", g)
		}
		if got := c.PeerIdentity(); string(got) != string(id) {
			t.Errorf("PeerIdentity = %x, want %x", got, id)
		}
		// Drive heartbeats as Router and Dealer do, while receiving.
		hbCtx, stopHB := context.WithCancel(ctx)
		hbErr := make(chan error, 1)
		go func() {
			tk := time.NewTicker(hbIvl / 2)
			defer tk.Stop()
			for {
				select {
				case <-hbCtx.Done():
					hbErr <- nil
					return
				case now := <-tk.C:
					if err := c.Heartbeat(now); err != nil {
						hbErr <- err
						return
					}
				}
			}
		}()
		recvAll(t, ctx, py, func() ([]byte, [][]byte) { return nil, recvConn(t, c) })
		stopHB()
		if err := <-hbErr; err != nil {
			t.Errorf("Heartbeat: %v", err)
		}
		checkProxy(t, py.stop(ctx))
	})

	t.Run("dealer", func(t *testing.T) {
		ctx := testCtx(t)
		py := startPy(t, ctx, "router.py", "--proxy", "minor0")
		p := py.ready(ctx)
		d, err := zmtp.NewDealer(zmtp.DealerConfig{
			Conn: zmtp.Config{Identity: id, HeartbeatInterval: hbIvl},
			Dial: dialer(p),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		for _, m := range msgs {
			if err := d.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		for i, want := range msgs {
			var got pyMsg
			py.json(ctx, &got)
			checkPyMsg(t, i, got, id, want)
		}
		if got := d.Conn().PeerMinor(); got != 0 {
			t.Errorf("PeerMinor = %d, want 0", got)
		}
		// Give the heartbeat ticker many chances to misbehave: ticks keep
		// the connection busy for 25 intervals.
		for k := range 50 {
			if err := d.Send(ctx, tick(k)); err != nil {
				t.Fatal(err)
			}
			var got pyMsg
			py.json(ctx, &got)
			checkPyMsg(t, len(msgs)+k, got, id, tick(k))
			time.Sleep(hbIvl / 2)
		}
		if err := d.Err(); err != nil {
			t.Errorf("dealer stopped: %v", err)
		}
		checkProxy(t, py.stop(ctx))
	})
}

// checkPings checks PINGs seen by the proxy: at least min of them, each
// with TTL ttl (deciseconds) and an empty context.
func checkPings(t *testing.T, who string, pings [][2]any, min int, ttl float64) {
	t.Helper()
	if len(pings) < min {
		t.Errorf("%s sent %d PINGs, want at least %d", who, len(pings), min)
	}
	for _, p := range pings {
		if p[0] != ttl || p[1] != "" {
			t.Errorf("%s sent PING with TTL %v and context %q, want TTL %v and no context", who, p[0], p[1], ttl)
			break
		}
	}
}

// checkPongs checks that PONGs answered the PINGs (one may still be in
// flight when the proxy reports) and echoed their empty context.
func checkPongs(t *testing.T, who string, pongs []string, pings int) {
	t.Helper()
	if len(pongs) < pings-1 || len(pongs) > pings {
		t.Errorf("%s sent %d PONGs for %d PINGs", who, len(pongs), pings)
	}
	for _, c := range pongs {
		if c != "" {
			t.Errorf("%s sent PONG with context %q, want the PING's empty context", who, c)
			break
		}
	}
}

// TestHeartbeatLibzmqDealerToOurRouter: a libzmq DEALER with
// ZMQ_HEARTBEAT_IVL 100 ms (timeout 500 ms) sends to our Router for 1 s
// through an observing proxy that also injects PINGs carrying a 16-byte
// context. Our side must answer every PING with a PONG echoing its
// context, the libzmq connection must stay up, and every message arrive.
// In "both", our Router also PINGs (and libzmq answers).
func TestHeartbeatLibzmqDealerToOurRouter(t *testing.T) {
	needPyZMQ(t)
	for _, mode := range []string{"pong_only", "both"} {
		t.Run(mode, func(t *testing.T) {
			ctx := testCtx(t)
			cfg := zmtp.RouterConfig{}
			if mode == "both" {
				cfg.Conn = zmtp.Config{
					HeartbeatInterval: 50 * time.Millisecond,
					HeartbeatTimeout:  5 * time.Second, // generous: a bound, not a timing check
					HeartbeatTTL:      2 * time.Second,
				}
			}
			r, err := zmtp.NewRouter(listen(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			id := newID()
			py := startPy(t, ctx, "dealer.py", "--port", strconv.Itoa(port(r.Addr())), "--id", hex.EncodeToString(id),
				"--spec", "[[5]]", "--steady", "1.0", "--every", "10",
				"--hb-ivl", "100", "--hb-timeout", "500", "--hb-ttl", "1000",
				"--proxy", "observe", "--inject-ms", "50")
			if n := sentCount(t, ctx, py); n != 1 {
				t.Fatalf("sent %d", n)
			}
			if m := recvRouter(t, ctx, r); !equalFrames(m.Frames, [][]byte{payload(0, 0, 5)}) || string(m.Identity) != string(id) {
				t.Fatalf("got %x %s", m.Identity, shortFrames(m.Frames))
			}
			ticks := sentCount(t, ctx, py)
			for k := range ticks {
				if m := recvRouter(t, ctx, r); !equalFrames(m.Frames, tick(k)) {
					t.Fatalf("tick %d: got %s", k, shortFrames(m.Frames))
				}
			}
			if st := r.Stats(); st.Accepted != 1 || st.ProtocolErrors != 0 || st.HandshakeFailures != 0 || st.Active != 1 {
				t.Errorf("router stats %+v", st)
			}
			sum := py.stop(ctx)
			ps := sum.Proxy
			if ps == nil {
				t.Fatal("no proxy summary")
			}
			t.Logf("ticks %d; libzmq PINGs %d, our PONGs %d; injected %d, echoed %d; our PINGs %d, libzmq PONGs %d; monitor %v",
				ticks, len(ps.ZMQ.Pings), len(ps.Go.Pongs), ps.Injected, ps.Echoed, len(ps.Go.Pings), len(ps.ZMQ.Pongs), sum.Monitor)
			if n := sum.Monitor["DISCONNECTED"]; n != 0 {
				t.Errorf("libzmq DEALER was disconnected %d times (monitor: %v)", n, sum.Monitor)
			}
			if n := sum.Monitor["HANDSHAKE_SUCCEEDED"]; n != 1 {
				t.Errorf("libzmq DEALER made %d handshakes, want 1 (monitor: %v)", n, sum.Monitor)
			}
			checkPings(t, "libzmq", ps.ZMQ.Pings, 3, 10)
			checkPongs(t, "our router", ps.Go.Pongs, len(ps.ZMQ.Pings))
			if ps.Injected < 3 || ps.Echoed < ps.Injected-1 {
				t.Errorf("injected %d PINGs with a context, %d PONGs echoed it", ps.Injected, ps.Echoed)
			}
			if mode == "both" {
				checkPings(t, "our router", ps.Go.Pings, 3, 20)
				checkPongs(t, "libzmq", ps.ZMQ.Pongs, len(ps.Go.Pings))
			} else if n := len(ps.Go.Pings); n != 0 {
				t.Errorf("our router sent %d PINGs with heartbeats off", n)
			}
		})
	}
}

// TestHeartbeatOurDealerToLibzmqRouter: our Dealer with HeartbeatInterval
// 50 ms sends to a libzmq ROUTER that has ZMQ_HEARTBEAT_IVL 100 ms, for
// 1 s, through an observing proxy: both sides PING, both answer, neither
// drops the connection, and every message arrives.
func TestHeartbeatOurDealerToLibzmqRouter(t *testing.T) {
	needPyZMQ(t)
	ctx := testCtx(t)
	py := startPy(t, ctx, "router.py", "--proxy", "observe", "--hb-ivl", "100", "--hb-timeout", "500", "--hb-ttl", "1000")
	p := py.ready(ctx)
	id := newID()
	d, err := zmtp.NewDealer(zmtp.DealerConfig{
		Conn: zmtp.Config{
			Identity:          id,
			HeartbeatInterval: 50 * time.Millisecond,
			HeartbeatTimeout:  5 * time.Second,
			HeartbeatTTL:      2 * time.Second,
		},
		Dial: dialer(p),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	start := time.Now()
	k := 0
	for ; time.Since(start) < time.Second; k++ {
		if err := d.Send(ctx, tick(k)); err != nil {
			t.Fatalf("send %d: %v", k, err)
		}
		var got pyMsg
		py.json(ctx, &got)
		checkPyMsg(t, k, got, id, tick(k))
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.Err(); err != nil {
		t.Fatalf("dealer stopped: %v", err)
	}
	sum := py.stop(ctx)
	ps := sum.Proxy
	if ps == nil {
		t.Fatal("no proxy summary")
	}
	t.Logf("ticks %d; our PINGs %d, libzmq PONGs %d; libzmq PINGs %d, our PONGs %d; monitor %v",
		k, len(ps.Go.Pings), len(ps.ZMQ.Pongs), len(ps.ZMQ.Pings), len(ps.Go.Pongs), sum.Monitor)
	if n := sum.Monitor["DISCONNECTED"]; n != 0 {
		t.Errorf("libzmq ROUTER saw %d disconnects (monitor: %v)", n, sum.Monitor)
	}
	if n := sum.Monitor["HANDSHAKE_SUCCEEDED"]; n != 1 {
		t.Errorf("libzmq ROUTER made %d handshakes, want 1 (monitor: %v)", n, sum.Monitor)
	}
	checkPings(t, "our dealer", ps.Go.Pings, 3, 20)
	checkPongs(t, "libzmq", ps.ZMQ.Pongs, len(ps.Go.Pings))
	checkPings(t, "libzmq", ps.ZMQ.Pings, 3, 10)
	checkPongs(t, "our dealer", ps.Go.Pongs, len(ps.ZMQ.Pings))
}

// TestLibzmqRouterHandover: a libzmq ROUTER with ZMQ_ROUTER_HANDOVER gets
// two of our DEALER connections with the same identity, one after the
// other. The second takes the routing id over: the ROUTER's replies to that
// id reach the second connection.
func TestLibzmqRouterHandover(t *testing.T) {
	needPyZMQ(t)
	ctx := testCtx(t)
	py := startPy(t, ctx, "router.py", "--handover", "--echo")
	p := py.ready(ctx)
	id := newID()
	cfg := zmtp.Config{SocketType: zmtp.SocketDealer, Identity: id}
	exchange := func(c *zmtp.Conn, i int, body string) {
		t.Helper()
		msg := [][]byte{[]byte(body)}
		if err := c.Send(msg); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		var got pyMsg
		py.json(ctx, &got)
		checkPyMsg(t, i, got, id, msg)
		if r := recvConn(t, c); !equalFrames(r, [][]byte{[]byte("ack:" + body)}) {
			t.Fatalf("reply to %q: %s", body, shortFrames(r))
		}
	}
	first := dial(t, ctx, p, cfg)
	context.AfterFunc(ctx, func() { first.Close() })
	exchange(first, 0, "first")
	second := dial(t, ctx, p, cfg)
	context.AfterFunc(ctx, func() { second.Close() })
	exchange(second, 1, "second")
	exchange(second, 2, "again")
	// libzmq terminates the first connection's pipe but leaves its TCP
	// connection open; what still arrives on it must be dropped, not
	// delivered under our routing id.
	if err := first.Send([][]byte{[]byte("stale")}); err != nil {
		t.Fatal(err)
	}
	if err := first.Flush(); err != nil {
		t.Fatal(err)
	}
	exchange(second, 3, "after")
	exchange(second, 4, "last")
	sum := py.stop(ctx)
	if len(py.extra) > 0 {
		t.Errorf("libzmq ROUTER reported more: %q", py.extra)
	}
	if n := sum.Monitor["HANDSHAKE_SUCCEEDED"]; n != 2 {
		t.Errorf("libzmq ROUTER made %d handshakes, want 2 (monitor: %v)", n, sum.Monitor)
	}
}
