package zyre

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozyre/zyre/internal/engine"
	"github.com/gozyre/zyre/internal/gossip"
	"github.com/gozyre/zyre/internal/zmtp"
	"github.com/gozyre/zyre/internal/zmtp/curve"
	"github.com/gozyre/zyre/internal/zre"
)

// Gossip I/O around the sans-IO gossip.Engine.
//
// A hub is one goroutine that owns a gossip.Engine, in the same actor
// shape as the node: it steps the engine, performs its outputs and keeps
// one timer at the engine's next deadline. Around it:
//
//   - with a bind endpoint, an accept loop; each accepted connection gets a
//     goroutine that does the ZMTP handshake (as ROUTER) and then reads;
//   - one client loop per connect endpoint: dial, handshake (as DEALER),
//     read until the connection fails, back off, dial again;
//   - one writer per connection, draining a bounded queue (when it is full
//     the message is dropped and counted: the hub never blocks on it).
//
// All of these goroutines belong to the hub's wait group and end when the
// hub stops. Connection goroutines hand what they read to the hub over an
// unbuffered channel, so whatever the hub took it owns (and closes), and
// nothing is stranded in a buffer when it stops.
//
// A node runs a hub when Config.GossipBind or GossipConnect is set; a
// GossipServer is a hub on its own. In a node, the hub publishes the
// node's tuple and hands the node tuples it learns to the node's actor
// through a queue it never blocks on.

const (
	gossipQueueBytes   = 8 << 20 // per connection: bound on queued frames (bytes + gossipEntryCost each)
	gossipEntryCost    = 32      // bookkeeping charged per queued frame
	gossipMaxConns     = 4096    // inbound connections at once; more are refused
	gossipMaxMessage   = 1 << 20 // bound on one incoming ZGossip message
	gossipMaxPending   = 1 << 16 // peers found but not yet taken by the node's actor
	gossipFlushTimeout = time.Second
	gossipDialTimeout  = 5 * time.Second
	gossipMinBackoff   = 100 * time.Millisecond
	gossipMaxBackoff   = 3 * time.Second
	gossipStableConn   = 5 * time.Second // a connection that lived this long resets the backoff
	gossipBufferSize   = 4 << 10         // ZMTP read and write buffers: gossip messages are small
)

// hubCounters are a hub's counters. The hub goroutine and its connection
// goroutines write them; Stats reads them without stopping anything.
type hubCounters struct {
	tuples, clients, remotes                       atomic.Int64
	delivered, expired, withdrawn, badMessages     atomic.Uint64
	msgsSent, msgsRecv, bytesSent, bytesRecv       atomic.Uint64
	sendsDropped, connectsFailed, handshakesFailed atomic.Uint64
	refused, discovered, ignored                   atomic.Uint64
}

// wireLen is the size of a one-frame message on the wire: ZMTP frame
// header plus body.
func wireLen(n int) uint64 { return uint64(zmtp.FrameHeaderLen(0, n) + n) }

// gossipFound is what a node's hub hands to the node's actor: a peer
// learned from a node tuple, or the news that a tuple is gone.
type gossipFound struct {
	d engine.Discover
	// fresh: the tuple's owner republished it since the hub last looked,
	// so the peer was alive a moment ago (a plain Deliver proves nothing:
	// it may be a stale copy relayed after its owner died).
	fresh bool
	// gone: the tuple expired or was withdrawn (d.ID only).
	gone bool
}

