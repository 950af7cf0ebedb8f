package simnet_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gozyre/zyre/simnet"
)

// network has the method set of zyre.Network, declared here because
// simnet must not import zyre.
type network interface {
	ListenPacket(ctx context.Context, laddr netip.AddrPort) (net.PacketConn, error)
	Listen(ctx context.Context, laddr netip.AddrPort) (net.Listener, error)
	Dial(ctx context.Context, raddr netip.AddrPort) (net.Conn, error)
}

var _ network = (*simnet.Host)(nil)

var (
	ipA   = netip.MustParseAddr("10.0.0.1")
	ipB   = netip.MustParseAddr("10.0.0.2")
	ipC   = netip.MustParseAddr("10.0.0.3")
	bcast = netip.MustParseAddr("255.255.255.255")
	any4  = netip.IPv4Unspecified()
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

func udp(a netip.Addr, port uint16) *net.UDPAddr {
	return net.UDPAddrFromAddrPort(ap(a, port))
}

func listenPacket(t *testing.T, h *simnet.Host, laddr netip.AddrPort) net.PacketConn {
	t.Helper()
	pc, err := h.ListenPacket(t.Context(), laddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

func send(t *testing.T, pc net.PacketConn, msg string, to netip.AddrPort) {
	t.Helper()
	if _, err := pc.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(to)); err != nil {
		t.Fatal(err)
	}
}

// recv reads one datagram, failing the test if none is queued by now (a
// past deadline makes ReadFrom return at once).
func recv(t *testing.T, pc net.PacketConn) (string, netip.AddrPort) {
	t.Helper()
	msg, from, err := tryRecv(pc)
	if err != nil {
		t.Fatalf("%v: %v", pc.LocalAddr(), err)
	}
	return msg, from
}

func tryRecv(pc net.PacketConn) (string, netip.AddrPort, error) {
	pc.SetReadDeadline(time.Now())
	defer pc.SetReadDeadline(time.Time{})
	buf := make([]byte, 2048)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		return "", netip.AddrPort{}, err
	}
	return string(buf[:n]), from.(*net.UDPAddr).AddrPort(), nil
}

// drain returns every datagram queued at pc.
func drain(pc net.PacketConn) []string {
	var out []string
	for {
		msg, _, err := tryRecv(pc)
		if err != nil {
			return out
		}
		out = append(out, msg)
	}
}

func TestBroadcastReachesEveryBoundSocketIncludingSender(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		var recvs []net.PacketConn
		for _, ip := range []netip.Addr{ipA, ipB, ipC} {
			h := n.Host(ip)
			// Two sockets share the beacon port on every host.
			recvs = append(recvs, listenPacket(t, h, ap(any4, 5670)), listenPacket(t, h, ap(any4, 5670)))
		}
		other := listenPacket(t, n.Host(ipC), ap(any4, 5671)) // another port: must not hear it
		sender := listenPacket(t, n.Host(ipA), ap(ipA, 0))
		sport := sender.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		if sport != 49152 {
			t.Errorf("first ephemeral port = %d, want 49152", sport)
		}

		for _, to := range []netip.Addr{bcast, netip.MustParseAddr("10.0.0.255")} {
			send(t, sender, "beacon", ap(to, 5670))
			synctest.Wait()
			for i, pc := range recvs {
				msg, from := recv(t, pc)
				if msg != "beacon" || from != ap(ipA, sport) {
					t.Errorf("to %v: socket %d got %q from %v", to, i, msg, from)
				}
				if rest := drain(pc); len(rest) != 0 {
					t.Errorf("socket %d: extra datagrams %q", i, rest)
				}
			}
			if got := drain(other); len(got) != 0 {
				t.Errorf("socket on another port got %q", got)
			}
		}
		if s := n.Stats(); s.DatagramsSent != 2 || s.DatagramsDelivered != 12 || s.DatagramsDropped != 0 {
			t.Errorf("stats = %+v", s)
		}
	})
}

