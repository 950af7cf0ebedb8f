package zyre

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozyre/zyre/internal/beacon"
	"github.com/gozyre/zyre/internal/engine"
	"github.com/gozyre/zyre/internal/zmtp"
	"github.com/gozyre/zyre/internal/zre"
)

// Node is one ZRE node. Create it with New, start it with Start, and end it
// with Shutdown (polite) or Close (immediate). All methods are safe for
// concurrent use.
type Node struct {
	cfg  Config
	id   PeerID
	name string
	log  *slog.Logger

	events *eventQueue
	cmds   chan command
	stats  counters
	ready  sync.Map // PeerID -> *outbox of peers that have entered; written by the actor only
	// fullOutboxes counts full outboxes (OutboxLen messages or OutboxBytes):
	// while it is zero Shout need not ask the actor about the members.
	fullOutboxes atomic.Int32
	// inflight is the size of the Whisper and Shout commands queued for
	// the actor: past OutboxBytes, they wait for the actor (catchUp).
	inflight atomic.Int64
	// enqueuing counts Whisper and Shout calls between their closed check
	// and their command being queued (Node.enqueue).
	enqueuing atomic.Int32

	mu       sync.Mutex // guards state transitions only (New -> started -> closed)
	started  bool
	closed   bool
	state    atomic.Uint32 // nodeNew, nodeStarted or nodeClosed: the transitions, for readers without mu
	endpoint atomic.Value  // string, set by Start
	gossipEP atomic.Value  // string, set by Start (GossipBind)

	quit       chan struct{} // closed by Close: the actor stops at once
	polite     chan struct{} // closed by Shutdown: the actor leaves politely
	done       chan struct{} // closed when the actor has stopped everything
	politeOnce sync.Once     // closes polite
	quitOnce   sync.Once     // closes quit

	mailbox atomic.Pointer[zmtp.Router] // set by Start; Release feeds its buffer pool
}

// command is work for the actor goroutine: an engine input to step, or a
// function to run (queries, checks that need the actor's state).
type command struct {
	in engine.Input
	f  func(a *actor)

	// A whisper or shout travels in these fields rather than in, so
	// queuing it allocates nothing: to or group, and either frame (the
	// usual single frame) or frames.
	send   sendKind
	to     zre.UUID
	group  string
	frame  []byte
	frames [][]byte
	size   int64 // the frames' bytes, counted in Node.inflight
}

// sendKind says which message a command carries inline (zero: none).
type sendKind uint8

const (
	sendWhisper sendKind = iota + 1
	sendShout
)

func (c command) run(a *actor) {
	switch {
	case c.f != nil:
		c.f(a)
	case c.send == sendWhisper:
		a.n.inflight.Add(-c.size)
		a.whisper(c.to, c.frame, c.frames)
	case c.send == sendShout:
		a.n.inflight.Add(-c.size)
		a.shout(c.group, c.frame, c.frames)
	default:
		a.step(c.in)
	}
}

// setContent puts a message's frames into c: a single frame inline, more
// in a copy (the variadic slice must not escape, so the caller's call
// does not allocate it).
func (c *command) setContent(frames [][]byte) {
	for _, f := range frames {
		c.size += int64(len(f))
	}
	switch len(frames) {
	case 0:
		c.frame = []byte{}
	case 1:
		c.frame = frames[0]
	default:
		c.frames = slices.Clone(frames)
	}
}

// cmdQueueLen bounds the commands waiting for the actor. Whisper and
// Shout queue without waiting for the actor, so outboxes keep this much
// room beyond OutboxLen for commands already in flight.
const cmdQueueLen = 1024

// New validates cfg and returns a node that has not touched the network
// yet. A nil cfg means all defaults. The node's ID is random.
func New(cfg *Config) (*Node, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	var id PeerID
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("zyre: node id: %w", err)
	}
	name := c.Name
	if name == "" {
		name = id.Short()
	}
	n := &Node{
		cfg:    c,
		id:     id,
		name:   name,
		log:    c.Logger.With("node", name, "id", id.Short()),
		events: newEventQueue(c.EventQueueLen, c.EventQueueBytes),
		cmds:   make(chan command, cmdQueueLen),
		quit:   make(chan struct{}),
		polite: make(chan struct{}),
		done:   make(chan struct{}),
	}
	n.endpoint.Store("")
	n.gossipEP.Store("")
	return n, nil
}