// hubConfig configures a hub.
type hubConfig struct {
	bind     string   // listen here when set ("tcp://ADDR:PORT")
	connect  []string // servers to connect to: "tcp://IP:PORT", or with "|KEY" a CURVE server
	gossip   gossip.Config
	network  Network
	log      *slog.Logger
	identity []byte // Identity of our DEALER connections

	// CURVE: our key pair, for connecting to servers given with a key,
	// and the mechanism of our listener (nil: NULL).
	curveKey   *KeyPair
	serverMech zmtp.Mechanism
	stats      *hubCounters

	// Node mode (found != nil): publish our tuple, hand peers to the actor.
	found        chan<- gossipFound
	self         zre.UUID
	ownKey       string
	ownValue     string
	ownEndpoints []string      // tuples at these endpoints are us
	curve        bool          // CURVE node: only tuples with a key; plain node: only without
	reconcile    time.Duration // how often learned tuples are checked for fresh republishes
}

// hubConn is one gossip connection, inbound (a client) or outbound (a
// remote server).
type hubConn struct {
	id       gossip.ConnID // set by the hub when it takes the connection
	remote   bool
	endpoint string // remote: the server's endpoint
	nc       net.Conn
	zc       *zmtp.Conn
	q        sendQueue
}

// close ends the connection: at once, or once what is queued has been
// written (bounded by gossipFlushTimeout).
func (c *hubConn) close(flush bool) {
	if flush {
		_ = c.nc.SetWriteDeadline(time.Now().Add(gossipFlushTimeout))
	}
	c.q.close(flush)
	if !flush {
		c.zc.Close()
	}
}

// writeLoop drains the queue into the connection, flushing when the queue
// is empty, so a burst costs one system call.
func (c *hubConn) writeLoop() {
	defer c.zc.Close()
	msg := make([][]byte, 1)
	var spare [][]byte
	for {
		batch, closed, flush := c.q.take(spare)
		spare = nil // the queue owns that storage now
		if closed && !flush {
			return
		}
		if len(batch) > 0 {
			var err error
			for _, b := range batch {
				msg[0] = b
				if err = c.zc.Send(msg); err != nil {
					break
				}
			}
			if err == nil {
				err = c.zc.Flush()
			}
			clear(batch)
			spare = batch[:0]
			if err != nil {
				c.q.close(false)
				return // closing zc makes the reader report the failure
			}
			continue // more may have come meanwhile
		}
		if closed {
			return
		}
		<-c.q.sig
	}
}

// sendQueue is a connection's bounded queue of encoded frames. The hub is
// its only producer, the connection's writer its only consumer.
type sendQueue struct {
	mu     sync.Mutex
	q      [][]byte
	cost   int
	closed bool
	flush  bool
	sig    chan struct{} // capacity 1: wakes the writer
}

// push queues b; false when the queue is full or closed.
func (s *sendQueue) push(b []byte) (ok, full bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, false
	}
	if s.cost+len(b)+gossipEntryCost > gossipQueueBytes {
		s.mu.Unlock()
		return false, true
	}
	s.q = append(s.q, b)
	s.cost += len(b) + gossipEntryCost
	s.mu.Unlock()
	s.wake()
	return true, false
}

func (s *sendQueue) wake() {
	select {
	case s.sig <- struct{}{}:
	default:
	}
}

// take swaps out what is queued (into spare's storage).
func (s *sendQueue) take(spare [][]byte) (batch [][]byte, closed, flush bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && !s.flush {
		return nil, true, false
	}
	batch, s.q, s.cost = s.q, spare, 0
	return batch, s.closed, s.flush
}

// close stops the queue: nothing more is accepted; with flush the writer
// still writes what is queued.
func (s *sendQueue) close(flush bool) {
	s.mu.Lock()
	if !s.closed {
		s.closed, s.flush = true, flush
	} else if !flush {
		s.flush = false
	}
	s.mu.Unlock()
	s.wake()
}

// hubEvent is what connection goroutines tell the hub.
type hubEvent struct {
	kind hubEventKind
	c    *hubConn
	msg  gossip.Message
	err  error
}

type hubEventKind uint8

const (
	hubUp   hubEventKind = iota + 1 // a connection completed its handshake
	hubMsg                          // a message (or, with err, a bad one) arrived
	hubDown                         // the connection failed or closed
)