func TestIPv6Multicast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		a6, b6 := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
		ra := listenPacket(t, n.Host(a6), ap(netip.IPv6Unspecified(), 5670))
		rb := listenPacket(t, n.Host(b6), ap(netip.IPv6Unspecified(), 5670))
		r4 := listenPacket(t, n.Host(ipA), ap(any4, 5670)) // other family: must not hear it
		s := listenPacket(t, n.Host(a6), ap(a6, 0))
		// A zone, as the root package adds on real interfaces, is ignored.
		send(t, s, "v6", ap(netip.MustParseAddr("ff02::1").WithZone("eth0"), 5670))
		synctest.Wait()
		for _, pc := range []net.PacketConn{ra, rb} {
			if msg, from := recv(t, pc); msg != "v6" || from.Addr() != a6 {
				t.Errorf("got %q from %v", msg, from)
			}
		}
		if got := drain(r4); len(got) != 0 {
			t.Errorf("IPv4 host got %q", got)
		}
	})
}

func TestUnicastReachesOneSocket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		hb := n.Host(ipB)
		first := listenPacket(t, hb, ap(any4, 5670))
		second := listenPacket(t, hb, ap(ipB, 5670))
		onA := listenPacket(t, n.Host(ipA), ap(any4, 5670))
		s := listenPacket(t, n.Host(ipA), ap(any4, 0))

		send(t, s, "one", ap(ipB, 5670))
		send(t, s, "nobody", ap(ipB, 9999))
		send(t, s, "no host", ap(ipC, 5670))
		synctest.Wait()
		if msg, _ := recv(t, first); msg != "one" {
			t.Errorf("oldest socket got %q", msg)
		}
		for _, pc := range []net.PacketConn{first, second, onA} {
			if got := drain(pc); len(got) != 0 {
				t.Errorf("%v got extra %q", pc.LocalAddr(), got)
			}
		}
		// With the oldest closed, the next one receives.
		first.Close()
		send(t, s, "two", ap(ipB, 5670))
		synctest.Wait()
		if msg, _ := recv(t, second); msg != "two" {
			t.Errorf("second socket got %q", msg)
		}
		if st := n.Stats(); st.DatagramsSent != 4 || st.DatagramsDelivered != 2 || st.DatagramsDropped != 2 {
			t.Errorf("stats = %+v", st)
		}
	})
}

func TestDatagramLatencyAndJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(7)
		defer n.Close()
		n.SetDefaultLink(simnet.Link{Latency: 30 * time.Millisecond})
		n.SetLink(ipA, ipC, simnet.Link{Latency: 10 * time.Millisecond, Jitter: 20 * time.Millisecond})
		rb := listenPacket(t, n.Host(ipB), ap(any4, 5670))
		rc := listenPacket(t, n.Host(ipC), ap(any4, 5670))
		s := listenPacket(t, n.Host(ipA), ap(any4, 5670))

		start := time.Now()
		send(t, s, "x", ap(ipB, 5670))
		buf := make([]byte, 16)
		if _, _, err := rb.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 30*time.Millisecond {
			t.Errorf("default link delivered after %v, want 30ms", d)
		}
		if msg, _, err := tryRecv(s); err == nil {
			t.Errorf("unicast looped back to the sender: %q", msg)
		}

		for range 50 {
			start := time.Now()
			send(t, s, "j", ap(ipC, 5670))
			if _, _, err := rc.ReadFrom(buf); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 10*time.Millisecond || d > 30*time.Millisecond {
				t.Fatalf("jittered delivery after %v, want 10ms..30ms", d)
			}
		}
	})
}

