package simnet

import (
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"
)

// A stream is one connection: two ends and a pipe in each direction. All
// fields of stream, pipe and streamConn are guarded by n.mu.
type stream struct {
	n        *Net
	ends     [2]*streamConn // 0: the dialer's end, 1: the listener's
	pipes    [2]*pipe       // pipes[i] carries what ends[i] writes
	idx      int            // position in n.streams; -1 once forgotten
	reset    bool
	stalling bool   // a stall timeout is scheduled
	stallGen uint64 // invalidates scheduled stall timeouts
}

// segment is one Write's worth of bytes (or the end of the stream), with
// the time it reaches the other end.
type segment struct {
	at   time.Time
	data []byte
	fin  bool
}

// pipe is one direction of a stream. Segments are in FIFO order with
// non-decreasing arrival times. The first arrived segments are known to have
// reached the reader even though the partition now blocks the path; the
// rest are in flight, readable once their time has come and the path is
// open.
type pipe struct {
	src, dst netip.Addr
	segs     []segment
	off      int // bytes of segs[0] already read
	arrived  int
	pending  int       // bytes written and not yet read: the window in use
	last     time.Time // arrival time of the newest segment
	fin      bool      // the writer has sent its end of stream
	rclosed  bool      // the reader has closed: data is discarded
	rstAt    time.Time // when rclosed, when the writer learns it
	wake     event     // data, space, reset, close or deadline changed
}

// cut marks as arrived every segment that reached the reader by now, when
// the partition begins to block the pipe.
func (p *pipe) cut(now time.Time) {
	for p.arrived < len(p.segs) && !p.segs[p.arrived].at.After(now) {
		p.arrived++
	}
}

// resume re-times the held segments when the partition heals: nothing
// arrives before floor (one latency from now).
func (p *pipe) resume(floor time.Time) {
	if p.arrived == len(p.segs) {
		return
	}
	for i := p.arrived; i < len(p.segs); i++ {
		if p.segs[i].at.Before(floor) {
			p.segs[i].at = floor
		}
	}
	if p.last.Before(floor) {
		p.last = floor
	}
}

// held reports whether the pipe holds segments that have not arrived.
// Called only for a blocked pipe, where nothing beyond arrived can arrive.
func (p *pipe) held() bool { return p.arrived < len(p.segs) }

func (p *pipe) clear() {
	p.segs, p.off, p.arrived, p.pending = nil, 0, 0, 0
	p.wake.broadcast()
}

// newStream creates a connection between a dialer and a listener's host.
// n.mu must be held.
func (n *Net) newStream(from, to *Host, laddr, raddr netip.AddrPort) *stream {
	s := &stream{n: n}
	s.pipes[0] = &pipe{src: from.ip, dst: to.ip}
	s.pipes[1] = &pipe{src: to.ip, dst: from.ip}
	s.ends[0] = &streamConn{s: s, side: 0, host: from, local: laddr, remote: raddr}
	s.ends[1] = &streamConn{s: s, side: 1, host: to, local: raddr, remote: laddr}
	n.addStream(s)
	return s
}

// resetStream resets both ends of s. n.mu must be held.
func (n *Net) resetStream(s *stream) {
	if s.reset {
		return
	}
	s.reset = true
	n.stats.StreamsReset++
	s.drop()
	n.removeStream(s)
}

// drop discards everything in s and wakes all its waiters.
func (s *stream) drop() {
	s.stallGen++
	s.stalling = false
	for _, p := range s.pipes {
		p.clear()
	}
}

// checkStall starts or cancels the stall timeout of s: it runs while a
// partition holds data (or an end of stream) in either direction.
// n.mu must be held.
func (n *Net) checkStall(s *stream, now time.Time) {
	if s.reset {
		return
	}
	stalled := false
	for _, p := range s.pipes {
		if n.blocked(p.src, p.dst) && p.held() {
			stalled = true
		}
	}
	switch {
	case stalled && !s.stalling && n.StallTimeout > 0:
		s.stalling = true
		gen := s.stallGen
		n.schedule(now.Add(n.StallTimeout), func() {
			if s.stallGen == gen && s.stalling {
				n.resetStream(s)
			}
		})
	case !stalled && s.stalling:
		s.stalling = false
		s.stallGen++
	}
}

