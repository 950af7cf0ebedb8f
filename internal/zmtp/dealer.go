package zmtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultQueueLen is the default length of a Dealer's send queue and of a
// Router's receive queue, in messages.
const DefaultQueueLen = 4096

// DefaultHandshakeTimeout bounds dialing plus the handshake of a Dealer,
// and the handshake of each connection a Router accepts.
const DefaultHandshakeTimeout = 10 * time.Second

// maxPendingPongs bounds the PONG replies a Dealer keeps while its writer
// is busy; a peer that PINGs faster than we can answer loses some.
const maxPendingPongs = 4

// DealerConfig configures a Dealer.
type DealerConfig struct {
	// Conn configures the connection. SocketType defaults to SocketDealer.
	Conn Config
	// Dial opens the connection to the peer. Required. The context
	// carries HandshakeTimeout and is cancelled by Close.
	Dial func(ctx context.Context) (net.Conn, error)
	// QueueLen bounds the send queue in messages. 0: DefaultQueueLen.
	QueueLen int
	// HandshakeTimeout bounds Dial plus the ZMTP handshake.
	// 0: DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// OnDone, if set, is called once if the connection fails (dial,
	// handshake, read or write error, ERROR from the peer, heartbeat
	// timeout) before Close or Shutdown were called. It runs on a Dealer
	// goroutine and must not block for long.
	OnDone func(err error)
	// OnMessage, if set, receives the messages the peer sends (a ZRE
	// ROUTER sends none). It runs on the reader goroutine; the frames
	// are the callee's. Nil: such messages are dropped and counted.
	OnMessage func(msg [][]byte)
}

// Dealer is the outbound side of a DEALER socket with a single peer. It
// dials and handshakes in the background; messages sent meanwhile wait in
// its bounded queue. One writer goroutine drains the queue into the
// connection's buffer and flushes only when the queue is empty, so a
// burst costs one system call; one reader goroutine answers PINGs and
// notices when the peer goes away. There is no reconnection: when the
// connection fails, Done is closed, OnDone is called, and the owner
// decides what to do.
//
// All methods are safe for concurrent use.
type Dealer struct {
	cfg    DealerConfig
	log    *slog.Logger
	ctx    context.Context // cancelled by Close: aborts dial and handshake
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex
	q            [][][]byte // queued messages, oldest first
	spare        [][][]byte // the writer's previous batch, reused as the next queue
	pongs        [][]byte   // PONG contexts to send
	closing      bool       // no more sends: Shutdown, Close or failure
	sendErr      error      // what Send returns once closing
	writerIdle   bool       // the writer is waiting for wake
	spaceWaiters int
	space        chan struct{} // closed and replaced when the writer takes a batch

	wake    chan struct{} // capacity 1: wakes the writer
	stop    chan struct{} // closed by Close
	drained chan struct{} // closed by the writer after a graceful drain
	ready   chan struct{} // closed after the handshake
	done    chan struct{} // closed when the Dealer stopped for any reason

	stopOnce sync.Once
	doneOnce sync.Once
	err      error // why Done was closed; set before closing done
	conn     atomic.Pointer[Conn]
	owner    atomic.Bool // Close or Shutdown was called: no OnDone

	sent    atomic.Uint64
	dropped atomic.Uint64
}