// ID returns the node's UUID.
func (n *Node) ID() PeerID { return n.id }

// Name returns the node's name (Config.Name or the ID's first 6 hex digits).
func (n *Node) Name() string { return n.name }

// Endpoint returns the node's mailbox, e.g. "tcp://127.0.0.1:49152", once
// Start has returned; "" before. With Config.DualStack it is the IPv4
// side (the IPv6 side with Config.IPv6), which gossip announces; the
// mailbox listens at the same port on the other family's address too, and
// each peer is told in HELLO the side of its own family.
func (n *Node) Endpoint() string { return n.endpoint.Load().(string) }

// GossipEndpoint returns where the node serves gossip to other nodes
// (Config.GossipBind, with the port filled in) once Start has returned;
// "" before, or without GossipBind.
func (n *Node) GossipEndpoint() string { return n.gossipEP.Load().(string) }

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats { return n.stats.snapshot() }

// Start binds the mailbox, opens the beacon socket and starts the node's
// goroutines. ctx bounds the start-up only. A node starts once.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if n.started {
		return ErrStarted
	}
	a, err := newActor(ctx, n)
	if err != nil {
		return err
	}
	n.started = true
	n.state.Store(nodeStarted)
	n.endpoint.Store(a.endpoint)
	n.mailbox.Store(a.mbox.r)
	if a.hub != nil {
		n.gossipEP.Store(a.hub.endpoint)
	}
	go a.run()
	return nil
}

// Release hands the frames of a received WhisperEvent or ShoutEvent back
// to the node, which may then read later messages into them. It is
// optional, and only for applications that are completely done with the
// frames: nothing may read or write them afterwards, through ev or any
// other reference. In return, large messages cost no fresh memory: a
// 64 KiB whisper takes about half the time and CPU (docs/benchmarks.md).
// Frames under 32 KiB are left to the garbage collector, and the node
// keeps at most 64 MiB for reuse. Release sets ev's frames to nil; other
// events, a second Release and a Release before Start do nothing.
func (n *Node) Release(ev Event) {
	if r := n.mailbox.Load(); r != nil {
		r.ReleaseFrames(dataFrames(ev))
	}
}

// Shutdown leaves politely: a port-0 beacon and GOODBYE to every peer, so
// they see an ExitEvent at once; then it closes every connection and
// queues the StopEvent. It waits until done or ctx ends (then it closes
// at once). Events already queued can still be read after it returns.
func (n *Node) Shutdown(ctx context.Context) error {
	if !n.markClosed() {
		return nil
	}
	n.politeOnce.Do(func() { close(n.polite) })
	select {
	case <-n.done:
		return nil
	case <-ctx.Done():
		n.Close()
		return ctx.Err()
	}
}

// Close stops the node at once, without telling peers (they will see it
// expire). It is idempotent and safe in defer; it waits for every
// goroutine of the node to end.
func (n *Node) Close() error {
	if !n.markClosed() {
		return nil
	}
	n.quitOnce.Do(func() { close(n.quit) })
	<-n.done
	return nil
}

// markClosed moves the node to closed and reports whether it had been
// started (its actor must be stopped). A node closed before Start gets
// its StopEvent here.
func (n *Node) markClosed() (started bool) {
	n.mu.Lock()
	started, closed := n.started, n.closed
	n.closed = true
	n.state.Store(nodeClosed)
	n.mu.Unlock()
	if !started && !closed {
		n.events.push(StopEvent{}, true)
	}
	return started
}

// do runs f on the actor and waits for it.
func (n *Node) do(ctx context.Context, f func(a *actor) error) error {
	if err := n.usable(); err != nil {
		return err
	}
	res := make(chan error, 1)
	select {
	case n.cmds <- command{f: func(a *actor) { res <- f(a) }}:
	case <-n.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-res:
		return err
	case <-n.done:
		select {
		case err := <-res:
			return err
		default:
		}
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Join joins a group: peers get a JOIN and send us the group's shouts.
func (n *Node) Join(ctx context.Context, group string) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	return n.do(ctx, func(a *actor) error { a.step(engine.JoinGroup{Group: group}); return nil })
}

// Leave leaves a group.
func (n *Node) Leave(ctx context.Context, group string) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	return n.do(ctx, func(a *actor) error { a.step(engine.LeaveGroup{Group: group}); return nil })
}

