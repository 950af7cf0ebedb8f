package zmtp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Message is a message received by a Router.
type Message struct {
	// Identity is the routing id of the connection it came from: the
	// peer's Identity property, or a generated 0x00 + 4-byte id when the
	// peer sent none. It is shared by all messages of the connection;
	// do not modify it.
	Identity []byte
	// Frames are the message's frames, owned by the receiver. Nil Frames
	// is the notice that the connection ended (RouterConfig.NotifyClose).
	Frames [][]byte
}

// RouterConfig configures a Router.
type RouterConfig struct {
	// Conn configures every accepted connection. SocketType defaults to
	// SocketRouter; Identity is normally empty.
	Conn Config
	// QueueLen bounds the receive queue shared by all connections, in
	// messages. When it is full, connection readers stop reading and
	// TCP pushes back on the senders. 0: DefaultQueueLen.
	QueueLen int
	// QueueBytes, if positive, also bounds the queue in bytes (the sum of
	// the frames' lengths): readers wait while it holds QueueBytes or
	// more. A message is taken in whenever the queue holds less, so the
	// queue may go past QueueBytes by one message per connection (the
	// rest of what the connection has read at once, at most its read
	// buffer, or one message longer than it). 0: no bound in bytes.
	QueueBytes int64
	// HandshakeTimeout bounds each connection's handshake.
	// 0: DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// OnDisconnect, if set, is called when an established connection
	// ends, with its routing id and the reason (io.EOF for a clean close
	// by the peer, ErrHandover when a newer connection took the identity
	// over, ErrClosed when the Router closed it). It runs on the
	// connection's goroutine and must not block for long.
	OnDisconnect func(identity []byte, err error)
	// NotifyClose, if set, queues a Message with nil Frames when an
	// established connection ends, after the last message read from it,
	// so that the receiver knows everything it sent has been seen. No
	// notice is queued for a connection that a newer one took over, nor
	// once the Router is closed. The receiver acknowledges each notice it
	// has handled with NoticeDone; NoticePending tells whether one of an
	// identity is still on its way.
	NotifyClose bool
}

// Router is the inbound side of a ROUTER socket: it accepts connections
// from a net.Listener, handshakes each one, and delivers the messages of
// all of them through one bounded queue, each tagged with the routing id
// of its connection. Sending back is not supported (ZRE does not need it).
//
// When a connection presents an identity that is already connected, the
// older connection is closed and the new one takes over (libzmq's
// ROUTER_HANDOVER). Failed handshakes and protocol errors close only the
// connection concerned; they are logged (rate-limited) and counted.
//
// Goroutines: one accept loop, one per connection (handshake, then
// reader), and one heartbeat loop when heartbeats are enabled. Close stops
// them all and waits. All methods are safe for concurrent use.
type Router struct {
	ln   net.Listener
	cfg  RouterConfig
	log  *slog.Logger
	ctx  context.Context // cancelled by Close: aborts handshakes
	stop context.CancelFunc
	wg   sync.WaitGroup
	warn warnLimiter

	cmu     sync.Mutex
	conns   map[string]*routerConn // established, by routing id
	netConn map[net.Conn]struct{}  // every open connection, for Close
	nextID  uint32
	closed  bool

	qmu          sync.Mutex
	ring         []Message
	head, n      int
	bytes        int64          // sum of the queued messages' sizes
	notices      map[string]int // close notices due, queued or not yet acknowledged, by identity (lock order: cmu, then qmu)
	recvIdle     bool
	recvWake     chan struct{} // capacity 1
	spaceWaiters int
	space        chan struct{} // closed and replaced when room is made

	pool bufPool // shared by all connections, fed by Release

	accepted, hsFailures, protoErrors, handovers, messages, superseded, unknown atomic.Uint64
	closeOnce                                                                   sync.Once
}

type routerConn struct {
	c          *Conn
	id         []byte
	superseded atomic.Bool           // a newer connection took its identity over
	reason     atomic.Pointer[error] // why we closed it, if we did
}

