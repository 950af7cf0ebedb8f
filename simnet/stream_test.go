//go:build !plan9

package simnet_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gozyre/zyre/simnet"
)

// pair returns a connection from A to a listener on B, and the accepted end.
func pair(t *testing.T, n *simnet.Net) (client, server net.Conn) {
	t.Helper()
	ln, err := n.Host(ipB).Listen(t.Context(), ap(any4, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = n.Host(ipA).Dial(t.Context(), ap(ipB, ln.Addr().(*net.TCPAddr).AddrPort().Port()))
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// readNow returns whatever c can read at this instant.
func readNow(c net.Conn) (string, error) {
	c.SetReadDeadline(time.Now())
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 1<<16)
	k, err := c.Read(buf)
	return string(buf[:k]), err
}

func TestStreamAddressesAndLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		n.SetDefaultLink(simnet.Link{Latency: 10 * time.Millisecond})
		ln, err := n.Host(ipB).Listen(t.Context(), ap(ipB, 0))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		laddr := ln.Addr().(*net.TCPAddr).AddrPort()
		if laddr != ap(ipB, 49152) {
			t.Errorf("listener at %v", laddr)
		}
		start := time.Now()
		c, err := n.Host(ipA).Dial(t.Context(), laddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if d := time.Since(start); d != 20*time.Millisecond {
			t.Errorf("dial took %v, want one round trip (20ms)", d)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if c.LocalAddr().(*net.TCPAddr).AddrPort() != ap(ipA, 49152) ||
			c.RemoteAddr().(*net.TCPAddr).AddrPort() != laddr ||
			s.LocalAddr().String() != laddr.String() ||
			s.RemoteAddr().String() != c.LocalAddr().String() {
			t.Errorf("addresses: client %v->%v, server %v->%v", c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr())
		}

		start = time.Now()
		write(t, c, "ping")
		buf := make([]byte, 10)
		k, err := s.Read(buf)
		if err != nil || string(buf[:k]) != "ping" {
			t.Fatalf("read %q, %v", buf[:k], err)
		}
		if d := time.Since(start); d != 10*time.Millisecond {
			t.Errorf("segment arrived after %v, want 10ms", d)
		}
		if _, err := n.Host(ipB).Listen(t.Context(), laddr); !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("second listen: %v", err)
		}
	})
}

func TestStreamFIFOUnderJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(3)
		defer n.Close()
		n.SetDefaultLink(simnet.Link{Latency: time.Millisecond, Jitter: 50 * time.Millisecond, Loss: 0.5})
		c, s := pair(t, n)
		var want bytes.Buffer
		for i := range 1000 {
			msg := []byte{byte(i), byte(i >> 8)}
			want.Write(msg)
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		c.Close()
		got, err := io.ReadAll(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("stream reordered or lost data: %d bytes, want %d", len(got), want.Len())
		}
	})
}

func TestLargeWriteArrivesIntact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		n.SetDefaultLink(simnet.Link{Latency: 5 * time.Millisecond, Jitter: time.Millisecond})
		c, s := pair(t, n)
		data := make([]byte, 4<<20+12345) // more than one window
		r := rand.New(rand.NewPCG(1, 2))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		errc := make(chan error)
		go func() {
			_, err := c.Write(data)
			c.Close()
			errc <- err
		}()
		got, err := io.ReadAll(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("received %d bytes, not the %d written", len(got), len(data))
		}
		if st := n.Stats(); st.StreamBytesSent != uint64(len(data)) || st.StreamBytesDelivered != uint64(len(data)) {
			t.Errorf("stats = %+v", st)
		}
	})
}

func TestBackpressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		n.StreamWindow = 1000
		c, s := pair(t, n)
		var written atomic.Int64
		errc := make(chan error)
		go func() {
			k, err := c.Write(make([]byte, 2500))
			written.Store(int64(k))
			errc <- err
		}()
		time.Sleep(time.Minute)
		synctest.Wait()
		if st := n.Stats(); st.StreamBytesSent != 1000 {
			t.Errorf("writer queued %d bytes with a 1000-byte window and no reader", st.StreamBytesSent)
		}
		select {
		case <-errc:
			t.Fatal("Write returned although the reader is not reading")
		default:
		}
		got, err := io.ReadFull(s, make([]byte, 2500))
		if err != nil || got != 2500 {
			t.Fatalf("read %d, %v", got, err)
		}
		if err := <-errc; err != nil || written.Load() != 2500 {
			t.Errorf("write: %d, %v", written.Load(), err)
		}
	})
}

func TestStreamDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		n.StreamWindow = 100
		c, s := pair(t, n)

		start := time.Now()
		s.SetReadDeadline(start.Add(3 * time.Second))
		_, err := s.Read(make([]byte, 1))
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 3*time.Second {
			t.Errorf("read: %v after %v", err, time.Since(start))
		}
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Errorf("%v is not a net.Error timeout", err)
		}

		// A blocked Write reports what it queued when its deadline passes.
		c.SetWriteDeadline(time.Now().Add(time.Second))
		k, err := c.Write(make([]byte, 150))
		if k != 100 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("write: %d, %v; want 100, deadline exceeded", k, err)
		}

		// Clearing a deadline lets a read block again; setting one in the
		// past releases it.
		s.SetDeadline(time.Time{})
		io.ReadFull(s, make([]byte, 100))
		done := make(chan error)
		go func() {
			_, err := s.Read(make([]byte, 1))
			done <- err
		}()
		time.Sleep(time.Hour)
		synctest.Wait()
		s.SetReadDeadline(time.Unix(1, 0))
		if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read released by deadline: %v", err)
		}
	})
}

func TestCloseGivesEOFAfterData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		n.SetDefaultLink(simnet.Link{Latency: 10 * time.Millisecond})
		c, s := pair(t, n)
		write(t, c, "last words")
		c.Close()
		got, err := io.ReadAll(s)
		if err != nil || string(got) != "last words" {
			t.Errorf("read %q, %v", got, err)
		}
		if _, err := s.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("read after EOF: %v", err)
		}
		// Writes to the closed peer fail once its close has arrived (it
		// has: ReadAll waited one latency for the end of stream).
		if _, err := s.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("write to closed peer: %v", err)
		}
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("read on closed conn: %v", err)
		}
		if err := c.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second close: %v", err)
		}
	})
}

func TestCloseWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		c, s := pair(t, n)
		write(t, c, "request")
		c.(interface{ CloseWrite() error }).CloseWrite()
		got, err := io.ReadAll(s)
		if err != nil || string(got) != "request" {
			t.Fatalf("read %q, %v", got, err)
		}
		write(t, s, "reply")
		s.Close()
		got, err = io.ReadAll(c)
		if err != nil || string(got) != "reply" {
			t.Errorf("read %q, %v", got, err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("write after CloseWrite: %v", err)
		}
	})
}

func TestDialRefusedAndUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		n.SetDefaultLink(simnet.Link{Latency: 10 * time.Millisecond})
		n.Host(ipB)
		a := n.Host(ipA)
		start := time.Now()
		_, err := a.Dial(t.Context(), ap(ipB, 5670))
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial: %v, want connection refused", err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" || oe.Addr.String() != "10.0.0.2:5670" {
			t.Errorf("error %#v is not a dial *net.OpError", err)
		}
		if d := time.Since(start); d != 20*time.Millisecond {
			t.Errorf("refusal took %v, want a round trip", d)
		}
		if _, err := a.Dial(t.Context(), ap(ipC, 5670)); !errors.Is(err, syscall.EHOSTUNREACH) {
			t.Errorf("dial to no host: %v", err)
		}
		// The refused dial released its local port.
		ln, err := a.Listen(t.Context(), ap(ipA, 49152))
		if err != nil {
			t.Errorf("refused dial kept its port: %v", err)
		} else {
			ln.Close()
		}
	})
}

func TestDialAcrossPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		ln, err := n.Host(ipB).Listen(t.Context(), ap(any4, 5000))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		a := n.Host(ipA)
		n.Partition([]netip.Addr{ipA})

		// Waits until Heal.
		start := time.Now()
		time.AfterFunc(3*time.Second, n.Heal)
		c, err := a.Dial(t.Context(), ap(ipB, 5000))
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("dial completed after %v, want at the heal (3s)", d)
		}

		n.Partition([]netip.Addr{ipA})
		start = time.Now()
		_, err = a.Dial(t.Context(), ap(ipB, 5000))
		if !errors.Is(err, syscall.ETIMEDOUT) || time.Since(start) != simnet.DefaultDialTimeout {
			t.Errorf("dial: %v after %v, want timed out after DialTimeout", err, time.Since(start))
		}

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := a.Dial(ctx, ap(ipB, 5000)); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("dial with context: %v", err)
		}
	})
}

func TestPartitionStallsStreamAndHealResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		n.SetDefaultLink(simnet.Link{Latency: 10 * time.Millisecond})
		c, s := pair(t, n)
		write(t, c, "before")
		time.Sleep(20 * time.Millisecond) // arrived but unread
		write(t, c, "in-flight")          // still in the air at the cut
		n.Partition([]netip.Addr{ipA}, []netip.Addr{ipB})
		write(t, c, "+during")

		time.Sleep(time.Second)
		if got, err := readNow(s); got != "before" || err != nil {
			t.Errorf("during partition read %q, %v; want only the data that had arrived", got, err)
		}
		if got, err := readNow(s); got != "" || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read %q, %v across the partition", got, err)
		}

		n.Heal()
		start := time.Now()
		buf := make([]byte, 100)
		k, err := io.ReadAtLeast(s, buf, len("in-flight+during"))
		if err != nil || string(buf[:k]) != "in-flight+during" {
			t.Errorf("after heal read %q, %v", buf[:k], err)
		}
		if d := time.Since(start); d != 10*time.Millisecond {
			t.Errorf("held data arrived %v after the heal, want one latency", d)
		}
		// Resumed past StallTimeout: the stall timer was cancelled.
		time.Sleep(2 * simnet.DefaultStallTimeout)
		write(t, s, "ok")
		if got, err := io.ReadAll(io.LimitReader(c, 2)); string(got) != "ok" || err != nil {
			t.Errorf("connection after heal: %q, %v", got, err)
		}
	})
}

func TestStallPastTimeoutResetsBothEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		n.StallTimeout = 5 * time.Second
		c, s := pair(t, n)
		n.Partition([]netip.Addr{ipA})
		start := time.Now()
		write(t, c, "lost")
		_, err := s.Read(make([]byte, 10))
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("server read: %v, want reset", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("reset after %v, want StallTimeout", d)
		}
		if _, err := c.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("client read: %v, want reset", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("client write: %v, want reset", err)
		}
		n.Heal()
		if _, err := s.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("a reset connection came back: %v", err)
		}
		if st := n.Stats(); st.StreamsReset != 1 {
			t.Errorf("StreamsReset = %d", st.StreamsReset)
		}
	})
}

func TestIdleStreamSurvivesPartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		c, s := pair(t, n)
		n.Partition([]netip.Addr{ipA})
		time.Sleep(10 * simnet.DefaultStallTimeout) // nothing to deliver, nothing to reset
		n.Heal()
		write(t, c, "still here")
		if got, err := io.ReadAll(io.LimitReader(s, 10)); string(got) != "still here" || err != nil {
			t.Errorf("read %q, %v", got, err)
		}
	})
}

func TestHookResetsStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		c, s := pair(t, n)
		var seen []simnet.Packet
		n.OnPacket(func(p simnet.Packet) bool {
			seen = append(seen, p)
			return string(p.Data) == "poison"
		})
		write(t, c, "fine")
		if _, err := c.Write([]byte("poison")); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("write: %v, want reset", err)
		}
		if _, err := s.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("peer read: %v, want reset", err)
		}
		if len(seen) != 2 || !seen[0].Stream || seen[0].Src.String() != c.LocalAddr().String() || seen[0].Dst.String() != c.RemoteAddr().String() {
			t.Errorf("hook saw %+v", seen)
		}
	})
}

func TestListenerCloseResetsBacklog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		ln, err := n.Host(ipB).Listen(t.Context(), ap(any4, 7000))
		if err != nil {
			t.Fatal(err)
		}
		c, err := n.Host(ipA).Dial(t.Context(), ap(ipB, 7000))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ln.Close()
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("read: %v, want reset", err)
		}
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("accept after close: %v", err)
		}
		if _, err := n.Host(ipA).Dial(t.Context(), ap(ipB, 7000)); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial after close: %v", err)
		}
	})
}

