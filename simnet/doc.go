// Package simnet is an in-memory network for testing Zyre nodes, and any
// other program written against net.PacketConn, net.Listener and net.Conn,
// deterministically and without touching the operating system's network.
//
// # Model
//
// A [Net] is one flat network segment. [Net.Host] adds a host with a single
// IPv4 or IPv6 address; each [*Host] has the three methods of zyre.Network
// (ListenPacket, Listen and Dial), so a node is put on the simulated network
// by giving it a Host as its Network and the host's address as its
// interface:
//
//	n := simnet.New(1)
//	defer n.Close()
//	cfg := zyre.Config{Network: n.Host(netip.MustParseAddr("10.0.0.1")), Interface: "10.0.0.1"}
//
// Datagrams behave like UDP on a LAN. A datagram sent to 255.255.255.255, to
// an IPv4 address ending in .255 (a directed broadcast; subnets are not
// modelled, so it reaches every IPv4 host) or to an IPv6 (or IPv4) multicast
// address such as ff02::1 is copied to every socket bound to the destination
// port on every host of the same address family, the sender included, just
// as a real LAN loops broadcasts back to their sender. Several sockets may
// bind one port on one host (SO_REUSEPORT); a broadcast reaches them all and a
// unicast reaches the oldest. Every copy is subject, independently, to the
// [Link] between the two hosts: latency plus uniform jitter (so datagrams may
// be reordered), random loss, and an MTU. Each socket's receive queue is
// bounded ([Net.PacketQueueLen]); copies arriving at a full queue are dropped
// and counted, like a real socket buffer overflowing.
//
// Streams behave like TCP: reliable and FIFO in each direction. A segment
// written at time t arrives at max(previous arrival, t+latency+jitter), so
// jitter delays a stream but never reorders it, and loss never applies.
// Each direction has a bounded window ([Net.StreamWindow]) of bytes written
// but not yet read: a reader that stops reading makes its peer's Write block,
// as TCP flow control would. Close delivers io.EOF to the peer after the data
// already written. Dialing a port with no listener fails with an error that
// wraps syscall.ECONNREFUSED in a *net.OpError; dialing an address no host
// has fails with syscall.EHOSTUNREACH. Connection setup costs one round trip
// of link latency.
//
// # Faults
//
// Faults live in the network, never in the code under test:
//
//   - [Net.SetDefaultLink] and [Net.SetLink] set latency, jitter, loss and MTU,
//     for all host pairs or for one pair (symmetric).
//   - [Net.Partition] splits the hosts into sides; traffic between sides is
//     blocked until [Net.Heal]. Datagrams across the cut are dropped. A
//     stream across the cut stalls: its data is held and delivered on Heal,
//     unless the stall lasts longer than [Net.StallTimeout], in which case
//     both ends of the connection are reset. A Dial across the cut waits for
//     Heal, its context, or [Net.DialTimeout].
//   - [Net.OnPacket] installs a hook that sees every datagram copy (and every
//     stream write) before delivery and may drop it.
//
// # Determinism and testing/synctest
//
// Random choices (loss and jitter) come from a PCG generator seeded by
// [New], so a test that makes the same calls in the same order sees the
// same losses and delays. The package is built only from a mutex, channels
// and timers. It runs no goroutines of its own: datagram deliveries and
// stall timeouts are kept in one time-ordered queue per Net, driven by a
// single time.AfterFunc timer, and blocked callers wait on channels and
// timers. Inside a testing/synctest bubble, therefore, every blocked simnet
// call is durably blocked, the bubble's fake clock drives latency, jitter,
// deadlines and timeouts exactly, and after [Net.Close] nothing of simnet's
// is left to keep the bubble alive. Create and use a Net within one bubble
// (or entirely outside bubbles): its channels and timers belong to the
// bubble they are created in.
//
//	synctest.Test(t, func(t *testing.T) {
//		n := simnet.New(1)
//		defer n.Close()
//		n.SetDefaultLink(simnet.Link{Latency: 5 * time.Millisecond})
//		// ... start nodes on n.Host(...) and drive them; time.Sleep
//		// advances the fake clock instantly.
//	})
//
// Close every socket and connection (or the whole Net) before the bubble's
// function returns, so that goroutines blocked in reads are released.
//
// # Simplifications
//
// A host has one address and no loopback interface of its own: traffic
// between sockets on the same host uses a perfect link (no latency, loss or
// MTU) unless [Net.SetLink] is called with the host's address twice. Window
// space is returned to the writer as soon as the reader consumes data (acks
// are instantaneous). A Write to a connection whose peer has closed is
// discarded until the peer's close has had time to arrive (one latency), and
// then fails with syscall.EPIPE. Listener backlogs hold [Backlog]
// connections; a connection attempt to a full backlog is refused.
package simnet