func (rc *routerConn) closeWith(err error) {
	rc.reason.CompareAndSwap(nil, &err)
	rc.c.Close()
}

// NewRouter starts serving ln. The Router owns ln from now on and closes
// it on Close.
func NewRouter(ln net.Listener, cfg RouterConfig) (*Router, error) {
	conf, err := socketDefaults(cfg.Conn, SocketRouter, &cfg.QueueLen, &cfg.HandshakeTimeout)
	if err != nil {
		return nil, err
	}
	cfg.Conn = conf
	r := &Router{
		ln:       ln,
		cfg:      cfg,
		log:      conf.Logger,
		conns:    make(map[string]*routerConn),
		netConn:  make(map[net.Conn]struct{}),
		nextID:   rand.Uint32(),
		ring:     make([]Message, cfg.QueueLen),
		recvWake: make(chan struct{}, 1),
		space:    make(chan struct{}),
	}
	r.warn.log = r.log
	r.ctx, r.stop = context.WithCancel(context.Background())
	r.wg.Go(r.acceptLoop)
	if cfg.Conn.HeartbeatInterval > 0 {
		r.wg.Go(r.heartbeatLoop)
	}
	return r, nil
}

// Addr returns the listener's address.
func (r *Router) Addr() net.Addr { return r.ln.Addr() }

func (r *Router) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := r.ln.Accept()
		if err != nil {
			if r.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off and retry.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			r.warn.Warn("zmtp router accept failed", "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		r.cmu.Lock()
		if r.closed {
			r.cmu.Unlock()
			nc.Close()
			return
		}
		r.netConn[nc] = struct{}{}
		r.cmu.Unlock()
		r.accepted.Add(1)
		r.wg.Go(func() { r.serve(nc) })
	}
}

// serve handshakes one connection and then reads it until it ends.
func (r *Router) serve(nc net.Conn) {
	defer func() {
		r.cmu.Lock()
		delete(r.netConn, nc)
		r.cmu.Unlock()
		nc.Close()
	}()
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.HandshakeTimeout)
	c, err := Handshake(ctx, nc, r.cfg.Conn)
	cancel()
	if err != nil {
		if r.ctx.Err() == nil {
			r.hsFailures.Add(1)
			r.warn.Warn("zmtp router handshake failed", "remote", addrString(nc.RemoteAddr()), "err", err)
		}
		return
	}
	c.r.ar.pool = &r.pool
	rc := &routerConn{c: c}
	if !r.register(rc) {
		c.Close()
		return
	}
	err = r.readLoop(rc)
	if p := rc.reason.Load(); p != nil {
		err = *p
	}
	r.cmu.Lock()
	current := r.conns[string(rc.id)] == rc
	notify := current && r.cfg.NotifyClose
	if notify {
		// Due before the connection stops being current, so that a
		// receiver always finds it open or its notice pending.
		r.qmu.Lock()
		if r.notices == nil {
			r.notices = make(map[string]int)
		}
		r.notices[string(rc.id)]++
		r.qmu.Unlock()
	}
	if current {
		delete(r.conns, string(rc.id))
	}
	r.cmu.Unlock()
	if notify {
		if r.push(rc, []Message{{Identity: rc.id}}) != nil {
			r.NoticeDone(rc.id)
		}
	}
	r.unknown.Add(c.Stats().UnknownCommands)
	if routine(err) {
		r.log.Debug("zmtp router connection closed", "remote", addrString(nc.RemoteAddr()), "identity", fmt.Sprintf("%x", rc.id), "err", err)
	} else {
		r.protoErrors.Add(1)
		r.warn.Warn("zmtp router connection dropped", "remote", addrString(nc.RemoteAddr()), "identity", fmt.Sprintf("%x", rc.id), "err", err)
	}
	if r.cfg.OnDisconnect != nil {
		r.cfg.OnDisconnect(rc.id, err)
	}
}