// sendMany sends count numbered datagrams from a to b's port 5670 and
// returns the numbers received, in arrival order.
func sendMany(t *testing.T, seed uint64, l simnet.Link, count int) []int {
	var got []int
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(seed)
		defer n.Close()
		n.SetDefaultLink(l)
		r := listenPacket(t, n.Host(ipB), ap(any4, 5670))
		s := listenPacket(t, n.Host(ipA), ap(any4, 0))
		for i := range count {
			send(t, s, fmt.Sprint(i), ap(ipB, 5670))
			if i%500 == 499 {
				time.Sleep(time.Second) // let the receive queue drain
				for _, m := range drain(r) {
					var v int
					fmt.Sscan(m, &v)
					got = append(got, v)
				}
			}
		}
		time.Sleep(time.Second)
		for _, m := range drain(r) {
			var v int
			fmt.Sscan(m, &v)
			got = append(got, v)
		}
		st := n.Stats()
		if st.DatagramsDelivered != uint64(len(got)) || st.DatagramsDropped != uint64(count-len(got)) {
			t.Errorf("stats %+v disagree with %d received", st, len(got))
		}
	})
	return got
}

func TestLossIsSeededAndNearRate(t *testing.T) {
	const count = 10000
	l := simnet.Link{Loss: 0.25}
	got := sendMany(t, 42, l, count)
	lost := count - len(got)
	if lost < 2300 || lost > 2700 {
		t.Errorf("lost %d of %d at Loss 0.25", lost, count)
	}
	// Pinned: a change here means a change in how simnet draws randomness,
	// which breaks reproducing recorded seeds. Update it deliberately.
	if lost != 2505 {
		t.Errorf("seed 42 lost %d, want 2505", lost)
	}
	again := sendMany(t, 42, l, count)
	if !slices.Equal(got, again) {
		t.Errorf("same seed, different losses: %d vs %d received", len(got), len(again))
	}
	other := sendMany(t, 43, l, count)
	if slices.Equal(got, other) {
		t.Errorf("different seeds, identical losses")
	}
}

func TestJitterReordersDatagramsDeterministically(t *testing.T) {
	l := simnet.Link{Latency: time.Millisecond, Jitter: 10 * time.Millisecond}
	got := sendMany(t, 9, l, 200)
	if len(got) != 200 {
		t.Fatalf("received %d of 200 with no loss", len(got))
	}
	if slices.IsSorted(got) {
		t.Errorf("jitter did not reorder datagrams")
	}
	if again := sendMany(t, 9, l, 200); !slices.Equal(got, again) {
		t.Errorf("same seed, different order")
	}
}

func TestMTU(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		n.SetDefaultLink(simnet.Link{MTU: 100})
		r := listenPacket(t, n.Host(ipB), ap(any4, 5670))
		s := listenPacket(t, n.Host(ipA), ap(any4, 0))
		s.WriteTo(make([]byte, 100), udp(ipB, 5670))
		s.WriteTo(make([]byte, 101), udp(ipB, 5670))
		synctest.Wait()
		if got := drain(r); len(got) != 1 || len(got[0]) != 100 {
			t.Errorf("received %d datagrams, want only the 100-byte one", len(got))
		}
		if st := n.Stats(); st.DatagramsDropped != 1 {
			t.Errorf("dropped = %d, want 1", st.DatagramsDropped)
		}
	})
}

func TestReceiveQueueOverflowDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		n.PacketQueueLen = 10
		r := listenPacket(t, n.Host(ipB), ap(any4, 5670))
		s := listenPacket(t, n.Host(ipA), ap(any4, 0))
		for i := range 15 {
			send(t, s, fmt.Sprint(i), ap(ipB, 5670))
		}
		synctest.Wait()
		got := drain(r)
		if want := []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}; !slices.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		if st := n.Stats(); st.DatagramsDelivered != 10 || st.DatagramsDropped != 5 {
			t.Errorf("stats = %+v", st)
		}
	})
}

