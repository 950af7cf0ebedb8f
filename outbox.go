package zyre

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozyre/zyre/internal/zmtp"
	"github.com/gozyre/zyre/internal/zre"
)

// controlSlack is room kept in every outbox beyond OutboxLen for the
// node's own small messages (PING-OK, JOIN, LEAVE, GOODBYE), so that a
// backlog of application data never crowds them out.
const controlSlack = 256 + cmdQueueLen

// outbox is our DEALER towards one peer: a bounded queue of encoded
// messages and one writer goroutine that connects (retrying until the
// connection is made; a connection that breaks ends the outbox, see
// connLost), then drains the queue into the connection's buffered
// writer and flushes when the queue is empty, so a burst costs one syscall.
// The actor is the only producer; the actor's wait group owns the writer.
type outbox struct {
	peer  zre.UUID
	addr  netip.AddrPort
	nw    Network
	zcfg  zmtp.Config
	log   *slog.Logger
	limit int // hard bound: OutboxLen + controlSlack

	// fullAt is OutboxLen and fullBytes OutboxBytes; while the queue has
	// reached either (full), the outbox is counted in *fulls
	// (Node.fullOutboxes) and Whisper and Shout wait (fullWait).
	fullAt    int
	fullBytes int64
	fulls     *atomic.Int32
	unsent    *atomic.Uint64 // Stats.MessagesUnsent

	// lostC is signalled when the connection breaks (see connLost).
	lostC chan<- struct{}

	mu       sync.Mutex
	q        [][][]byte
	bytes    int64 // size of the frames in q and in the writer's batch
	spare    [][][]byte
	closed   bool          // stop now, drop what is queued
	full     bool          // counted in *fulls
	flushing bool          // stop once the queue is empty (or the flush deadline passes)
	lostErr  error         // why the connection broke; the outbox is closed
	conn     *zmtp.Conn    // the writer's connection, for close to interrupt it
	room     chan struct{} // closed when the outbox is no longer full
	sig      chan struct{}
	cancel   context.CancelFunc
	ctx      context.Context
	finished chan struct{}
}

// flushTimeout bounds how long a closing outbox keeps trying to deliver
// what is queued (GOODBYE on Shutdown, for example).
const flushTimeout = 2 * time.Second

func newOutbox(a *actor, peer zre.UUID, addr netip.AddrPort, mech zmtp.Mechanism) *outbox {
	id := make([]byte, 17)
	id[0] = 1
	copy(id[1:], a.n.id[:])
	ctx, cancel := context.WithCancel(context.Background())
	o := &outbox{
		peer:      peer,
		addr:      addr,
		nw:        a.n.cfg.Network,
		limit:     a.n.cfg.OutboxLen + controlSlack,
		fullAt:    a.n.cfg.OutboxLen,
		fullBytes: a.n.cfg.OutboxBytes,
		fulls:     &a.n.fullOutboxes,
		unsent:    &a.n.stats.messagesUnsent,
		lostC:     a.lostC,
		zcfg: zmtp.Config{
			SocketType: zmtp.SocketDealer,
			Identity:   id,
			Mechanism:  mech,
			// The peer's ROUTER sends nothing after READY but heartbeat
			// commands: a small read buffer saves memory per peer.
			ReadBufferSize: 4 << 10,
			MaxMessageSize: a.n.cfg.MaxMessageSize,
			Logger:         a.log,
		},
		log:      a.log.With("peer", peer.String()),
		sig:      make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		finished: make(chan struct{}),
	}
	a.wg.Go(o.run)
	return o
}

// closedOutbox is an outbox that refuses everything (for an unusable endpoint).
func closedOutbox() *outbox {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := make(chan struct{})
	close(f)
	return &outbox{closed: true, ctx: ctx, cancel: cancel, finished: f, sig: make(chan struct{}, 1)}
}

// trySend queues one message; false when the outbox is full.
func (o *outbox) trySend(frames [][]byte) bool {
	o.mu.Lock()
	if o.closed || o.flushing || len(o.q) >= o.limit {
		o.mu.Unlock()
		return false
	}
	o.q = append(o.q, frames)
	for _, f := range frames {
		o.bytes += int64(len(f))
	}
	if !o.full && o.isFull() {
		o.setFull(true)
	}
	o.mu.Unlock()
	select {
	case o.sig <- struct{}{}:
	default:
	}
	return true
}

// isFull reports whether the queue holds OutboxLen messages, or the queue
// and the batch being written OutboxBytes bytes; o.mu held.
func (o *outbox) isFull() bool { return len(o.q) >= o.fullAt || o.bytes >= o.fullBytes }

// isFullNow reports whether the outbox is full.
func (o *outbox) isFullNow() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return !o.closed && o.isFull()
}

// fullWait returns nil when the outbox is not full, else a channel closed
// once it is not (or the outbox closed).
func (o *outbox) fullWait() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || !o.isFull() {
		return nil
	}
	if o.room == nil {
		o.room = make(chan struct{})
	}
	return o.room
}

// close stops the outbox at once; queued messages are dropped. A write
// in progress is interrupted: a peer that stopped reading must not hold
// up Close, nor Shutdown past flushTimeout.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.releaseRoom()
	o.setFull(false)
	c := o.conn
	o.mu.Unlock()
	o.cancel()
	if c != nil {
		c.Close()
	}
	select {
	case o.sig <- struct{}{}:
	default:
	}
}

// progress returns the bytes written to the peer's connection so far
// (checkStalls): it moves on while a long message goes out, in pieces.
func (o *outbox) progress() uint64 {
	o.mu.Lock()
	c := o.conn
	o.mu.Unlock()
	if c == nil {
		return 0
	}
	return c.Stats().BytesWritten
}