// hub owns a gossip.Engine and its connections; see the top of this file.
type hub struct {
	cfg      hubConfig
	log      *slog.Logger
	eng      *gossip.Engine
	stats    *hubCounters
	ln       net.Listener
	endpoint string // where we listen, "" without bind

	in      chan hubEvent // unbuffered, see above
	conns   map[gossip.ConnID]*hubConn
	lastID  gossip.ConnID
	out     []gossip.Output
	encMsg  gossip.Message // last message encoded, and its bytes (shared by a fan-out)
	encBuf  []byte
	pending []gossipFound // node mode: waiting for the actor
	seen    map[string]time.Time
	recAt   time.Time // node mode: next reconcile

	timer      *time.Timer
	timerAt    time.Time
	timerFired bool

	liveMu sync.Mutex
	live   map[*hubConn]struct{} // connections whose writer may still run

	ctx      context.Context // cancelled when the hub stops: dials, handshakes, backoffs
	cancel   context.CancelFunc
	stopping chan struct{} // closed when the hub stops taking events
	polite   chan struct{}
	quit     chan struct{}
	politeMu sync.Once
	quitMu   sync.Once
	done     chan struct{}
	wg       sync.WaitGroup
	inbound  atomic.Int64

	warnDrop, warnConn rateLog
}

