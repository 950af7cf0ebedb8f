package simnet

import (
	"context"
	"net"
	"net/netip"
	"os"
	"time"
)

// Host is one machine on a [Net], with a single address. Its ListenPacket,
// Listen and Dial methods have the signatures of zyre.Network, so a *Host
// can be a Zyre node's network. Get one from [Net.Host]; its methods are
// safe for concurrent use.
type Host struct {
	n  *Net
	ip netip.Addr

	// Guarded by n.mu.
	udp     map[uint16][]*packetConn // bound datagram sockets by port, oldest first
	tcp     map[uint16]*listener
	tcpUsed map[uint16]int // local ports of dialed connections
	nextUDP uint16         // where the next ephemeral search starts
	nextTCP uint16
}

// Addr returns the host's address.
func (h *Host) Addr() netip.Addr { return h.ip }

// String returns the host's address as text.
func (h *Host) String() string { return h.ip.String() }

// bindAddr checks a local address given to ListenPacket or Listen: the zero
// AddrPort, an unspecified address, or the host's own. It returns the
// address to report as bound: the host family's unspecified address or the
// host's address.
func (h *Host) bindAddr(laddr netip.AddrPort) (netip.Addr, bool) {
	a := normAddr(laddr.Addr())
	switch {
	case !a.IsValid() || a.IsUnspecified():
		if h.ip.Is4() {
			return netip.IPv4Unspecified(), true
		}
		return netip.IPv6Unspecified(), true
	case a == h.ip:
		return a, true
	}
	return netip.Addr{}, false
}

// ephemeral finds a free port from *next upward (wrapping within the
// ephemeral range) and advances *next past it. n.mu must be held.
func ephemeral(next *uint16, free func(uint16) bool) (uint16, bool) {
	const span = 65536 - firstEphemeral
	p := *next
	for range span {
		if p < firstEphemeral {
			p = firstEphemeral
		}
		if free(p) {
			*next = p + 1 // wraps to 0, then to firstEphemeral next time
			return p, true
		}
		p++
	}
	return 0, false
}

func (h *Host) tcpFree(p uint16) bool { return h.tcp[p] == nil && h.tcpUsed[p] == 0 }

// ListenPacket opens a datagram socket bound to laddr, which must have an
// unspecified address (0.0.0.0 or ::), the host's address, or be the zero
// AddrPort. Port 0 picks a free port from 49152 upward. Any number of
// sockets may bind the same port (SO_REUSEPORT): broadcasts reach all of
// them, a unicast reaches the oldest. The returned net.PacketConn reports
// *net.UDPAddr addresses and supports deadlines.
func (h *Host) ListenPacket(ctx context.Context, laddr netip.AddrPort) (net.PacketConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: udpAddr(laddr), Err: err}
	}
	bound, ok := h.bindAddr(laddr)
	if !ok {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: udpAddr(laddr), Err: os.NewSyscallError("bind", errAddrNotAvail)}
	}
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, &net.OpError{Op: "listen", Net: "udp", Addr: udpAddr(laddr), Err: net.ErrClosed}
	}
	port := laddr.Port()
	if port == 0 {
		var ok bool
		port, ok = ephemeral(&h.nextUDP, func(p uint16) bool { return len(h.udp[p]) == 0 })
		if !ok {
			return nil, &net.OpError{Op: "listen", Net: "udp", Addr: udpAddr(laddr), Err: os.NewSyscallError("bind", errAddrInUse)}
		}
	}
	c := &packetConn{h: h, local: netip.AddrPortFrom(bound, port)}
	h.udp[port] = append(h.udp[port], c)
	return c, nil
}

// Listen opens a stream listener at laddr, which must have an unspecified
// address, the host's address, or be the zero AddrPort. Port 0 picks a free
// port from 49152 upward. A port already listening, or in use by a dialed
// connection, fails with an error wrapping syscall.EADDRINUSE. The
// listener's Addr and its connections' addresses are *net.TCPAddr values.
func (h *Host) Listen(ctx context.Context, laddr netip.AddrPort) (net.Listener, error) {
	if err := ctx.Err(); err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(laddr), Err: err}
	}
	bound, ok := h.bindAddr(laddr)
	if !ok {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(laddr), Err: os.NewSyscallError("bind", errAddrNotAvail)}
	}
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(laddr), Err: net.ErrClosed}
	}
	port := laddr.Port()
	if port == 0 {
		var ok bool
		port, ok = ephemeral(&h.nextTCP, h.tcpFree)
		if !ok {
			return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(laddr), Err: os.NewSyscallError("bind", errAddrInUse)}
		}
	} else if !h.tcpFree(port) {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: tcpAddr(laddr), Err: os.NewSyscallError("bind", errAddrInUse)}
	}
	l := &listener{h: h, local: netip.AddrPortFrom(bound, port)}
	h.tcp[port] = l
	return l, nil
}