// NewDealer validates cfg and starts connecting in the background. It
// never blocks on the network.
func NewDealer(cfg DealerConfig) (*Dealer, error) {
	if cfg.Dial == nil {
		return nil, fmt.Errorf("%w: DealerConfig.Dial is nil", ErrConfig)
	}
	conf, err := socketDefaults(cfg.Conn, SocketDealer, &cfg.QueueLen, &cfg.HandshakeTimeout)
	if err != nil {
		return nil, err
	}
	cfg.Conn = conf
	d := &Dealer{
		cfg:     cfg,
		log:     conf.Logger,
		space:   make(chan struct{}),
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		drained: make(chan struct{}),
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Go(d.run)
	return d, nil
}

// run dials, handshakes, starts the reader and then becomes the writer.
func (d *Dealer) run() {
	ctx, cancel := context.WithTimeout(d.ctx, d.cfg.HandshakeTimeout)
	nc, err := d.cfg.Dial(ctx)
	if err == nil && nc == nil {
		err = errors.New("no connection and no error")
	}
	if err != nil {
		cancel()
		d.fail(fmt.Errorf("zmtp: dial: %w", err))
		return
	}
	c, err := Handshake(ctx, nc, d.cfg.Conn)
	cancel()
	if err != nil {
		d.fail(err)
		return
	}
	c.onPing = d.queuePong
	d.conn.Store(c)
	select {
	case <-d.stop: // Close raced with the handshake and did not see c
		c.Close()
		return
	default:
	}
	d.log.Debug("zmtp dealer connected", "remote", addrString(c.RemoteAddr()), "peer_type", string(c.PeerSocketType()))
	close(d.ready)
	d.wg.Go(func() { d.readLoop(c) })
	d.writeLoop(c)
}

func (d *Dealer) readLoop(c *Conn) {
	for {
		msg, err := c.Recv()
		if err != nil {
			d.fail(err)
			return
		}
		if d.cfg.OnMessage != nil {
			d.cfg.OnMessage(msg)
		} else {
			d.dropped.Add(1)
		}
	}
}

// queuePong hands a PONG to the writer (it owns the connection's writes).
func (d *Dealer) queuePong(context []byte) {
	d.mu.Lock()
	if len(d.pongs) < maxPendingPongs {
		d.pongs = append(d.pongs, context)
	}
	wake := d.writerIdle
	d.writerIdle = false
	d.mu.Unlock()
	if wake {
		d.signal()
	}
}

func (d *Dealer) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *Dealer) writeLoop(c *Conn) {
	var tick <-chan time.Time
	if d.cfg.Conn.HeartbeatInterval > 0 {
		t := time.NewTicker(d.cfg.Conn.HeartbeatInterval)
		defer t.Stop()
		tick = t.C
	}
	var pongs [][]byte
	for {
		d.mu.Lock()
		if len(d.q) == 0 && len(d.pongs) == 0 {
			d.mu.Unlock()
			if err := c.Flush(); err != nil {
				d.fail(err)
				return
			}
			d.mu.Lock()
			for len(d.q) == 0 && len(d.pongs) == 0 {
				if d.closing {
					d.mu.Unlock()
					close(d.drained)
					return
				}
				d.writerIdle = true
				d.mu.Unlock()
				select {
				case <-d.wake:
				case <-d.stop:
					return
				case <-d.done:
					return
				case now := <-tick:
					if err := c.Heartbeat(now); err != nil {
						d.fail(err)
						return
					}
				}
				d.mu.Lock()
			}
		}
		batch := d.q
		d.q = d.spare
		pongs, d.pongs = d.pongs, pongs[:0]
		if d.spaceWaiters > 0 {
			close(d.space)
			d.space = make(chan struct{})
		}
		d.mu.Unlock()

		err := d.writeBatch(c, pongs, batch)
		clear(batch)
		clear(pongs)
		d.spare = batch[:0]
		if err != nil {
			d.fail(err)
			return
		}
	}
}

// writeBatch encodes queued PONGs and messages under one lock.
func (d *Dealer) writeBatch(c *Conn, pongs [][]byte, batch [][][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, p := range pongs {
		if err := c.w.WriteCommand(CommandPong, p); err != nil {
			return c.writeErr(err)
		}
	}
	for _, m := range batch {
		if err := c.w.WriteMessage(m); err != nil {
			return c.writeErr(err)
		}
	}
	d.sent.Add(uint64(len(batch)))
	return nil
}

// fail stops the Dealer because of err (the first error wins).
func (d *Dealer) fail(err error) {
	first := false
	d.doneOnce.Do(func() {
		first = true
		d.mu.Lock()
		d.err = err
		d.closing = true
		if d.sendErr == nil {
			d.sendErr = fmt.Errorf("%w: %w", ErrClosed, err)
		}
		if d.spaceWaiters > 0 {
			close(d.space)
			d.space = make(chan struct{})
		}
		d.q = nil
		d.mu.Unlock()
		close(d.done)
	})
	if !first {
		return
	}
	d.cancel()
	if c := d.conn.Load(); c != nil {
		c.Close()
	}
	if !d.owner.Load() {
		if routine(err) {
			d.log.Debug("zmtp dealer stopped", "err", err)
		} else {
			d.log.Warn("zmtp dealer stopped", "err", err)
		}
		if d.cfg.OnDone != nil {
			d.cfg.OnDone(err)
		}
	}
}

// TrySend queues msg without blocking. It returns ErrQueueFull when the
// queue is full, and an error matching ErrClosed once the Dealer is
// closing or failed. The Dealer keeps msg and its frames until they are
// written: the caller must not modify them afterwards (sharing the same
// frames between several Dealers is fine).
func (d *Dealer) TrySend(msg [][]byte) error {
	if len(msg) == 0 {
		return ErrEmptyMessage
	}
	d.mu.Lock()
	if d.closing {
		err := d.sendErr
		d.mu.Unlock()
		return err
	}
	if len(d.q) >= d.cfg.QueueLen {
		d.mu.Unlock()
		return ErrQueueFull
	}
	d.q = append(d.q, msg)
	wake := d.writerIdle
	d.writerIdle = false
	d.mu.Unlock()
	if wake {
		d.signal()
	}
	return nil
}

// Send queues msg, waiting while the queue is full until ctx ends. Like
// TrySend, it keeps msg until it is written.
func (d *Dealer) Send(ctx context.Context, msg [][]byte) error {
	if len(msg) == 0 {
		return ErrEmptyMessage
	}
	d.mu.Lock()
	for {
		if d.closing {
			err := d.sendErr
			d.mu.Unlock()
			return err
		}
		if len(d.q) < d.cfg.QueueLen {
			break
		}
		ch := d.space
		d.spaceWaiters++
		d.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		d.mu.Lock()
		d.spaceWaiters--
		if err != nil {
			d.mu.Unlock()
			return err
		}
	}
	d.q = append(d.q, msg)
	wake := d.writerIdle
	d.writerIdle = false
	d.mu.Unlock()
	if wake {
		d.signal()
	}
	return nil
}

// Len returns the number of queued messages not yet handed to the
// connection.
func (d *Dealer) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.q)
}