// newHub binds the listener (if any) and returns a hub ready for start.
func newHub(ctx context.Context, cfg hubConfig) (*hub, error) {
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.stats == nil {
		cfg.stats = new(hubCounters)
	}
	cfg.gossip.Logger = cfg.log
	h := &hub{
		cfg:      cfg,
		log:      cfg.log,
		eng:      gossip.New(cfg.gossip),
		stats:    cfg.stats,
		in:       make(chan hubEvent),
		conns:    make(map[gossip.ConnID]*hubConn),
		seen:     make(map[string]time.Time),
		live:     make(map[*hubConn]struct{}),
		stopping: make(chan struct{}),
		polite:   make(chan struct{}),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if cfg.bind != "" {
		ap, err := parseEndpoint(cfg.bind)
		if err != nil {
			return nil, err
		}
		ln, err := cfg.network.Listen(ctx, ap)
		if err != nil {
			return nil, err
		}
		h.ln = ln
		// The bound port, at the address asked for (the OS reports an
		// IPv4 wildcard as [::] on dual-stack sockets).
		h.endpoint = formatEndpoint(netip.AddrPortFrom(ap.Addr(), addrPortOf(ln.Addr()).Port()))
	}
	return h, nil
}

// start starts the hub's goroutines. The caller owns the hub: it must
// stop it (signal, then wait on done).
func (h *hub) start() {
	h.ctx, h.cancel = context.WithCancel(context.Background())
	now := time.Now()
	h.timer = time.NewTimer(time.Hour)
	if h.cfg.ownKey != "" {
		h.step(now, gossip.PublishOwn{Key: h.cfg.ownKey, Value: h.cfg.ownValue})
	}
	if h.cfg.found != nil && h.cfg.reconcile > 0 {
		h.recAt = now.Add(h.cfg.reconcile)
	}
	if h.ln != nil {
		h.wg.Go(h.acceptLoop)
		h.log.Info("gossip: listening", "endpoint", h.endpoint)
	}
	for _, ep := range h.cfg.connect {
		h.wg.Go(func() { h.remoteLoop(ep) })
	}
	h.resetTimer()
	go h.run()
}

// signal asks the hub to stop: politely (withdraw our tuples, flush) or
// at once. A polite stop may be hurried by a later signal(false).
func (h *hub) signal(polite bool) {
	if polite {
		h.politeMu.Do(func() { close(h.polite) })
	} else {
		h.quitMu.Do(func() { close(h.quit) })
	}
}

// stop stops the hub and waits for it.
func (h *hub) stop(polite bool) {
	h.signal(polite)
	<-h.done
}

func (h *hub) run() {
	defer close(h.done)
	for {
		var foundC chan<- gossipFound
		var next gossipFound
		if len(h.pending) > 0 {
			foundC, next = h.cfg.found, h.pending[0]
		}
		select {
		case <-h.quit:
			h.shutdown(false)
			return
		case <-h.polite:
			h.shutdown(true)
			return
		case ev := <-h.in:
			h.handle(ev)
		case <-h.timer.C:
			h.timerFired = true
			now := time.Now()
			h.step(now, gossip.Tick{})
			if !h.recAt.IsZero() && !now.Before(h.recAt) {
				h.reconcileFresh()
				h.recAt = now.Add(h.cfg.reconcile)
			}
		case foundC <- next:
			h.pending[0] = gossipFound{}
			h.pending = h.pending[1:]
			if len(h.pending) == 0 {
				h.pending = nil
			}
		}
		h.resetTimer()
	}
}

func (h *hub) resetTimer() {
	d := h.eng.NextDeadline()
	if !h.recAt.IsZero() && h.recAt.Before(d) {
		d = h.recAt
	}
	if d.Equal(h.timerAt) && !h.timerFired {
		return
	}
	h.timerAt, h.timerFired = d, false
	if !h.timer.Stop() {
		select {
		case <-h.timer.C:
		default:
		}
	}
	h.timer.Reset(max(time.Until(d), 0))
}

// step feeds one input to the engine and performs its outputs.
func (h *hub) step(now time.Time, in gossip.Input) {
	h.out = h.eng.Step(now, in, h.out[:0])
	for i, o := range h.out {
		h.perform(o)
		h.out[i] = nil
	}
	h.encMsg = nil
	h.syncCounters()
}

func (h *hub) syncCounters() {
	c := h.eng.Counters()
	s := h.stats
	s.delivered.Store(c.Delivered)
	s.expired.Store(c.Expired)
	s.withdrawn.Store(c.Withdrawn)
	s.badMessages.Store(c.BadMessages)
	s.tuples.Store(int64(h.eng.Len()))
}

func (h *hub) perform(o gossip.Output) {
	switch o := o.(type) {
	case gossip.Send:
		c := h.conns[o.Conn]
		if c == nil {
			return
		}
		b := h.encode(o.Msg)
		if b == nil {
			return
		}
		ok, full := c.q.push(b)
		switch {
		case ok:
			h.stats.msgsSent.Add(1)
			h.stats.bytesSent.Add(wireLen(len(b)))
		case full:
			h.stats.sendsDropped.Add(1)
			h.warnDrop.note(h.log, "gossip: connection queue full: message dropped", "conn", uint64(c.id), "cmd", o.Msg.Command().String())
		}
	case gossip.Close:
		if c := h.conns[o.Conn]; c != nil {
			h.log.Debug("gossip: closing connection", "conn", uint64(c.id), "reason", o.Reason)
			h.forget(c)
			c.close(true)
		}
	case gossip.Deliver:
		if h.cfg.found != nil {
			if f, ok := h.nodeTuple(o.Key, o.Value, true); ok {
				h.hand(f)
			}
		}
	case gossip.Expire:
		if h.cfg.found != nil {
			delete(h.seen, o.Key)
			if id, err := zre.ParseUUID(o.Key); err == nil && id != h.cfg.self {
				h.hand(gossipFound{d: engine.Discover{ID: id}, gone: true})
			}
		}
	}
}

// encode returns the frame of m, encoding it once per fan-out: the frames
// are shared, read-only, by every queue they go to.
func (h *hub) encode(m gossip.Message) []byte {
	if m == h.encMsg && h.encBuf != nil {
		return h.encBuf
	}
	b, err := m.Append(make([]byte, 0, m.Len()))
	if err != nil {
		h.log.Warn("gossip: message not encodable", "cmd", m.Command().String(), "err", err)
		return nil
	}
	h.encMsg, h.encBuf = m, b
	return b
}

// hand queues f for the node's actor.
func (h *hub) hand(f gossipFound) {
	if len(h.pending) >= gossipMaxPending {
		h.stats.ignored.Add(1)
		h.warnDrop.note(h.log, "gossip: node not taking peers: dropped")
		return
	}
	h.pending = append(h.pending, f)
}

// nodeTuple turns a node tuple into a found peer, unless it is ours, not
// a node tuple, or unusable in our mode (counted when count is set).
func (h *hub) nodeTuple(key, value string, count bool) (gossipFound, bool) {
	ignore := func(why string) (gossipFound, bool) {
		if count {
			h.stats.ignored.Add(1)
			h.log.Debug("gossip: tuple ignored", "key", key, "value", value, "why", why)
		}
		return gossipFound{}, false
	}
	id, ep, pk, err := gossip.ParseNodeTuple(key, value)
	switch {
	case err != nil:
		return ignore("not a node tuple")
	case id == h.cfg.self || slices.Contains(h.cfg.ownEndpoints, ep):
		return gossipFound{}, false
	}
	if _, err := parseEndpoint(ep); err != nil {
		return ignore(err.Error())
	}
	var key32 []byte
	switch {
	case h.cfg.curve && pk == "":
		return ignore("no public key (we are in CURVE mode)")
	case h.cfg.curve:
		k, err := ParsePublicKey(pk)
		if err != nil {
			return ignore(err.Error())
		}
		key32 = k[:]
	case pk != "":
		return ignore("CURVE peer (we are not in CURVE mode)")
	}
	return gossipFound{d: engine.Discover{ID: id, Endpoint: ep, PublicKey: key32}}, true
}

// reconcileFresh hands the actor every learned node tuple whose expiry
// moved well forward since the last look: its owner republished it, so
// it is alive even if the node lost it (partition, sequence gap) while
// the tuple stayed in the store, where a republish is only a refresh and
// is never delivered again. Echoes round gossip loops move an expiry by
// a latency at most, far less than half an interval.
func (h *hub) reconcileFresh() {
	bar := h.cfg.reconcile / 2
	for _, t := range h.eng.Tuples() {
		if t.Own || t.Expires.IsZero() {
			continue
		}
		prev, ok := h.seen[t.Key]
		h.seen[t.Key] = t.Expires
		if !ok || t.Expires.Sub(prev) < bar {
			continue
		}
		if f, ok := h.nodeTuple(t.Key, t.Value, false); ok {
			f.fresh = true
			h.hand(f)
		}
	}
}

// handle takes one event from a connection goroutine.
func (h *hub) handle(ev hubEvent) {
	c := ev.c
	now := time.Now()
	switch ev.kind {
	case hubUp:
		h.lastID++
		c.id = h.lastID
		h.conns[c.id] = c
		h.liveMu.Lock()
		h.live[c] = struct{}{}
		h.liveMu.Unlock()
		h.wg.Go(func() {
			c.writeLoop()
			h.liveMu.Lock()
			delete(h.live, c)
			h.liveMu.Unlock()
		})
		if c.remote {
			h.stats.remotes.Add(1)
			h.log.Info("gossip: connected to server", "endpoint", c.endpoint)
			h.step(now, gossip.RemoteUp{Conn: c.id})
		} else {
			h.stats.clients.Add(1)
			h.log.Debug("gossip: client connected", "conn", uint64(c.id), "from", c.nc.RemoteAddr().String())
			h.step(now, gossip.ClientUp{Conn: c.id})
		}
	case hubMsg:
		if h.conns[c.id] != c {
			return // already forgotten (closed by the engine)
		}
		if ev.err != nil {
			h.step(now, gossip.BadMessage{Conn: c.id, Err: ev.err})
			return
		}
		h.step(now, gossip.MessageIn{Conn: c.id, Msg: ev.msg})
	case hubDown:
		if h.conns[c.id] != c {
			return
		}
		h.forget(c)
		c.close(false)
		if c.remote {
			h.log.Info("gossip: connection to server lost", "endpoint", c.endpoint, "err", ev.err)
		}
		h.step(now, gossip.ConnDown{Conn: c.id, Err: ev.err})
	}
}

// forget removes c from the connection table (the engine has forgotten
// it, or is told next).
func (h *hub) forget(c *hubConn) {
	delete(h.conns, c.id)
	if c.remote {
		h.stats.remotes.Add(-1)
	} else {
		h.stats.clients.Add(-1)
	}
}

// shutdown stops everything the hub started. Polite: our tuples are
// withdrawn and every connection flushes first (bounded).
func (h *hub) shutdown(polite bool) {
	close(h.stopping)
	h.cancel()
	h.timer.Stop()
	if h.ln != nil {
		h.ln.Close()
	}
	if polite {
		h.step(time.Now(), gossip.Stop{}) // withdrawals, then Close (flush) for every connection
	}
	for _, c := range h.conns {
		h.forget(c)
		c.close(false)
	}
	waited := make(chan struct{})
	go func() { h.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-h.quit:
		h.liveMu.Lock()
		for c := range h.live {
			c.close(false)
		}
		h.liveMu.Unlock()
		<-waited
	}
	h.stats.clients.Store(0)
	h.stats.remotes.Store(0)
}

// deliver hands ev to the hub; false once the hub is stopping.
func (h *hub) deliver(ev hubEvent) bool {
	select {
	case h.in <- ev:
		return true
	case <-h.stopping:
		return false
	}
}

// readLoop reads c until it fails or the hub stops, then reports it down.
func (h *hub) readLoop(c *hubConn) {
	for {
		frames, err := c.zc.Recv()
		if err != nil {
			h.deliver(hubEvent{kind: hubDown, c: c, err: err})
			return
		}
		n := 0
		for _, f := range frames {
			n += len(f)
		}
		h.stats.msgsRecv.Add(1)
		h.stats.bytesRecv.Add(wireLen(n))
		m, err := gossip.ParseFrames(frames)
		if !h.deliver(hubEvent{kind: hubMsg, c: c, msg: m, err: err}) {
			return
		}
	}
}

func newHubConn(nc net.Conn, zc *zmtp.Conn, remote bool, endpoint string) *hubConn {
	return &hubConn{nc: nc, zc: zc, remote: remote, endpoint: endpoint, q: sendQueue{sig: make(chan struct{}, 1)}}
}

func (h *hub) acceptLoop() {
	for {
		nc, err := h.ln.Accept()
		if err != nil {
			select {
			case <-h.stopping:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			h.warnConn.note(h.log, "gossip: accept failed", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-h.stopping:
				return
			}
			continue
		}
		if h.inbound.Load() >= gossipMaxConns {
			h.stats.refused.Add(1)
			h.warnConn.note(h.log, "gossip: too many connections: refused", "from", nc.RemoteAddr().String())
			nc.Close()
			continue
		}
		h.inbound.Add(1)
		h.wg.Go(func() {
			defer h.inbound.Add(-1)
			h.serveClient(nc)
		})
	}
}

// serveClient handshakes an accepted connection and reads it.
func (h *hub) serveClient(nc net.Conn) {
	ctx, cancel := context.WithTimeout(h.ctx, zmtp.DefaultHandshakeTimeout)
	zc, err := zmtp.Handshake(ctx, nc, zmtp.Config{
		SocketType:      zmtp.SocketRouter,
		Mechanism:       h.cfg.serverMech,
		MaxMessageSize:  gossipMaxMessage,
		ReadBufferSize:  gossipBufferSize,
		WriteBufferSize: gossipBufferSize,
		Logger:          h.log,
	})
	cancel()
	if err != nil {
		h.stats.handshakesFailed.Add(1)
		h.log.Debug("gossip: client handshake failed", "from", nc.RemoteAddr().String(), "err", err)
		return
	}
	c := newHubConn(nc, zc, false, "")
	if !h.deliver(hubEvent{kind: hubUp, c: c}) {
		zc.Close()
		return
	}
	h.readLoop(c)
}

// remoteLoop keeps one connection to the server at ep: dial, handshake,
// read until it fails, back off (randomised, growing), again.
func (h *hub) remoteLoop(ep string) {
	backoff := gossipMinBackoff
	failures := 0
	for h.ctx.Err() == nil {
		start := time.Now()
		c, err := h.dial(ep)
		if err != nil {
			if h.ctx.Err() != nil {
				return
			}
			h.stats.connectsFailed.Add(1)
			failures++
			if failures == 3 {
				h.log.Warn("gossip: cannot connect to server; retrying", "endpoint", ep, "err", err)
			} else {
				h.log.Debug("gossip: connect failed", "endpoint", ep, "err", err)
			}
		} else {
			failures = 0
			if !h.deliver(hubEvent{kind: hubUp, c: c}) {
				c.zc.Close()
				return
			}
			h.readLoop(c)
			if time.Since(start) >= gossipStableConn {
				backoff = gossipMinBackoff
			}
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(wait):
		case <-h.ctx.Done():
			return
		}
		backoff = min(backoff*2, gossipMaxBackoff)
	}
}

func (h *hub) dial(remote string) (*hubConn, error) {
	ep, key, err := parseGossipRemote(remote)
	if err != nil {
		return nil, err
	}
	ap, err := parseEndpoint(ep)
	if err != nil {
		return nil, err
	}
	var mech zmtp.Mechanism
	if key != nil {
		if h.cfg.curveKey == nil {
			return nil, errors.New("gossip: a server key needs a CURVE key pair of our own")
		}
		mech = &curve.Client{Key: h.cfg.curveKey.internal(), ServerKey: *key}
	}
	ctx, cancel := context.WithTimeout(h.ctx, gossipDialTimeout)
	defer cancel()
	nc, err := h.cfg.network.Dial(ctx, ap)
	if err != nil {
		return nil, err
	}
	zc, err := zmtp.Handshake(ctx, nc, zmtp.Config{
		SocketType:      zmtp.SocketDealer,
		Identity:        h.cfg.identity,
		Mechanism:       mech,
		MaxMessageSize:  gossipMaxMessage,
		ReadBufferSize:  gossipBufferSize,
		WriteBufferSize: gossipBufferSize,
		Logger:          h.log,
	})
	if err != nil {
		return nil, err
	}
	return newHubConn(nc, zc, true, remote), nil
}

// parseGossipRemote splits a gossip server to connect to,
// "tcp://IP:PORT" or "tcp://IP:PORT|KEY" (KEY: the server's CURVE public
// key in Z85, as Zyre writes endpoint and key in its gossip tuples).
func parseGossipRemote(s string) (endpoint string, key *PublicKey, err error) {
	endpoint, z85, hasKey := strings.Cut(s, "|")
	if !hasKey {
		return endpoint, nil, nil
	}
	k, err := ParsePublicKey(z85)
	if err != nil {
		return "", nil, fmt.Errorf("gossip server %q: %w", endpoint, err)
	}
	return endpoint, &k, nil
}

// checkGossipRemote validates a gossip server to connect to; a key needs
// a key pair of our own (haveCurve).
func checkGossipRemote(s string, haveCurve bool) error {
	ep, key, err := parseGossipRemote(s)
	if err != nil {
		return err
	}
	if key != nil && !haveCurve {
		return fmt.Errorf("gossip server %s given with a CURVE key: needs a key pair of our own (Curve)", ep)
	}
	return checkGossipEndpoint(ep)
}

// checkGossipEndpoint validates an endpoint to connect to or advertise:
// tcp://IP:PORT with a real address and a port.
func checkGossipEndpoint(ep string) error {
	ap, err := parseEndpoint(ep)
	if err != nil {
		return err
	}
	if ap.Port() == 0 || ap.Addr().IsUnspecified() {
		return errors.New("endpoint " + ep + ": want a specific address and port")
	}
	return nil
}

// ---- the node's side ----

// startGossip starts the node's hub: it publishes the node's tuple
// (advertised endpoint, with the public key in CURVE mode) and hands the
// node tuples it learns to the actor.
func (a *actor) startGossip(ctx context.Context, advertised string) error {
	cfg := &a.n.cfg
	var pk string
	if cfg.Curve != nil {
		pk = cfg.Curve.Public.String()
	}
	key, value := gossip.NodeTuple(zre.UUID(a.n.id), advertised, pk)
	id := make([]byte, 17)
	id[0] = 1
	copy(id[1:], a.n.id[:])
	found := make(chan gossipFound, 16)
	// The tuple lives as long as a silent peer does: ExpiredTimeout.
	gcfg := gossip.Config{TTL: cfg.ExpiredTimeout}
	h, err := newHub(ctx, hubConfig{
		bind:         cfg.GossipBind,
		connect:      cfg.GossipConnect,
		gossip:       gcfg,
		network:      cfg.Network,
		log:          a.log,
		identity:     id,
		curveKey:     cfg.Curve,
		serverMech:   a.gossipServerMechanism(),
		stats:        &a.n.stats.gossip,
		found:        found,
		self:         zre.UUID(a.n.id),
		ownKey:       key,
		ownValue:     value,
		ownEndpoints: []string{advertised, a.endpoint},
		curve:        cfg.Curve != nil,
		reconcile:    max(cfg.ExpiredTimeout/3, time.Millisecond),
	})
	if err != nil {
		return err
	}
	a.hub, a.gossipC = h, found
	a.exited = make(map[zre.UUID]time.Time)
	h.start()
	return nil
}

// onGossip handles a peer learned from gossip (or a tuple gone).
//
// Gossip only introduces peers: a peer the engine already knows, however
// it was found, is left alone, so a peer found by beacon and by gossip is
// one peer and gossip never overrides what the peer's own traffic says.
// A peer that stops answering is removed by the liveness timers as usual
// (EVASIVE, EXIT). Its tuple may outlive it (the TTL runs from its last
// republish), and a stale copy may be delivered again later, for example
// when a restarted server is re-seeded by another node. So a peer that
// exited is only rediscovered on proof that it is alive: a fresh
// republish seen by the hub, or its tuple going away and coming back.
// Even without that rule a dead peer could not come back as a ghost
// (ENTER needs its HELLO), but it would cost a connection that dials in
// vain until it expires.
func (a *actor) onGossip(f gossipFound) {
	id := f.d.ID
	if f.gone {
		delete(a.exited, id)
		return
	}
	if _, known := a.eng.Peer(id); known {
		return
	}
	if t, ok := a.exited[id]; ok {
		if !f.fresh && time.Since(t) < a.exitMemory() {
			a.n.stats.gossip.ignored.Add(1)
			a.log.Debug("gossip: peer that exited ignored until it republishes", "peer", id.String())
			return
		}
		delete(a.exited, id)
	}
	if len(a.exited) > 1024 {
		for p, t := range a.exited {
			if time.Since(t) >= a.exitMemory() {
				delete(a.exited, p)
			}
		}
	}
	a.n.stats.gossip.discovered.Add(1)
	a.step(f.d)
}

// exitMemory bounds how long the node remembers an exited peer. The
// entry normally ends earlier: when the peer's tuple leaves the store
// (expired or withdrawn) or the peer proves it is alive.
func (a *actor) exitMemory() time.Duration { return 10 * a.n.cfg.ExpiredTimeout }