// Whisper sends frames to one peer. It returns ErrUnknownPeer if the peer
// has not entered (or has exited). It does not wait for the network: the
// message is queued in order and Whisper returns. When the peer's outbox
// is full it waits for room until ctx ends. A message Whisper accepted
// goes out even if Shutdown follows at once (before the GOODBYE); Close
// drops what is still queued. The frames must not be modified afterwards.
func (n *Node) Whisper(ctx context.Context, to PeerID, frames ...[]byte) error {
	if err := n.usable(); err != nil {
		return err
	}
	c := command{send: sendWhisper, to: zre.UUID(to)}
	c.setContent(frames)
	if err := n.catchUp(ctx); err != nil {
		return err
	}
	for {
		v, ok := n.ready.Load(to)
		if !ok {
			if err := n.usable(); err != nil {
				return err // closed meanwhile: the peers are gone with it
			}
			return ErrUnknownPeer
		}
		w := v.(*outbox).fullWait()
		if w == nil {
			break
		}
		if err := n.waitRoom(ctx, w); err != nil {
			return err
		}
	}
	return n.enqueue(ctx, c)
}

// catchUp waits for the actor to run the Whisper and Shout commands
// queued so far, when they hold OutboxBytes or more: until it has, the
// outboxes do not show them, and a fast caller could queue far more than
// OutboxBytes before one looks full.
func (n *Node) catchUp(ctx context.Context) error {
	if n.inflight.Load() < n.cfg.OutboxBytes {
		return nil
	}
	return n.do(ctx, func(*actor) error { return nil })
}

// enqueue hands c to the actor without waiting for it to run. A command
// queued before the node closed is run even by a Shutdown that is already
// under way (the actor drains the queue, see drainCommands); after that,
// ErrClosed.
func (n *Node) enqueue(ctx context.Context, c command) error {
	n.enqueuing.Add(1)
	defer n.enqueuing.Add(-1)
	if err := n.usable(); err != nil {
		return err
	}
	n.inflight.Add(c.size)
	select {
	case n.cmds <- c:
		return nil
	case <-n.done:
		n.inflight.Add(-c.size)
		return ErrClosed
	case <-ctx.Done():
		n.inflight.Add(-c.size)
		return ctx.Err()
	}
}

// Node states (Node.state).
const (
	nodeNew uint32 = iota
	nodeStarted
	nodeClosed
)

func (n *Node) usable() error {
	switch n.state.Load() {
	case nodeStarted:
		return nil
	case nodeNew:
		return ErrNotStarted
	default:
		return ErrClosed
	}
}

// Shout sends frames to every peer in group. Like Whisper, it queues the
// message in order and returns without waiting for the network; when a
// member's outbox is full it waits for room until ctx ends. A message
// Shout accepted goes out even if Shutdown follows at once; Close drops
// what is still queued. The frames must not be modified afterwards.
func (n *Node) Shout(ctx context.Context, group string, frames ...[]byte) error {
	if err := checkGroup(group); err != nil {
		return err
	}
	if err := n.usable(); err != nil {
		return err
	}
	c := command{send: sendShout, group: group}
	c.setContent(frames)
	if err := n.catchUp(ctx); err != nil {
		return err
	}
	// While no outbox is full (the usual case) the shout is queued at
	// once; otherwise the actor checks the group's members, and Shout
	// waits for room in the first full one.
	for n.fullOutboxes.Load() > 0 {
		var wait <-chan struct{}
		err := n.do(ctx, func(a *actor) error { wait = a.fullMember(group); return nil })
		if err != nil {
			return err
		}
		if wait == nil {
			break
		}
		if err := n.waitRoom(ctx, wait); err != nil {
			return err
		}
	}
	return n.enqueue(ctx, c)
}

