package simnet

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"time"
)

// datagram is one received datagram.
type datagram struct {
	from netip.AddrPort
	data []byte // shared between broadcast copies; never modified
}

// packetConn is a datagram socket. It implements net.PacketConn.
type packetConn struct {
	h     *Host
	local netip.AddrPort // as bound: unspecified or the host's address

	// Guarded by h.n.mu.
	queue  []datagram
	closed bool
	rdl    time.Time
	wdl    time.Time
	wake   event // queue, closed or read deadline changed
}

var _ net.PacketConn = (*packetConn)(nil)

func (c *packetConn) opErr(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: udpAddr(c.local), Addr: addr, Err: err}
}

// ReadFrom reads one datagram into p (truncating it if p is short) and
// returns the sender's host address and socket port.
func (c *packetConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n := c.h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		if c.closed || n.closed {
			return 0, nil, c.opErr("read", nil, net.ErrClosed)
		}
		if len(c.queue) > 0 {
			d := c.queue[0]
			c.queue[0] = datagram{}
			c.queue = c.queue[1:]
			if len(c.queue) == 0 {
				c.queue = nil // let the backing array go
			}
			return copy(p, d.data), udpAddr(d.from), nil
		}
		if expired(c.rdl) {
			return 0, nil, c.opErr("read", nil, os.ErrDeadlineExceeded)
		}
		n.wait(&c.wake, nil, c.rdl, time.Time{})
	}
}

// WriteTo sends p to addr, a *net.UDPAddr (or any net.Addr whose String is
// an IP:port). It never blocks. A datagram nobody receives is dropped
// silently, as UDP would; one larger than 65507 bytes fails.
func (c *packetConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	dst, ok := addrPort(addr)
	if !ok {
		return 0, c.opErr("write", addr, errInvalid)
	}
	if len(p) > 65507 {
		return 0, c.opErr("write", addr, os.NewSyscallError("sendto", errMsgSize))
	}
	h := c.h
	n := h.n
	n.mu.Lock()
	if c.closed || n.closed {
		n.mu.Unlock()
		return 0, c.opErr("write", addr, net.ErrClosed)
	}
	if expired(c.wdl) {
		n.mu.Unlock()
		return 0, c.opErr("write", addr, os.ErrDeadlineExceeded)
	}
	n.stats.DatagramsSent++
	src := netip.AddrPortFrom(h.ip, c.local.Port())
	bcast := isBroadcast(dst.Addr())
	var targets []*packetConn
	if bcast {
		for _, r := range n.order {
			if r.ip.Is4() != dst.Addr().Is4() || r.ip.Is4() != h.ip.Is4() {
				continue
			}
			for _, rc := range r.udp[dst.Port()] {
				if !rc.closed {
					targets = append(targets, rc)
				}
			}
		}
	} else if r := n.hosts[dst.Addr()]; r != nil && r.ip.Is4() == h.ip.Is4() {
		for _, rc := range r.udp[dst.Port()] {
			if !rc.closed {
				targets = append(targets, rc)
				break
			}
		}
	}
	if len(targets) == 0 {
		n.stats.DatagramsDropped++
		n.mu.Unlock()
		return len(p), nil
	}
	data := slices.Clone(p)
	if hook := n.hook; hook != nil {
		n.mu.Unlock()
		kept := targets[:0]
		for _, rc := range targets {
			pk := Packet{Src: src, Dst: netip.AddrPortFrom(rc.h.ip, dst.Port()), Data: data, Broadcast: bcast}
			if !hook(pk) {
				kept = append(kept, rc)
			}
		}
		n.mu.Lock()
		n.stats.DatagramsDropped += uint64(len(targets) - len(kept))
		targets = kept
		if n.closed {
			n.mu.Unlock()
			return len(p), nil
		}
	}
	now := time.Now()
	for _, rc := range targets {
		l := n.link(h.ip, rc.h.ip)
		if n.blocked(h.ip, rc.h.ip) || (l.MTU > 0 && len(data) > l.MTU) || (l.Loss > 0 && n.rng.Float64() < l.Loss) {
			n.stats.DatagramsDropped++
			continue
		}
		n.schedule(now.Add(n.delay(l)), func() { rc.deliver(src, data) })
	}
	n.mu.Unlock()
	return len(p), nil
}

// deliver queues one arriving datagram. n.mu must be held.
func (c *packetConn) deliver(from netip.AddrPort, data []byte) {
	n := c.h.n
	if c.closed || len(c.queue) >= n.queueLen() {
		n.stats.DatagramsDropped++
		return
	}
	c.queue = append(c.queue, datagram{from: from, data: data})
	n.stats.DatagramsDelivered++
	c.wake.broadcast()
}

func (n *Net) queueLen() int {
	if n.PacketQueueLen < 1 {
		return DefaultPacketQueueLen
	}
	return n.PacketQueueLen
}

// Close unbinds the socket; queued datagrams are discarded and blocked
// reads return an error wrapping net.ErrClosed.
func (c *packetConn) Close() error {
	n := c.h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if c.closed {
		return c.opErr("close", nil, net.ErrClosed)
	}
	c.closed = true
	c.queue = nil
	port := c.local.Port()
	cs := slices.DeleteFunc(c.h.udp[port], func(x *packetConn) bool { return x == c })
	if len(cs) == 0 {
		delete(c.h.udp, port)
	} else {
		c.h.udp[port] = cs
	}
	c.wake.broadcast()
	return nil
}

// LocalAddr returns the bound address, a *net.UDPAddr (0.0.0.0 or :: if
// bound to the unspecified address).
func (c *packetConn) LocalAddr() net.Addr { return udpAddr(c.local) }

// SetDeadline sets both the read and the write deadline.
func (c *packetConn) SetDeadline(t time.Time) error {
	return c.setDeadline(t, true, true)
}

// SetReadDeadline sets the read deadline; a zero t means none.
func (c *packetConn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(t, true, false)
}

// SetWriteDeadline sets the write deadline. Writes never block, so it only
// makes writes fail once passed.
func (c *packetConn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(t, false, true)
}

func (c *packetConn) setDeadline(t time.Time, r, w bool) error {
	n := c.h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if c.closed || n.closed {
		return c.opErr("set", nil, net.ErrClosed)
	}
	if r {
		c.rdl = t
		c.wake.broadcast()
	}
	if w {
		c.wdl = t
	}
	return nil
}