func TestPartitionBlocksDatagrams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		var rs []net.PacketConn
		for _, ip := range []netip.Addr{ipA, ipB, ipC} {
			rs = append(rs, listenPacket(t, n.Host(ip), ap(any4, 5670)))
		}
		s := listenPacket(t, n.Host(ipA), ap(any4, 0))

		// Three sides: A, B, and the unlisted C.
		n.Partition([]netip.Addr{ipA}, []netip.Addr{ipB})
		send(t, s, "cut", ap(bcast, 5670))
		synctest.Wait()
		if got := drain(rs[0]); len(got) != 1 {
			t.Errorf("sender's own host got %q", got)
		}
		for _, pc := range rs[1:] {
			if got := drain(pc); len(got) != 0 {
				t.Errorf("%v heard across the partition: %q", pc.LocalAddr(), got)
			}
		}

		// Unlisted hosts share one side: A alone, B with C.
		n.Partition([]netip.Addr{ipA})
		send(t, listenPacket(t, n.Host(ipB), ap(ipB, 0)), "bc", ap(bcast, 5670))
		synctest.Wait()
		if a, b, c := drain(rs[0]), drain(rs[1]), drain(rs[2]); len(a) != 0 || len(b) != 1 || len(c) != 1 {
			t.Errorf("A, B, C got %q %q %q", a, b, c)
		}

		n.Heal()
		send(t, s, "healed", ap(bcast, 5670))
		synctest.Wait()
		for _, pc := range rs {
			if msg, _ := recv(t, pc); msg != "healed" {
				t.Errorf("%v got %q after heal", pc.LocalAddr(), msg)
			}
		}
	})
}

func TestHookDropsDatagrams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		rb := listenPacket(t, n.Host(ipB), ap(any4, 5670))
		rc := listenPacket(t, n.Host(ipC), ap(any4, 5670))
		s := listenPacket(t, n.Host(ipA), ap(ipA, 0))
		var seen []simnet.Packet
		n.OnPacket(func(p simnet.Packet) bool {
			seen = append(seen, p)
			return p.Dst.Addr() == ipC // C hears nothing
		})
		send(t, s, "hi", ap(bcast, 5670))
		synctest.Wait()
		if got := drain(rb); len(got) != 1 {
			t.Errorf("B got %q", got)
		}
		if got := drain(rc); len(got) != 0 {
			t.Errorf("C got %q despite the hook", got)
		}
		if len(seen) != 2 || !seen[0].Broadcast || seen[0].Src.Addr() != ipA || string(seen[0].Data) != "hi" {
			t.Errorf("hook saw %+v", seen)
		}
		n.OnPacket(nil)
		send(t, s, "again", ap(ipC, 5670))
		synctest.Wait()
		if got := drain(rc); len(got) != 1 {
			t.Errorf("C got %q with the hook removed", got)
		}
	})
}

func TestPacketDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		pc := listenPacket(t, n.Host(ipA), ap(any4, 5670))
		buf := make([]byte, 10)

		start := time.Now()
		pc.SetReadDeadline(start.Add(time.Second))
		_, _, err := pc.ReadFrom(buf)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Errorf("err %v is not a net.Error timeout", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("read timed out after %v", d)
		}

		// Moving the deadline into the past releases a blocked read.
		pc.SetDeadline(time.Time{})
		done := make(chan error)
		go func() {
			_, _, err := pc.ReadFrom(buf)
			done <- err
		}()
		time.Sleep(time.Hour)
		synctest.Wait()
		pc.SetReadDeadline(time.Now())
		if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("err = %v, want deadline exceeded", err)
		}

		pc.SetWriteDeadline(time.Now().Add(-time.Second))
		if _, err := pc.WriteTo([]byte("x"), udp(ipB, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("write past deadline: %v", err)
		}
	})
}

func TestPacketConnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := simnet.New(1)
		defer n.Close()
		h := n.Host(ipA)
		pc, err := h.ListenPacket(t.Context(), ap(any4, 5670))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		go func() {
			_, _, err := pc.ReadFrom(make([]byte, 1))
			done <- err
		}()
		synctest.Wait()
		pc.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after close: %v", err)
		}
		if err := pc.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second close: %v", err)
		}
		if _, err := h.ListenPacket(t.Context(), ap(ipB, 0)); err == nil {
			t.Errorf("bound another host's address")
		}
	})
}