// push appends a segment to p. n.mu must be held.
func (n *Net) push(s *stream, p *pipe, data []byte, fin bool) {
	now := time.Now()
	at := now.Add(n.delay(n.link(p.src, p.dst)))
	if at.Before(p.last) {
		at = p.last
	}
	p.last = at
	p.segs = append(p.segs, segment{at: at, data: data, fin: fin})
	p.pending += len(data)
	p.wake.broadcast()
	if n.blocked(p.src, p.dst) {
		n.checkStall(s, now)
	}
}

func (n *Net) window() int {
	if n.StreamWindow < 1 {
		return DefaultStreamWindow
	}
	return n.StreamWindow
}

// streamConn is one end of a stream. It implements net.Conn, plus
// CloseWrite as *net.TCPConn does.
type streamConn struct {
	s             *stream
	side          int
	host          *Host
	local, remote netip.AddrPort
	closed        bool
	rdl, wdl      time.Time
}

var _ net.Conn = (*streamConn)(nil)

func (c *streamConn) in() *pipe  { return c.s.pipes[1-c.side] }
func (c *streamConn) out() *pipe { return c.s.pipes[c.side] }

func (c *streamConn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: tcpAddr(c.local), Addr: tcpAddr(c.remote), Err: err}
}

// Read reads data that has arrived, blocking until some has, the peer has
// closed (io.EOF), the connection is reset, or the read deadline passes.
func (c *streamConn) Read(b []byte) (int, error) {
	n := c.s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		if c.closed || n.closed {
			return 0, c.opErr("read", net.ErrClosed)
		}
		if c.s.reset {
			return 0, c.opErr("read", os.NewSyscallError("read", errReset))
		}
		if len(b) == 0 {
			return 0, nil
		}
		p := c.in()
		now := time.Now()
		open := !n.blocked(p.src, p.dst)
		ready := func(i int) bool { return i < p.arrived || open && !p.segs[i].at.After(now) }
		var wakeAt time.Time
		if len(p.segs) > 0 {
			if ready(0) {
				if p.segs[0].fin {
					return 0, io.EOF
				}
				k := 0
				for k < len(b) && len(p.segs) > 0 && ready(0) && !p.segs[0].fin {
					m := copy(b[k:], p.segs[0].data[p.off:])
					k += m
					p.off += m
					if p.off == len(p.segs[0].data) {
						p.segs[0] = segment{}
						p.segs = p.segs[1:]
						p.off = 0
						if p.arrived > 0 {
							p.arrived--
						}
					}
				}
				if len(p.segs) == 0 {
					p.segs = nil
				}
				p.pending -= k
				n.stats.StreamBytesDelivered += uint64(k)
				p.wake.broadcast() // window space for the writer
				return k, nil
			}
			if open {
				wakeAt = p.segs[0].at
			}
		}
		if expired(c.rdl) {
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		}
		n.wait(&p.wake, nil, c.rdl, wakeAt)
	}
}

// Write queues b for the peer. It blocks while the direction's window is
// full, until the reader makes room, the connection is reset or closed, or
// the write deadline passes; it then reports how much it queued.
func (c *streamConn) Write(b []byte) (int, error) {
	n := c.s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(b) > 0 && n.hook != nil && !c.closed && !n.closed && !c.s.reset {
		hook := n.hook
		n.mu.Unlock()
		drop := hook(Packet{Src: c.local, Dst: c.remote, Data: b, Stream: true})
		n.mu.Lock()
		if drop {
			n.resetStream(c.s)
		}
	}
	total := 0
	for {
		p := c.out()
		switch {
		case c.closed || n.closed:
			return total, c.opErr("write", net.ErrClosed)
		case c.s.reset:
			return total, c.opErr("write", os.NewSyscallError("write", errReset))
		case p.fin:
			return total, c.opErr("write", os.NewSyscallError("write", errPipe))
		case p.rclosed && !time.Now().Before(p.rstAt):
			return total, c.opErr("write", os.NewSyscallError("write", errPipe))
		case total == len(b):
			return total, nil
		case expired(c.wdl):
			return total, c.opErr("write", os.ErrDeadlineExceeded)
		}
		if space := n.window() - p.pending; space > 0 {
			k := min(space, len(b)-total)
			if !p.rclosed {
				n.push(c.s, p, slices.Clone(b[total:total+k]), false)
			}
			total += k
			n.stats.StreamBytesSent += uint64(k)
			continue
		}
		n.wait(&p.wake, nil, c.wdl, time.Time{})
	}
}