// Dial opens a stream to raddr from a free local port (49152 upward). It
// takes one round trip of link latency. With no listener at raddr it fails
// with a *net.OpError wrapping syscall.ECONNREFUSED; with no host at
// raddr's address, or across address families, syscall.EHOSTUNREACH. Across
// a partition it waits until the partition heals, ctx ends (the error wraps
// ctx.Err()), or [Net.DialTimeout] passes (syscall.ETIMEDOUT).
func (h *Host) Dial(ctx context.Context, raddr netip.AddrPort) (net.Conn, error) {
	raddr = netip.AddrPortFrom(normAddr(raddr.Addr()), raddr.Port())
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	fail := func(laddr net.Addr, err error) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Source: laddr, Addr: tcpAddr(raddr), Err: err}
	}
	if n.closed {
		return fail(nil, net.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fail(nil, err)
	}
	a := raddr.Addr()
	if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || isBroadcast(a) || raddr.Port() == 0 {
		return fail(nil, os.NewSyscallError("connect", errInvalid))
	}
	peer := n.hosts[a]
	if peer == nil || a.Is4() != h.ip.Is4() {
		return fail(nil, os.NewSyscallError("connect", errHostUnreach))
	}
	lport, ok := ephemeral(&h.nextTCP, h.tcpFree)
	if !ok {
		return fail(nil, os.NewSyscallError("bind", errAddrInUse))
	}
	h.tcpUsed[lport]++
	laddr := netip.AddrPortFrom(h.ip, lport)
	d := &dial{from: h, to: peer, laddr: laddr, raddr: raddr}
	n.dials[d] = true
	defer delete(n.dials, d)

	var deadline time.Time
	if n.DialTimeout > 0 {
		deadline = time.Now().Add(n.DialTimeout)
	}
	for {
		var err error
		switch {
		case n.closed:
			err = net.ErrClosed
		case ctx.Err() != nil:
			err = ctx.Err()
		case d.state == dialDone:
			if d.err != nil {
				h.releaseTCP(lport)
				return fail(tcpAddr(laddr), d.err)
			}
			n.stats.StreamsOpened++
			return d.s.ends[0], nil
		case expired(deadline):
			err = os.NewSyscallError("connect", errTimedOut)
		}
		if err != nil {
			d.abandon()
			h.releaseTCP(lport)
			return fail(tcpAddr(laddr), err)
		}
		if d.state == dialIdle {
			if n.blocked(h.ip, a) {
				n.wait(&n.topo, ctx.Done(), deadline, time.Time{})
				continue
			}
			d.state = dialSyn
			lat := n.link(h.ip, a).Latency
			n.schedule(time.Now().Add(lat), d.synArrived)
		}
		n.wait(&d.wake, ctx.Done(), deadline, time.Time{})
	}
}

// releaseTCP frees a dialed connection's local port. n.mu must be held.
func (h *Host) releaseTCP(p uint16) {
	if h.tcpUsed[p]--; h.tcpUsed[p] <= 0 {
		delete(h.tcpUsed, p)
	}
}

type dialState int

const (
	dialIdle dialState = iota // waiting to send a SYN
	dialSyn                   // SYN in flight
	dialAck                   // the listener queued the connection; reply in flight
	dialDone                  // result in d.s or d.err
)

// dial is one connection attempt. Guarded by n.mu.
type dial struct {
	from, to     *Host
	laddr, raddr netip.AddrPort
	state        dialState
	abandoned    bool
	s            *stream
	err          error
	wake         event
}

// synArrived runs when the connection request reaches the destination.
func (d *dial) synArrived() {
	if d.abandoned {
		return
	}
	n := d.from.n
	if n.blocked(d.from.ip, d.to.ip) {
		// Lost at a partition that began in flight: start over.
		d.state = dialIdle
		d.wake.broadcast()
		return
	}
	lat := n.link(d.from.ip, d.to.ip).Latency
	l := d.to.tcp[d.raddr.Port()]
	if l == nil || l.closed || len(l.backlog) >= Backlog {
		d.state = dialAck
		n.schedule(time.Now().Add(lat), func() {
			if !d.abandoned {
				d.state, d.err = dialDone, os.NewSyscallError("connect", errRefused)
				d.wake.broadcast()
			}
		})
		return
	}
	d.s = n.newStream(d.from, d.to, d.laddr, d.raddr)
	l.backlog = append(l.backlog, d.s.ends[1])
	l.wake.broadcast()
	d.state = dialAck
	n.schedule(time.Now().Add(lat), func() {
		if !d.abandoned {
			d.state = dialDone
			d.wake.broadcast()
		}
	})
}

// abandon gives up a dial; a connection the listener already queued is
// reset. n.mu must be held.
func (d *dial) abandon() {
	d.abandoned = true
	if d.s != nil {
		c := d.s.ends[0]
		c.closed = true
		d.from.n.resetStream(d.s)
	}
}