// register gives rc its routing id and makes it the connection for that
// id, closing an older one (handover). It fails when the Router is closed.
func (r *Router) register(rc *routerConn) bool {
	r.cmu.Lock()
	defer r.cmu.Unlock()
	if r.closed {
		return false
	}
	id := rc.c.PeerIdentity()
	if len(id) == 0 || id[0] == 0 {
		// No identity (or one in the reserved range): generate one, as
		// libzmq does, 0x00 + a 32-bit counter.
		for {
			var b [5]byte
			binary.BigEndian.PutUint32(b[1:], r.nextID)
			r.nextID++
			if _, taken := r.conns[string(b[:])]; !taken {
				id = b[:]
				break
			}
		}
	}
	rc.id = id
	if old := r.conns[string(id)]; old != nil {
		r.handovers.Add(1)
		r.log.Debug("zmtp router handover", "identity", fmt.Sprintf("%x", id))
		old.superseded.Store(true) // before rc can queue anything (push)
		old.closeWith(ErrHandover)
	}
	r.conns[string(id)] = rc
	return true
}

// readLoop reads messages and pushes them to the queue in batches: it
// pushes whenever the next read might block, so nothing waits in the
// batch for more network input.
func (r *Router) readLoop(rc *routerConn) error {
	const maxBatch = 128
	batch := make([]Message, 0, maxBatch)
	c := rc.c
	for {
		msg, err := c.Recv()
		if err != nil {
			if len(batch) > 0 {
				r.push(rc, batch)
			}
			return err
		}
		batch = append(batch, Message{Identity: rc.id, Frames: msg})
		if len(batch) == maxBatch || !c.r.messageBuffered() {
			if err := r.push(rc, batch); err != nil {
				return err
			}
			clear(batch)
			batch = batch[:0]
		}
	}
}