// TestCloseReleasesEverything blocks a goroutine in every kind of call and
// closes the Net; synctest.Test returning proves none is left behind.
func TestCloseReleasesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		n.StreamWindow = 10
		n.SetDefaultLink(simnet.Link{Latency: time.Second})
		a, b := n.Host(ipA), n.Host(ipB)
		pc, _ := a.ListenPacket(t.Context(), ap(any4, 5670))
		ln, _ := b.Listen(t.Context(), ap(any4, 5000))
		c, _ := a.Dial(t.Context(), ap(ipB, 5000))
		s, _ := ln.Accept()
		// A datagram in flight when the Net closes is discarded.
		far, _ := b.ListenPacket(t.Context(), ap(any4, 5670))
		pc.WriteTo([]byte("in flight"), udp(ipB, 5670))
		ipC := netip.MustParseAddr("10.9.9.9")
		n.Host(ipC)
		n.Partition([]netip.Addr{ipC})

		calls := map[string]func() error{
			"ReadFrom":      func() error { _, _, err := pc.ReadFrom(make([]byte, 1)); return err },
			"ReadFrom(far)": func() error { _, _, err := far.ReadFrom(make([]byte, 1)); return err },
			"Accept":        func() error { _, err := ln.Accept(); return err },
			"Read":          func() error { _, err := s.Read(make([]byte, 1)); return err },
			"Write":         func() error { _, err := c.Write(make([]byte, 100)); return err },
			"Dial":          func() error { _, err := a.Dial(context.Background(), ap(ipC, 1)); return err },
		}
		results := make(chan string, len(calls))
		for name, call := range calls {
			go func() {
				err := call()
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("%s: %v, want net.ErrClosed", name, err)
				}
				results <- name
			}()
		}
		synctest.Wait()
		n.Close()
		for range calls {
			<-results
		}
	})
}

func TestAbandonedDialResetsQueuedConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		n.SetDefaultLink(simnet.Link{Latency: 10 * time.Millisecond})
		ln, err := n.Host(ipB).Listen(t.Context(), ap(any4, 5000))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		// The request reaches the listener at 10ms; the context ends at
		// 15ms, before the reply is back.
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Millisecond)
		defer cancel()
		if _, err := n.Host(ipA).Dial(ctx, ap(ipB, 5000)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("dial: %v", err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("read on abandoned connection: %v", err)
		}
	})
}

func TestStreamTimingIsDeterministic(t *testing.T) {
	arrivals := func(seed uint64) []time.Duration {
		var out []time.Duration
		synctest.Test(t, func(t *testing.T) {
			n := simnet.New(seed)
			defer n.Close()
			n.SetDefaultLink(simnet.Link{Latency: time.Millisecond, Jitter: 5 * time.Millisecond})
			c, s := pair(t, n)
			start := time.Now()
			for range 20 {
				write(t, c, "x")
				if _, err := s.Read(make([]byte, 1)); err != nil {
					t.Fatal(err)
				}
				out = append(out, time.Since(start))
			}
		})
		return out
	}
	a, b := arrivals(5), arrivals(5)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different timing:\n%v\n%v", a, b)
	}
	if slices.Equal(a, arrivals(6)) {
		t.Errorf("different seeds, identical timing")
	}
}

func TestSameHostLinkAndCloseAfterNetClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		n.SetDefaultLink(simnet.Link{Latency: time.Second})
		h := n.Host(ipA)
		ln, _ := h.Listen(t.Context(), ap(ipA, 0))
		start := time.Now()
		c, err := h.Dial(t.Context(), ln.Addr().(*net.TCPAddr).AddrPort())
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("same-host dial took %v; the default link must not apply", d)
		}
		n.SetLink(ipA, ipA, simnet.Link{Latency: time.Millisecond})
		start = time.Now()
		c2, err := h.Dial(t.Context(), ln.Addr().(*net.TCPAddr).AddrPort())
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 2*time.Millisecond {
			t.Errorf("dial over SetLink(a, a) took %v", d)
		}
		n.Close()
		for _, cl := range []io.Closer{c, c2, ln} {
			if err := cl.Close(); err != nil {
				t.Errorf("Close after Net.Close: %v", err)
			}
		}
		if _, err := h.Dial(t.Context(), ap(ipA, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("dial on closed Net: %v", err)
		}
	})
}