// Ready is closed when the handshake has completed.
func (d *Dealer) Ready() <-chan struct{} { return d.ready }

// Done is closed when the Dealer has stopped: failure, Close or Shutdown.
func (d *Dealer) Done() <-chan struct{} { return d.done }

// Err returns why the Dealer stopped (nil while it runs). After Close or
// a completed Shutdown it matches ErrClosed.
func (d *Dealer) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// Conn returns the connection once the handshake has completed (nil
// before). Use it for its accessors (peer metadata, Stats) only: the
// Dealer's goroutines own reading and writing.
func (d *Dealer) Conn() *Conn { return d.conn.Load() }

// DealerStats are a Dealer's counters.
type DealerStats struct {
	Queued  int    // messages waiting in the queue
	Sent    uint64 // messages handed to the connection's buffer
	Dropped uint64 // messages received from the peer and dropped (no OnMessage)
}

// Stats returns the Dealer's counters.
func (d *Dealer) Stats() DealerStats {
	return DealerStats{Queued: d.Len(), Sent: d.sent.Load(), Dropped: d.dropped.Load()}
}

// Close stops the Dealer at once: queued messages are dropped, the
// connection is closed, and Close waits for its goroutines to end. It is
// safe to call more than once.
func (d *Dealer) Close() error {
	d.owner.Store(true)
	d.stopOnce.Do(func() { close(d.stop) })
	d.fail(ErrClosed)
	d.cancel()
	if c := d.conn.Load(); c != nil {
		c.Close()
	}
	d.wg.Wait()
	return nil
}

// Shutdown stops accepting messages, waits until everything queued has
// been written and flushed (used to deliver a last GOODBYE), then closes
// like Close. If ctx ends first, it closes at once and returns ctx's
// error; if the connection failed, it returns that failure.
func (d *Dealer) Shutdown(ctx context.Context) error {
	d.owner.Store(true)
	d.mu.Lock()
	if !d.closing {
		d.closing = true
		d.sendErr = ErrClosed
	}
	wake := d.writerIdle
	d.writerIdle = false
	d.mu.Unlock()
	if wake {
		d.signal()
	}
	var err error
	// While the flush is in progress the writer may be blocked on a peer
	// that does not read: make ctx's end unblock it.
	stop := context.AfterFunc(ctx, func() {
		if c := d.conn.Load(); c != nil {
			_ = c.nc.SetWriteDeadline(time.Unix(1, 0))
		}
	})
	select {
	case <-d.drained:
	case <-d.done:
		if d.err != nil && !errors.Is(d.err, ErrClosed) {
			err = d.err
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	stop()
	d.Close()
	return err
}

// socketDefaults fills what Dealer and Router configurations share: the
// connection's defaults (with typ as the socket type when unset), the
// queue length and the handshake timeout.
func socketDefaults(conn Config, typ SocketType, queueLen *int, handshakeTimeout *time.Duration) (Config, error) {
	if conn.SocketType == "" {
		conn.SocketType = typ
	}
	if *queueLen <= 0 {
		*queueLen = DefaultQueueLen
	}
	if *handshakeTimeout <= 0 {
		*handshakeTimeout = DefaultHandshakeTimeout
	}
	return conn.withDefaults()
}