func (n *Node) waitRoom(ctx context.Context, wait <-chan struct{}) error {
	select {
	case <-wait:
		return nil
	case <-n.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Recv returns the next event, in order. After the StopEvent has been
// returned it returns ErrClosed. It returns ctx.Err() if ctx ends first.
func (n *Node) Recv(ctx context.Context) (Event, error) { return n.events.pop(ctx) }

// Events returns an iterator over the node's events, in order. It ends
// after the StopEvent or when ctx ends.
func (n *Node) Events(ctx context.Context) iter.Seq[Event] {
	return func(yield func(Event) bool) {
		for {
			ev, err := n.events.pop(ctx)
			if err != nil || !yield(ev) {
				return
			}
		}
	}
}

// Peers returns a snapshot of the peers that said HELLO, sorted by ID.
func (n *Node) Peers(ctx context.Context) ([]PeerInfo, error) {
	var out []PeerInfo
	err := n.do(ctx, func(a *actor) error {
		for _, p := range a.eng.Peers() {
			if p.Ready {
				out = append(out, peerInfo(p))
			}
		}
		return nil
	})
	return out, err
}

// Peer returns what the node knows of one peer, or ErrUnknownPeer.
func (n *Node) Peer(ctx context.Context, id PeerID) (PeerInfo, error) {
	var out PeerInfo
	err := n.do(ctx, func(a *actor) error {
		p, ok := a.eng.Peer(zre.UUID(id))
		if !ok || !p.Ready {
			return ErrUnknownPeer
		}
		out = peerInfo(p)
		return nil
	})
	return out, err
}

// PeersByGroup returns the IDs of the peers in group, sorted.
func (n *Node) PeersByGroup(ctx context.Context, group string) ([]PeerID, error) {
	var out []PeerID
	err := n.do(ctx, func(a *actor) error {
		for _, id := range a.eng.PeersByGroup(group) {
			out = append(out, PeerID(id))
		}
		return nil
	})
	return out, err
}

// OwnGroups returns the groups this node is in, sorted.
func (n *Node) OwnGroups(ctx context.Context) ([]string, error) {
	var out []string
	err := n.do(ctx, func(a *actor) error { out = a.eng.OwnGroups(); return nil })
	return out, err
}

// PeerGroups returns the groups that known peers are in, sorted.
func (n *Node) PeerGroups(ctx context.Context) ([]string, error) {
	var out []string
	err := n.do(ctx, func(a *actor) error { out = a.eng.PeerGroups(); return nil })
	return out, err
}

func peerInfo(p engine.PeerInfo) PeerInfo {
	return PeerInfo{ID: PeerID(p.ID), Name: p.Name, Endpoint: p.Endpoint, Headers: headerMap(p.Headers), Groups: slices.Clone(p.Groups)}
}

func headerMap(hs []zre.Header) map[string]string {
	m := make(map[string]string, len(hs))
	for _, h := range hs {
		m[h.Key] = h.Value
	}
	return m
}

func headerList(m map[string]string) []zre.Header {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]zre.Header, 0, len(keys))
	for _, k := range keys {
		out = append(out, zre.Header{Key: k, Value: m[k]})
	}
	return out
}

// ---- beacons ----

// beaconLoop reads the beacon socket and hands parsed beacons to the actor.
func (a *actor) beaconLoop(pc net.PacketConn) {
	buf := make([]byte, 512)
	for {
		nr, from, err := pc.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				select {
				case <-a.stopping:
				default:
					a.log.Warn("beacon socket failed", "err", err)
				}
			}
			return
		}
		b, err := beacon.Parse(buf[:nr])
		if err != nil {
			a.n.stats.beaconsBad.Add(1)
			a.badBeacons.note(a.log, "malformed beacon", "from", from.String(), "err", err)
			continue
		}
		a.n.stats.beaconsReceived.Add(1)
		src := addrOf(from)
		select {
		case a.beaconC <- engine.BeaconIn{From: src, Beacon: b}:
		case <-a.stopping:
			return
		}
	}
}

func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// rateLog logs at most one Warn per interval for a kind of bad input and
// counts the rest into the next one.
type rateLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func (r *rateLog) note(log *slog.Logger, msg string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.last) < 10*time.Second {
		r.suppressed++
		return
	}
	if r.suppressed > 0 {
		args = append(args, "suppressed", r.suppressed)
	}
	r.last, r.suppressed = now, 0
	log.Warn(msg, args...)
}