// push appends rc's msgs to the queue, waiting for room, and counts them
// (close notices aside). It fails with ErrClosed when the Router is
// closed, and with ErrHandover once a newer connection has taken rc's
// identity: what rc still had to queue is dropped and counted
// (RouterStats.Superseded), so that nothing of the old connection comes
// after the new one's first message.
func (r *Router) push(rc *routerConn, msgs []Message) error {
	notice := len(msgs) == 1 && msgs[0].Frames == nil
	r.qmu.Lock()
	defer r.qmu.Unlock()
	for len(msgs) > 0 {
		if rc.superseded.Load() {
			if !notice {
				r.superseded.Add(uint64(len(msgs)))
			}
			return ErrHandover
		}
		k, size := r.fits(msgs)
		if k == 0 {
			ch := r.space
			r.spaceWaiters++
			r.qmu.Unlock()
			var err error
			select {
			case <-ch:
			case <-r.ctx.Done():
				err = ErrClosed
			}
			r.qmu.Lock()
			r.spaceWaiters--
			if err != nil {
				return err
			}
			continue
		}
		tail := (r.head + r.n) % len(r.ring)
		m := copy(r.ring[tail:], msgs[:k])
		copy(r.ring, msgs[m:k])
		r.n += k
		r.bytes += size
		if !notice {
			r.messages.Add(uint64(k))
		}
		msgs = msgs[k:]
		if r.recvIdle {
			r.recvIdle = false
			select {
			case r.recvWake <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// fits returns how many of msgs the queue takes now, and their size; r.qmu
// held. Messages are taken while there is a free slot and, with QueueBytes
// set, while the queue holds less than QueueBytes.
func (r *Router) fits(msgs []Message) (k int, size int64) {
	free := min(len(r.ring)-r.n, len(msgs))
	if r.cfg.QueueBytes <= 0 {
		return free, 0
	}
	for k < free && r.bytes+size < r.cfg.QueueBytes {
		size += messageSize(msgs[k].Frames)
		k++
	}
	return k, size
}

// messageSize is the sum of the frames' lengths.
func messageSize(frames [][]byte) int64 {
	var n int64
	for _, f := range frames {
		n += int64(len(f))
	}
	return n
}

// Recv returns the next message, waiting until one arrives, ctx ends or
// the Router is closed (ErrClosed).
func (r *Router) Recv(ctx context.Context) (Message, error) {
	var one [1]Message
	msgs, err := r.RecvBatch(ctx, one[:0])
	if err != nil {
		return Message{}, err
	}
	return msgs[0], nil
}

// RecvBatch appends queued messages to dst, as many as fit in its spare
// capacity (at least one: dst grows if it has no room), waiting until at
// least one is available, ctx ends or the Router is closed (ErrClosed).
// Receiving in batches costs one lock per batch instead of per message.
func (r *Router) RecvBatch(ctx context.Context, dst []Message) ([]Message, error) {
	r.qmu.Lock()
	for r.n == 0 {
		if r.ctx.Err() != nil {
			r.qmu.Unlock()
			return dst, ErrClosed
		}
		r.recvIdle = true
		r.qmu.Unlock()
		select {
		case <-r.recvWake:
		case <-ctx.Done():
			return dst, ctx.Err()
		case <-r.ctx.Done():
			return dst, ErrClosed
		}
		r.qmu.Lock()
	}
	k := min(r.n, max(cap(dst)-len(dst), 1))
	for k > 0 {
		end := min(r.head+k, len(r.ring))
		seg := r.ring[r.head:end]
		dst = append(dst, seg...)
		if r.cfg.QueueBytes > 0 {
			for i := range seg {
				r.bytes -= messageSize(seg[i].Frames)
			}
		}
		clear(seg)
		k -= len(seg)
		r.n -= len(seg)
		r.head = end % len(r.ring)
	}
	if r.n == 0 {
		r.head = 0
	} else if r.recvIdle {
		// Another receiver is waiting and there is more.
		r.recvIdle = false
		select {
		case r.recvWake <- struct{}{}:
		default:
		}
	}
	if r.spaceWaiters > 0 {
		close(r.space)
		r.space = make(chan struct{})
	}
	r.qmu.Unlock()
	return dst, nil
}

// NoticeDone acknowledges a close notice (RouterConfig.NotifyClose) of
// this identity: the receiver has handled it and everything before it.
func (r *Router) NoticeDone(identity []byte) {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	if n := r.notices[string(identity)]; n > 1 {
		r.notices[string(identity)] = n - 1
	} else {
		delete(r.notices, string(identity))
	}
}

// NoticePending reports whether a close notice of this identity has been
// queued and not yet acknowledged (NoticeDone): some connection of it
// ended and the receiver has not yet seen all it sent.
func (r *Router) NoticePending(identity []byte) bool {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	return r.notices[string(identity)] > 0
}

// Release hands the frames of received messages back for reuse once the
// caller is completely done with them (it must not touch them afterwards).
// It is optional: unreleased frames are collected by the GC. Releasing
// saves fresh allocations of large bodies (32 KiB and more; smaller frames
// are ignored) and the page faults and GC work that come with them. The
// frames of each message are set to nil.
func (r *Router) Release(msgs []Message) {
	for i := range msgs {
		r.pool.put(msgs[i].Frames)
	}
}

// ReleaseFrames is Release for frames of one message, or any frames the
// caller got from this Router and is done with.
func (r *Router) ReleaseFrames(frames [][]byte) { r.pool.put(frames) }

// heartbeatLoop drives Conn.Heartbeat for every connection.
func (r *Router) heartbeatLoop() {
	t := time.NewTicker(r.cfg.Conn.HeartbeatInterval)
	defer t.Stop()
	var list []*routerConn
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-t.C:
			r.cmu.Lock()
			list = list[:0]
			for _, rc := range r.conns {
				list = append(list, rc)
			}
			r.cmu.Unlock()
			for _, rc := range list {
				if err := rc.c.Heartbeat(now); err != nil {
					rc.closeWith(err)
				}
			}
			clear(list)
		}
	}
}

// BytesReceived returns how many bytes the connection with this routing
// id has read from the network so far, commands and heartbeats included:
// a cheap liveness signal that does not depend on the consumer keeping up
// with Recv. While the receive queue is full, readers stop reading (that
// is the backpressure), so a caller judging liveness should not count a
// peer as silent while Stats().Queued is at QueueLen. ok is false when no
// such connection exists.
func (r *Router) BytesReceived(identity []byte) (n uint64, ok bool) {
	r.cmu.Lock()
	rc := r.conns[string(identity)]
	r.cmu.Unlock()
	if rc == nil {
		return 0, false
	}
	return rc.c.Stats().BytesRead, true
}

// Disconnect closes the connection with this routing id, if any, and
// reports whether there was one.
func (r *Router) Disconnect(identity []byte) bool {
	r.cmu.Lock()
	rc := r.conns[string(identity)]
	r.cmu.Unlock()
	if rc == nil {
		return false
	}
	rc.closeWith(ErrClosed)
	return true
}

// RouterStats are a Router's counters.
type RouterStats struct {
	Accepted          uint64 // connections accepted
	Active            int    // established connections now
	HandshakeFailures uint64 // connections closed during the handshake
	ProtocolErrors    uint64 // established connections closed for bad input, ERROR, timeouts or I/O errors
	Handovers         uint64 // connections replaced by a newer one with the same identity
	Superseded        uint64 // messages read from a replaced connection, dropped (see Handovers)
	Messages          uint64 // messages queued
	Queued            int    // messages waiting in the queue
	QueuedBytes       int64  // their size, when QueueBytes is set
	UnknownCommands   uint64 // ignored commands, from closed connections
}

// Stats returns the Router's counters.
func (r *Router) Stats() RouterStats {
	r.cmu.Lock()
	active := len(r.conns)
	r.cmu.Unlock()
	r.qmu.Lock()
	queued, queuedBytes := r.n, r.bytes
	r.qmu.Unlock()
	return RouterStats{
		Accepted:          r.accepted.Load(),
		Active:            active,
		HandshakeFailures: r.hsFailures.Load(),
		ProtocolErrors:    r.protoErrors.Load(),
		Handovers:         r.handovers.Load(),
		Superseded:        r.superseded.Load(),
		Messages:          r.messages.Load(),
		Queued:            queued,
		QueuedBytes:       queuedBytes,
		UnknownCommands:   r.unknown.Load(),
	}
}

// Close stops accepting, closes every connection and the listener, and
// waits for all goroutines. Messages still queued are dropped. It is safe
// to call more than once.
func (r *Router) Close() error {
	var err error
	r.closeOnce.Do(func() {
		r.stop()
		err = r.ln.Close()
		r.cmu.Lock()
		r.closed = true
		for _, rc := range r.conns {
			rc.closeWith(ErrClosed)
		}
		for nc := range r.netConn {
			nc.Close()
		}
		r.cmu.Unlock()
	})
	r.wg.Wait()
	return err
}

// routine reports whether a connection ended in an ordinary way: closed
// by the peer between messages, by us, or by a handover. Anything else is
// a protocol error, an ERROR from the peer, a timeout or an I/O failure.
func routine(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, ErrClosed) || errors.Is(err, ErrHandover)
}

// warnLimiter rate-limits warnings: remote input must not flood logs.
// At most warnBurst warnings per warnWindow are logged; the others are
// counted and reported with the next one logged.
type warnLimiter struct {
	log        *slog.Logger
	mu         sync.Mutex
	start      time.Time
	count      int
	suppressed int
}

const (
	warnWindow = time.Second
	warnBurst  = 10
)

func (w *warnLimiter) Warn(msg string, args ...any) {
	now := time.Now()
	w.mu.Lock()
	if now.Sub(w.start) > warnWindow {
		w.start, w.count = now, 0
	}
	w.count++
	if w.count > warnBurst {
		w.suppressed++
		w.mu.Unlock()
		return
	}
	sup := w.suppressed
	w.suppressed = 0
	w.mu.Unlock()
	if sup > 0 {
		args = append(args, "suppressed", sup)
	}
	w.log.Warn(msg, args...)
}