// closeFlush stops the outbox once what is queued has been written, or
// after flushTimeout.
func (o *outbox) closeFlush() {
	o.mu.Lock()
	o.flushing = true
	o.mu.Unlock()
	time.AfterFunc(flushTimeout, o.close)
	select {
	case o.sig <- struct{}{}:
	default:
	}
}

// setFull records whether the queue is full; o.mu held.
func (o *outbox) setFull(full bool) {
	if o.full == full || o.fulls == nil {
		return
	}
	o.full = full
	if full {
		o.fulls.Add(1)
	} else {
		o.fulls.Add(-1)
	}
}

func (o *outbox) releaseRoom() {
	if o.room != nil {
		close(o.room)
		o.room = nil
	}
}

// take swaps out everything queued, size bytes. done reports that the
// writer should stop. The batch's bytes count against OutboxBytes until
// the writer calls written.
func (o *outbox) take() (batch [][][]byte, size int64, done bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, 0, true
	}
	batch = o.q
	o.q = o.spare[:0]
	o.spare = nil
	o.roomMade()
	return batch, o.bytes, len(batch) == 0 && o.flushing
}

// written releases the bytes of a batch take returned.
func (o *outbox) written(size int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.bytes -= size
	o.roomMade()
}

// roomMade lets Whisper and Shout go on if the outbox is no longer full;
// o.mu held.
func (o *outbox) roomMade() {
	if !o.isFull() {
		o.setFull(false)
		o.releaseRoom()
	}
}

func (o *outbox) recycle(batch [][][]byte) {
	clear(batch)
	o.mu.Lock()
	if o.spare == nil {
		o.spare = batch[:0]
	}
	o.mu.Unlock()
}

func (o *outbox) run() {
	defer close(o.finished)
	defer o.cancel()
	backoff := 50 * time.Millisecond
	var conn *zmtp.Conn
	var dead <-chan struct{} // closed when conn's reader sees it end
	var readers sync.WaitGroup
	defer func() {
		if conn != nil {
			conn.Close()
		}
		readers.Wait()
		o.mu.Lock()
		left := len(o.q)
		clear(o.q)
		o.q = nil
		o.mu.Unlock()
		o.lost(left, "queued when the outbox closed")
	}()
	for {
		if conn == nil {
			c, d, err := o.connect(&readers)
			if err != nil {
				if o.ctx.Err() != nil || o.isFlushing() {
					// Leaving: the last messages are best effort, and a
					// peer we cannot reach is gone or going too.
					return
				}
				o.log.Debug("connect to peer failed; will retry", "endpoint", o.addr.String(), "err", err, "retry", backoff)
				select {
				case <-time.After(backoff):
				case <-o.ctx.Done():
					return
				}
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			conn, dead = c, d
		}
		batch, size, done := o.take()
		if done {
			return
		}
		if len(batch) == 0 {
			select {
			case <-o.sig:
			case <-dead:
				o.connLost(errors.New("closed by the peer or the network"))
				return
			case <-o.ctx.Done():
				return
			}
			continue
		}
		var err error
		sent := 0
		for _, m := range batch {
			if err = conn.Send(m); err != nil {
				break
			}
			sent++
		}
		if err == nil {
			if err = conn.Flush(); err != nil {
				sent = 0 // some may have left; counted as lost
			}
		}
		o.recycle(batch)
		o.written(size)
		if err != nil {
			o.lost(len(batch)-sent, "write failed")
			o.connLost(err)
			return
		}
	}
}

// connLost ends the outbox when its connection breaks. Unlike a ZMTP
// DEALER it does not reconnect: the session with the peer ends instead
// (why, and when the engine is told: connlost.go). A flushing outbox just
// stops.
func (o *outbox) connLost(err error) {
	o.mu.Lock()
	if o.closed || o.flushing || o.ctx.Err() != nil {
		o.mu.Unlock()
		return
	}
	o.closed = true
	o.lostErr = err
	o.releaseRoom()
	o.setFull(false)
	o.mu.Unlock()
	o.log.Info("connection to peer lost", "err", err)
	select {
	case o.lostC <- struct{}{}:
	default:
	}
}

// connErr returns why the connection broke, or nil.
func (o *outbox) connErr() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lostErr
}

// lost counts n messages to the peer that were never sent (Stats.
// MessagesUnsent) and says why.
func (o *outbox) lost(n int, why string) {
	if n == 0 || o.unsent == nil {
		return
	}
	o.unsent.Add(uint64(n))
	o.log.Info("messages to peer not sent", "count", n, "why", why)
}

// isFlushing reports whether closeFlush was called.
func (o *outbox) isFlushing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.flushing
}

// connect dials the peer and starts a reader of the connection, which
// closes dead when the connection ends.
func (o *outbox) connect(readers *sync.WaitGroup) (c *zmtp.Conn, dead <-chan struct{}, err error) {
	ctx, cancel := context.WithTimeout(o.ctx, 5*time.Second)
	defer cancel()
	nc, err := o.nw.Dial(ctx, o.addr)
	if err != nil {
		return nil, nil, err
	}
	c, err = zmtp.Handshake(ctx, nc, o.zcfg)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	o.mu.Lock()
	closed := o.closed
	if !closed {
		o.conn = c
	}
	o.mu.Unlock()
	if closed {
		c.Close()
		return nil, nil, errors.New("outbox closed")
	}
	// Read the peer's side so that ZMTP commands (PING, ERROR) are handled
	// and a closed connection is noticed even when we have nothing to send.
	d := make(chan struct{})
	readers.Go(func() {
		defer close(d)
		for {
			if _, err := c.Recv(); err != nil {
				return
			}
		}
	})
	return c, d, nil
}