// Close closes the connection. Data already written is still delivered,
// followed by io.EOF; data arriving from the peer is discarded, and the
// peer's writes fail with syscall.EPIPE once the close has reached it.
func (c *streamConn) Close() error {
	n := c.s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if c.closed {
		return c.opErr("close", net.ErrClosed)
	}
	c.closed = true
	s := c.s
	if c.side == 0 {
		c.host.releaseTCP(c.local.Port())
	}
	in, out := c.in(), c.out()
	if !s.reset && !n.closed {
		if !out.fin {
			out.fin = true
			n.push(s, out, nil, true)
		}
		in.rclosed = true
		in.rstAt = time.Now().Add(n.link(in.src, in.dst).Latency)
		in.clear()
		n.checkStall(s, time.Now())
	}
	in.wake.broadcast()
	out.wake.broadcast()
	if s.ends[0].closed && s.ends[1].closed {
		s.stallGen++
		s.stalling = false
		n.removeStream(s)
	}
	return nil
}

// CloseWrite ends the outgoing direction: the peer reads io.EOF after the
// data already written, and further Writes fail. Reading continues.
func (c *streamConn) CloseWrite() error {
	n := c.s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case c.closed || n.closed:
		return c.opErr("close", net.ErrClosed)
	case c.s.reset:
		return c.opErr("close", os.NewSyscallError("shutdown", errReset))
	}
	if out := c.out(); !out.fin {
		out.fin = true
		n.push(c.s, out, nil, true)
	}
	return nil
}

// LocalAddr returns the local address, a *net.TCPAddr.
func (c *streamConn) LocalAddr() net.Addr { return tcpAddr(c.local) }

// RemoteAddr returns the peer's address, a *net.TCPAddr.
func (c *streamConn) RemoteAddr() net.Addr { return tcpAddr(c.remote) }

// SetDeadline sets both the read and the write deadline.
func (c *streamConn) SetDeadline(t time.Time) error { return c.setDeadline(t, true, true) }

// SetReadDeadline sets the read deadline; a zero t means none.
func (c *streamConn) SetReadDeadline(t time.Time) error { return c.setDeadline(t, true, false) }

// SetWriteDeadline sets the write deadline; a zero t means none.
func (c *streamConn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, false, true) }

func (c *streamConn) setDeadline(t time.Time, r, w bool) error {
	n := c.s.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if c.closed || n.closed {
		return c.opErr("set", net.ErrClosed)
	}
	if r {
		c.rdl = t
		c.in().wake.broadcast()
	}
	if w {
		c.wdl = t
		c.out().wake.broadcast()
	}
	return nil
}

// listener is a stream listener. It implements net.Listener.
type listener struct {
	h       *Host
	local   netip.AddrPort
	backlog []*streamConn
	closed  bool
	wake    event
}

var _ net.Listener = (*listener)(nil)

// Accept waits for and returns the next connection.
func (l *listener) Accept() (net.Conn, error) {
	n := l.h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	for {
		if l.closed || n.closed {
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: tcpAddr(l.local), Err: net.ErrClosed}
		}
		if len(l.backlog) > 0 {
			c := l.backlog[0]
			l.backlog[0] = nil
			l.backlog = l.backlog[1:]
			return c, nil
		}
		n.wait(&l.wake, nil, time.Time{}, time.Time{})
	}
}

// Close stops listening and frees the port. Connections not yet accepted
// are reset.
func (l *listener) Close() error {
	n := l.h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.closed {
		return &net.OpError{Op: "close", Net: "tcp", Addr: tcpAddr(l.local), Err: net.ErrClosed}
	}
	l.closed = true
	if l.h.tcp[l.local.Port()] == l {
		delete(l.h.tcp, l.local.Port())
	}
	for _, c := range l.backlog {
		c.closed = true
		n.resetStream(c.s)
	}
	l.backlog = nil
	l.wake.broadcast()
	return nil
}

// Addr returns the listening address, a *net.TCPAddr.
func (l *listener) Addr() net.Addr { return tcpAddr(l.local) }
