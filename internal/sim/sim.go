package sim

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/gozyre/zyre/internal/beacon"
	"github.com/gozyre/zyre/internal/engine"
	"github.com/gozyre/zyre/internal/zre"
)

// Epoch is virtual time zero: every engine sees Epoch plus the simulated
// time elapsed. It is fixed so that runs replay exactly.
var Epoch = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)

// MailboxPort is the mailbox (ZMTP) port every simulated node announces.
// Nodes differ by address, not by port.
const MailboxPort = 49152

// DefaultStallTimeout is how long a stream may stay blocked by a partition
// before it resets (Link.StallTimeout zero).
const DefaultStallTimeout = 10 * time.Second

// Link is the behaviour of the network between two nodes.
type Link struct {
	Latency time.Duration // one-way base delay of datagrams and stream messages
	Jitter  time.Duration // uniform extra delay in [0, Jitter]; never reorders a stream
	Loss    float64       // probability that one datagram copy is lost; streams do not lose
	// StallTimeout is how long a stream blocked by a partition holds its
	// data before it resets and the held data is lost (0: DefaultStallTimeout).
	StallTimeout time.Duration
}

// NodeConfig is the engine configuration of nodes added together. Zero
// durations take the engine defaults (no beacons when BeaconInterval is 0).
type NodeConfig struct {
	BeaconInterval time.Duration
	EvasiveTimeout time.Duration
	SilentTimeout  time.Duration
	ExpiredTimeout time.Duration
	Groups         []string     // groups joined at start
	Headers        []zre.Header // HELLO headers
	// Stagger spreads the nodes' start (their first Tick, hence first
	// beacon) uniformly over [0, Stagger). Zero starts them all at once.
	Stagger time.Duration
}

// TraceLevel selects what the trace records.
type TraceLevel uint8

const (
	// TraceEvents records application events, connects and disconnects,
	// faults, stream resets and script actions.
	TraceEvents TraceLevel = iota + 1
	// TracePackets records, in addition, every datagram copy and stream
	// message delivered or dropped.
	TracePackets
)

// Options configure a simulator.
type Options struct {
	Seed       uint64
	Trace      io.Writer  // nil: no trace
	TraceLevel TraceLevel // 0: TracePackets
	Link       Link       // the default link
}

// PacketKind tells beacons from stream messages.
type PacketKind uint8

const (
	PacketBeacon  PacketKind = iota + 1 // one copy of a broadcast datagram
	PacketMessage                       // one ZRE message on a stream
)

// Packet describes one packet about to enter the network, for a Hook.
type Packet struct {
	Kind     PacketKind
	From, To int           // node indexes
	At       time.Duration // virtual time of sending
	Cmd      zre.Command   // messages
	Seq      uint16        // messages
	Size     int           // bytes on the wire (frame 0 plus content for messages)
	Port     uint16        // beacons: the announced port (0: leaving)
	Frames   [][]byte      // messages: frame 0 and the content frames; do not modify
}

// Hook sees every packet that passes the partition and pair faults, before
// link loss; returning true drops it. It runs on the simulator's goroutine.
type Hook func(p *Packet) (drop bool)

// Sim is a single-goroutine discrete-event simulator of ZRE nodes: each
// node is an engine.Engine, the network is simulated, and time is virtual.
// A Sim is not safe for concurrent use.
type Sim struct {
	opts  Options
	link  Link
	now   int64 // virtual nanoseconds since Epoch
	seq   uint64
	q     queue
	rng   *rand.Rand // network: loss, jitter, stagger
	idRng *rand.Rand // node UUIDs: independent of traffic

	nodes  []*node
	byEP   map[string]int32      // endpoint -> node
	owners map[zre.UUID]ownerRef // UUID -> node and incarnation (latest)
	out    []engine.Output       // reused output buffer
	enc    []byte                // beacon encoding scratch
	frames [1][]byte             // frames of a content-less message being parsed

	faults map[uint64]fault // (from<<32 | to) -> per-pair drop and delay
	hook   Hook
	pkt    Packet // scratch for the hook

	held    map[uint64]*heldQueue // stalled streams
	stalled []uint64              // stalled streams in stall order (deterministic flush)
	pool    []*packet             // free message packets

	// Convergence bookkeeping (see setReady and recount).
	missing   int64 // ordered pairs (i, j) of live nodes where i lacks j's current incarnation as a ready peer
	converged bool
	convLog   []Transition

	deliveries map[string]*delivery // shout/whisper content -> per-node receipt counts
	exitWhy    map[string]int       // EXIT reasons since the last Mark

	tr       tracer
	eagerArm bool // re-arm after every step (tests compare it with the lazy rule)

	stats     Stats
	lost      engine.Counters // counters of crashed incarnations
	peakHeap  uint64
	wallStart time.Time
	memTick   uint64
}

// ownerRef is where a UUID lives: node index and incarnation.
type ownerRef struct {
	node int32
	gen  uint32
}

type fault struct {
	drop  float64
	delay int64
}

// node is one simulated host: an address, a mailbox port and, while up, an
// engine incarnation.
type node struct {
	idx  int32
	addr netip.Addr
	ep   string
	id   zre.UUID
	gen  uint32 // incarnation: starts at 1, bumps on crash and on restart
	up   bool   // booted and not crashed or stopped: counts for convergence
	// started: the node's sockets are bound (its first tick ran). Before
	// that (see NodeConfig.Stagger) it receives nothing and sends nothing.
	started bool
	eng     *engine.Engine
	cfg     NodeConfig
	groups  []string // groups at crash time, rejoined on restart
	side    int32
	tickAt  int64 // the pending tick's time, noTick if none

	streams []stream // outbound streams by receiver index (grown on demand)
	readyOf []uint32 // by node index: the incarnation we hold as a ready peer (0: none)
	ready   int32    // ready peers (ENTER minus EXIT)

	evTotal  [nEventTypes]uint32
	evWindow [nEventTypes]uint32
}

const noTick = -1 << 63

// stream is our outbound connection to one node: reliable and FIFO.
type stream struct {
	last  int64  // delivery time of the last message sent: FIFO floor
	stall uint32 // non-zero while stalled: the id of its reset timer
	open  bool
}

type heldQueue struct {
	pkts []*packet
}

// packet is one datagram broadcast (shared by its copies) or one message.
type packet struct {
	from    int32
	fromGen uint32
	cmd     zre.Command
	seq     uint16
	port    uint16
	frame0  []byte
	content [][]byte
	in      engine.Input // beacons: the BeaconIn every copy delivers
}

// delivery counts, per node, how often one shout or whisper arrived.
type delivery struct {
	counts []uint16
}

// Transition is a change of the convergence state.
type Transition struct {
	At        time.Duration
	Converged bool
}

// New returns an empty simulator at virtual time zero.
func New(opts Options) *Sim {
	if opts.TraceLevel == 0 {
		opts.TraceLevel = TracePackets
	}
	s := &Sim{
		opts:       opts,
		link:       opts.Link,
		rng:        rand.New(rand.NewPCG(opts.Seed, 0x5a5e_6e37_0001)),
		idRng:      rand.New(rand.NewPCG(opts.Seed, 0x5a5e_6e37_0002)),
		byEP:       make(map[string]int32),
		owners:     make(map[zre.UUID]ownerRef),
		faults:     make(map[uint64]fault),
		held:       make(map[uint64]*heldQueue),
		deliveries: make(map[string]*delivery),
		exitWhy:    make(map[string]int),
		converged:  true,
		wallStart:  time.Now(),
	}
	s.tr.init(opts.Trace, opts.TraceLevel)
	return s
}

// SetLink replaces the default link. It applies to packets sent from now on.
func (s *Sim) SetLink(l Link) { s.link = l }

// Link returns the default link.
func (s *Sim) Link() Link { return s.link }

// SetHook installs a packet hook (nil removes it).
func (s *Sim) SetHook(h Hook) { s.hook = h }

// Now returns the virtual time elapsed since Epoch.
func (s *Sim) Now() time.Duration { return time.Duration(s.now) }

// Len returns the number of nodes ever added (live or crashed).
func (s *Sim) Len() int { return len(s.nodes) }

// Engine returns node i's current engine (nil while crashed). Stepping it
// directly bypasses the simulator; use it for queries.
func (s *Sim) Engine(i int) *engine.Engine { return s.nodes[i].eng }

// ID returns node i's current UUID.
func (s *Sim) ID(i int) zre.UUID { return s.nodes[i].id }

// Addr returns node i's address.
func (s *Sim) Addr(i int) netip.Addr { return s.nodes[i].addr }

// Up reports whether node i is running.
func (s *Sim) Up(i int) bool { return s.nodes[i].up }

// ReadyPeers returns how many ready peers node i has (ENTER minus EXIT of
// its current incarnation).
func (s *Sim) ReadyPeers(i int) int { return int(s.nodes[i].ready) }

// Converged reports whether every live node has every other live node's
// current incarnation as a ready peer.
func (s *Sim) Converged() bool { return s.missing == 0 }

// Missing returns the number of ordered pairs of live nodes (i, j) where i
// does not (yet) have j as a ready peer: 0 when converged.
func (s *Sim) Missing() int64 { return s.missing }

// Transitions returns the convergence changes so far.
func (s *Sim) Transitions() []Transition { return s.convLog }

// nodeAddr is node i's address: 10.0.0.1 for node 0, then upwards.
func nodeAddr(i int) netip.Addr {
	v := uint32(10<<24) + uint32(i+1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// AddNodes adds n nodes with cfg and starts them (at once, or spread over
// cfg.Stagger). It returns the index of the first.
func (s *Sim) AddNodes(n int, cfg NodeConfig) int {
	first := len(s.nodes)
	for k := range n {
		i := first + k
		nd := &node{idx: int32(i), addr: nodeAddr(i), cfg: cfg, tickAt: noTick}
		nd.ep = "tcp://" + netip.AddrPortFrom(nd.addr, MailboxPort).String()
		nd.groups = cfg.Groups
		s.nodes = append(s.nodes, nd)
		s.byEP[nd.ep] = int32(i)
		s.boot(nd, s.newID())
	}
	// Start times are drawn after every node exists, in index order.
	for _, nd := range s.nodes[first:] {
		at := s.now
		if cfg.Stagger > 0 {
			at += s.rng.Int64N(int64(cfg.Stagger))
		}
		s.push(event{at: at, kind: evStart, node: nd.idx, gen: nd.gen})
	}
	return first
}

func (s *Sim) newID() zre.UUID {
	var id zre.UUID
	a, b := s.idRng.Uint64(), s.idRng.Uint64()
	for k := range 8 {
		id[k] = byte(a >> (8 * k))
		id[8+k] = byte(b >> (8 * k))
	}
	return id
}

// boot starts a new incarnation of nd with id (no tick yet: see evStart).
func (s *Sim) boot(nd *node, id zre.UUID) {
	nd.id = id
	nd.gen++
	nd.up = true
	nd.started = false
	nd.ready = 0
	clear(nd.readyOf)
	nd.tickAt = noTick
	s.owners[id] = ownerRef{node: nd.idx, gen: nd.gen}
	s.missing += s.contrib(nd)
	s.noteConvergence()
	c := nd.cfg
	nd.eng = engine.New(engine.Config{
		ID:             id,
		Name:           "n" + strconv.Itoa(int(nd.idx)),
		Headers:        c.Headers,
		Groups:         nd.groups,
		Endpoint:       nd.ep,
		Port:           MailboxPort,
		BeaconVersion:  beacon.V1,
		BeaconInterval: c.BeaconInterval,
		EvasiveTimeout: c.EvasiveTimeout,
		SilentTimeout:  c.SilentTimeout,
		ExpiredTimeout: c.ExpiredTimeout,
	})
}

func (s *Sim) push(e event) {
	e.seq = s.seq
	s.seq++
	s.q.push(e)
}

func (s *Sim) timeNow() time.Time { return Epoch.Add(time.Duration(s.now)) }

// Run advances virtual time by d, processing every event due until then.
func (s *Sim) Run(d time.Duration) {
	s.runUntil(s.now+int64(d), false)
}

// RunUntilConverged advances virtual time until the nodes converge or max
// has passed. It reports whether they converged; the clock stops at the
// event that completed convergence.
func (s *Sim) RunUntilConverged(max time.Duration) bool {
	if s.missing == 0 {
		return true
	}
	return s.runUntil(s.now+int64(max), true)
}

func (s *Sim) runUntil(end int64, untilConverged bool) bool {
	for len(s.q) > 0 && s.q[0].at <= end {
		ev := s.q.pop()
		s.now = ev.at
		s.dispatch(&ev)
		s.stats.SimEvents++
		if s.stats.SimEvents&(1<<18-1) == 0 {
			s.sampleHeap()
		}
		if untilConverged && s.missing == 0 {
			s.sampleHeap()
			return true
		}
	}
	s.now = end
	s.sampleHeap()
	return s.missing == 0
}

func (s *Sim) sampleHeap() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.peakHeap = max(s.peakHeap, ms.HeapAlloc)
}

func (s *Sim) dispatch(ev *event) {
	nd := s.nodes[ev.node]
	switch ev.kind {
	case evStart:
		if nd.up && nd.gen == ev.gen {
			nd.started = true
			s.step(nd, engine.Tick{})
		}
	case evTick:
		if nd.up && nd.gen == ev.gen && nd.tickAt == ev.at {
			nd.tickAt = noTick
			s.step(nd, engine.Tick{})
		}
	case evBeacon:
		p := ev.p
		src := s.nodes[p.from]
		if !nd.up || !nd.started || src.gen != p.fromGen {
			return // a crash took the sender's or receiver's socket
		}
		s.stats.BeaconsDelivered++
		if s.tr.packets {
			s.tr.line(s.now, nd.idx, "beacon", "n", int64(p.from), "port="+strconv.Itoa(int(p.port)))
		}
		s.step(nd, p.in)
	case evMsg:
		s.deliver(nd, ev)
	case evStall:
		s.stallTimeout(nd, ev.aux, ev.gen)
	case evLost:
		if nd.up && nd.gen == ev.gen && int(ev.aux) < len(nd.streams) && nd.streams[ev.aux].open {
			s.step(nd, engine.ConnLost{Peer: s.nodes[ev.aux].id, Err: errKilled})
		}
	}
}

// step feeds one input to nd's engine, performs the outputs and re-arms
// the node's tick.
func (s *Sim) step(nd *node, in engine.Input) {
	s.stats.Steps++
	out := nd.eng.Step(s.timeNow(), in, s.out[:0])
	for k := range out {
		s.perform(nd, out[k])
	}
	n := len(out)
	clear(out)
	s.out = out[:0]
	// Re-arm after a tick, after any step with outputs, and when no tick
	// is pending. A step without outputs (a beacon or message refreshing a
	// known peer: most steps) can only move the engine's deadline later:
	// new peers come with Connect, a peer turning ready with ENTER. The
	// pending tick then fires early, which the engine allows (Tick with
	// nothing due does nothing), and re-arms. This saves a NextDeadline
	// per beacon, whose lazy heap fixing is a tenth of a 1,000-node run.
	if _, tick := in.(engine.Tick); tick || n > 0 || nd.tickAt == noTick || s.eagerArm {
		s.arm(nd)
	}
}

// arm keeps one pending tick per node, at the engine's NextDeadline. A
// tick that is no longer wanted stays in the queue and is skipped.
func (s *Sim) arm(nd *node) {
	if !nd.up || !nd.started {
		return
	}
	d := nd.eng.NextDeadline()
	var at int64
	switch {
	case d.Equal(engine.Never):
		nd.tickAt = noTick
		return
	case d.IsZero():
		at = s.now
	default:
		at = max(int64(d.Sub(Epoch)), s.now)
	}
	if at == nd.tickAt {
		return
	}
	nd.tickAt = at
	s.push(event{at: at, kind: evTick, node: nd.idx, gen: nd.gen})
}

func (s *Sim) perform(nd *node, o engine.Output) {
	switch o := o.(type) {
	case engine.SendBeacon:
		s.broadcast(nd, o.Port)
	case engine.Connect:
		j, ok := s.byEP[o.Endpoint]
		if !ok {
			s.stats.ConnectUnknown++
			s.tr.event(s.now, nd.idx, "connect-unknown", o.Endpoint)
			return
		}
		s.stream(nd, j).open = true
		s.stats.Connects++
		s.tr.peer(s.now, nd.idx, "connect", j)
	case engine.Disconnect:
		ref, ok := s.owners[o.Peer]
		if !ok {
			return
		}
		st := s.stream(nd, ref.node)
		st.open = false
		s.stats.Disconnects++
		s.dropHeld(nd.idx, ref.node, "disconnect")
		s.tr.peer(s.now, nd.idx, "disconnect", ref.node)
		if o.Inbound {
			s.closedBy(s.nodes[ref.node], nd)
		}
	case *engine.Send:
		s.send(nd, o.Peer, o.Msg)
	case *engine.Emit:
		s.onEvent(nd, &o.Event)
	}
}

// stream returns our stream to node j, growing the table as needed.
func (s *Sim) stream(nd *node, j int32) *stream {
	if int(j) >= len(nd.streams) {
		nd.streams = slices.Grow(nd.streams, len(s.nodes)-len(nd.streams))[:len(s.nodes)]
	}
	return &nd.streams[j]
}

// ---------------------------------------------------------------------------
// Datagrams

func (s *Sim) broadcast(nd *node, port uint16) {
	b := beacon.Beacon{Version: beacon.V1, ID: nd.id, Port: port}
	s.enc = b.Append(s.enc[:0])
	parsed, err := beacon.Parse(s.enc)
	if err != nil {
		panic(fmt.Sprintf("sim: own beacon does not parse: %v", err))
	}
	s.stats.BeaconsSent++
	s.stats.BeaconBytes += uint64(len(s.enc))
	p := &packet{from: nd.idx, fromGen: nd.gen, port: port, in: engine.BeaconIn{From: nd.addr, Beacon: parsed}}
	base := s.now + int64(s.link.Latency)
	for j, to := range s.nodes {
		if !to.up || !to.started {
			continue // no socket bound: not even a drop
		}
		if to.side != nd.side {
			s.dropBeacon(nd.idx, int32(j), port, "partition")
			continue
		}
		at := base
		if len(s.faults) > 0 {
			if f, ok := s.faults[pairKey(nd.idx, int32(j))]; ok {
				if f.drop > 0 && s.rng.Float64() < f.drop {
					s.dropBeacon(nd.idx, int32(j), port, "fault")
					continue
				}
				at += f.delay
			}
		}
		if s.hook != nil {
			s.pkt = Packet{Kind: PacketBeacon, From: int(nd.idx), To: j, At: time.Duration(s.now), Size: len(s.enc), Port: port}
			if s.hook(&s.pkt) {
				s.dropBeacon(nd.idx, int32(j), port, "hook")
				continue
			}
		}
		if s.link.Loss > 0 && s.rng.Float64() < s.link.Loss {
			s.dropBeacon(nd.idx, int32(j), port, "loss")
			continue
		}
		if s.link.Jitter > 0 {
			at += s.rng.Int64N(int64(s.link.Jitter) + 1)
		}
		s.push(event{at: at, kind: evBeacon, node: int32(j), p: p})
	}
}

func (s *Sim) dropBeacon(from, to int32, port uint16, why string) {
	s.stats.BeaconsDropped++
	if s.tr.packets {
		s.tr.line(s.now, to, "drop beacon", "n", int64(from), why)
	}
}

func pairKey(from, to int32) uint64 { return uint64(uint32(from))<<32 | uint64(uint32(to)) }

// ---------------------------------------------------------------------------
// Streams

func (s *Sim) newPacket() *packet {
	if n := len(s.pool); n > 0 {
		p := s.pool[n-1]
		s.pool = s.pool[:n-1]
		return p
	}
	return &packet{}
}

func (s *Sim) freePacket(p *packet) {
	p.content = nil
	p.frame0 = p.frame0[:0]
	s.pool = append(s.pool, p)
}

// send encodes m with the real codec and puts it on nd's stream to the
// node where the peer lives.
func (s *Sim) send(nd *node, peer zre.UUID, m zre.Message) {
	cmd := m.Command()
	ref, ok := s.owners[peer]
	if !ok {
		s.stats.SendUnknown++
		s.tr.event(s.now, nd.idx, "send-unknown", cmd.String())
		return
	}
	j := ref.node
	st := s.stream(nd, j)
	if !st.open {
		s.stats.SendNotConnected++
		s.tr.msgDrop(s.now, j, cmd, m.Seq(), nd.idx, "not-connected")
		return
	}
	p := s.newPacket()
	var err error
	p.frame0, err = m.Append(p.frame0[:0])
	if err != nil {
		s.stats.EncodeErrors++
		s.tr.msgDrop(s.now, j, cmd, m.Seq(), nd.idx, "encode: "+err.Error())
		s.freePacket(p)
		return
	}
	p.from, p.fromGen, p.cmd, p.seq = nd.idx, nd.gen, cmd, m.Seq()
	if c := zre.ContentOf(m); len(c) > 0 {
		// The bytes leave the sender now, as on a socket: copy them. The
		// copy goes to the receiver, which owns it.
		p.content = make([][]byte, len(c))
		for k, f := range c {
			p.content[k] = append([]byte(nil), f...)
		}
	}
	size := len(p.frame0)
	for _, c := range p.content {
		size += len(c)
	}
	ms := &s.stats.Messages[int(cmd)%numCmds]
	ms.Sent++
	ms.Bytes += uint64(size)

	to := s.nodes[j]
	if !to.up || !to.started {
		s.dropMsg(p, j, "down")
		return
	}
	extra := int64(0)
	if len(s.faults) > 0 {
		if f, ok := s.faults[pairKey(nd.idx, j)]; ok {
			if f.drop > 0 && s.rng.Float64() < f.drop {
				s.dropMsg(p, j, "fault")
				return
			}
			extra = f.delay
		}
	}
	if s.hook != nil {
		frames := make([][]byte, 0, 1+len(p.content))
		frames = append(append(frames, p.frame0), p.content...)
		s.pkt = Packet{Kind: PacketMessage, From: int(nd.idx), To: int(j), At: time.Duration(s.now), Cmd: cmd, Seq: p.seq, Size: size, Frames: frames}
		if s.hook(&s.pkt) {
			s.dropMsg(p, j, "hook")
			return
		}
	}
	if st.stall != 0 || to.side != nd.side {
		s.hold(nd, j, st, p)
		return
	}
	s.transmit(nd.idx, j, st, p, extra, to.gen)
}

// transmit schedules p's delivery: FIFO after the stream's previous message.
func (s *Sim) transmit(from, to int32, st *stream, p *packet, extra int64, toGen uint32) {
	at := s.now + int64(s.link.Latency) + extra
	if s.link.Jitter > 0 {
		at += s.rng.Int64N(int64(s.link.Jitter) + 1)
	}
	at = max(at, st.last)
	st.last = at
	s.push(event{at: at, kind: evMsg, node: to, gen: toGen, p: p})
}

func (s *Sim) dropMsg(p *packet, to int32, why string) {
	ms := &s.stats.Messages[int(p.cmd)%numCmds]
	ms.Dropped++
	if s.tr.packets {
		s.tr.msgDrop(s.now, to, p.cmd, p.seq, p.from, why)
	}
	s.freePacket(p)
}

// hold keeps p on a stream blocked by a partition. The first held message
// arms the stream's reset timer.
func (s *Sim) hold(nd *node, j int32, st *stream, p *packet) {
	key := pairKey(nd.idx, j)
	hq := s.held[key]
	if hq == nil {
		hq = &heldQueue{}
		s.held[key] = hq
	}
	if st.stall == 0 {
		s.stats.Stalls++
		st.stall = uint32(s.stats.Stalls)
		if len(s.stalled) > 2*len(s.held)+64 {
			s.compactStalled()
		}
		s.stalled = append(s.stalled, key)
		timeout := s.link.StallTimeout
		if timeout <= 0 {
			timeout = DefaultStallTimeout
		}
		s.push(event{at: s.now + int64(timeout), kind: evStall, node: nd.idx, aux: j, gen: st.stall})
	}
	hq.pkts = append(hq.pkts, p)
	s.stats.Held++
	if s.tr.packets {
		s.tr.msgVerb(s.now, j, "hold ", p.cmd, p.seq, p.from, "partition")
	}
}

// stallTimeout resets a stream that is still stalled by the same stall:
// its held data is lost, and the engine is told that the connection
// broke, as a real node's outbox tells it (ConnLost: the peer is dropped).
func (s *Sim) stallTimeout(nd *node, j int32, id uint32) {
	if int(j) >= len(nd.streams) || nd.streams[j].stall != id {
		return
	}
	s.stats.StreamResets++
	s.tr.peer(s.now, nd.idx, "stream-reset", j)
	s.dropHeld(nd.idx, j, "reset")
	s.step(nd, engine.ConnLost{Peer: s.nodes[j].id, Err: errStreamReset})
}

var (
	errStreamReset = errors.New("stream reset")
	errKilled      = errors.New("closed by the peer")
)

// dropHeld discards the data held on stream from -> to and clears its stall.
func (s *Sim) dropHeld(from, to int32, why string) {
	nd := s.nodes[from]
	if int(to) < len(nd.streams) {
		nd.streams[to].stall = 0
	}
	key := pairKey(from, to)
	hq := s.held[key]
	if hq == nil {
		return
	}
	for _, p := range hq.pkts {
		s.dropMsg(p, to, why)
	}
	delete(s.held, key)
}

// compactStalled forgets stalled-list entries of streams that reset or
// closed since (a stream that stalls again is appended anew).
func (s *Sim) compactStalled() {
	seen := make(map[uint64]bool, len(s.held))
	keep := s.stalled[:0]
	for _, key := range s.stalled {
		if s.held[key] != nil && !seen[key] {
			seen[key] = true
			keep = append(keep, key)
		}
	}
	clear(s.stalled[len(keep):])
	s.stalled = keep
}

// flush sends the data held on stalled streams that are no longer blocked,
// in the order the streams stalled.
func (s *Sim) flush() {
	keep := s.stalled[:0]
	for _, key := range s.stalled {
		from, to := int32(key>>32), int32(uint32(key))
		nd, dst := s.nodes[from], s.nodes[to]
		hq := s.held[key]
		if hq == nil || int(to) >= len(nd.streams) || nd.streams[to].stall == 0 {
			continue // reset or dropped meanwhile
		}
		if nd.side != dst.side {
			keep = append(keep, key)
			continue
		}
		st := &nd.streams[to]
		st.stall = 0
		extra := s.faults[key].delay
		for _, p := range hq.pkts {
			s.transmit(from, to, st, p, extra, dst.gen)
		}
		delete(s.held, key)
	}
	clear(s.stalled[len(keep):])
	s.stalled = keep
}

// deliver hands a stream message to its receiver through the real codec.
func (s *Sim) deliver(nd *node, ev *event) {
	p := ev.p
	src := s.nodes[p.from]
	if !nd.up || !nd.started || nd.gen != ev.gen || src.gen != p.fromGen {
		s.dropMsg(p, nd.idx, "crashed")
		return
	}
	var fs [][]byte
	if len(p.content) == 0 {
		s.frames[0] = p.frame0 // parsing copies frame 0; nothing keeps fs
		fs = s.frames[:]
	} else {
		// The parsed message keeps fs[1:], our private copy of the
		// content (see send), as its content.
		fs = make([][]byte, 0, 1+len(p.content))
		fs = append(append(fs, p.frame0), p.content...)
	}
	m, err := zre.ParseFrames(fs)
	s.frames[0] = nil
	from := src.id
	ms := &s.stats.Messages[int(p.cmd)%numCmds]
	ms.Delivered++
	if s.tr.packets {
		s.tr.msg(s.now, nd.idx, p.cmd, p.seq, p.from, len(p.frame0))
	}
	var in engine.Input
	if err != nil {
		s.stats.ParseErrors++
		in = engine.BadMessage{From: from, Err: err}
	} else {
		in = engine.MessageIn{From: from, Msg: m}
	}
	s.freePacket(p)
	s.step(nd, in)
}

// ---------------------------------------------------------------------------
// Events and convergence

const nEventTypes = int(engine.EventLeader) + 1

var eventNames = [nEventTypes]string{
	engine.EventEnter:   "ENTER",
	engine.EventExit:    "EXIT",
	engine.EventJoin:    "JOIN",
	engine.EventLeave:   "LEAVE",
	engine.EventWhisper: "WHISPER",
	engine.EventShout:   "SHOUT",
	engine.EventEvasive: "EVASIVE",
	engine.EventSilent:  "SILENT",
	engine.EventLeader:  "LEADER",
}

// EventTypeName returns the name of an event type ("ENTER", ...).
func EventTypeName(t engine.EventType) string {
	if int(t) < nEventTypes && eventNames[t] != "" {
		return eventNames[t]
	}
	return "EVENT(" + strconv.Itoa(int(t)) + ")"
}

func (s *Sim) onEvent(nd *node, ev *engine.Event) {
	t := int(ev.Type)
	if t >= nEventTypes {
		t = 0
	}
	nd.evTotal[t]++
	nd.evWindow[t]++
	s.stats.Events[t]++
	ref, known := s.owners[ev.Peer]
	peer := int32(-1)
	if known {
		peer = ref.node
	}
	switch ev.Type {
	case engine.EventEnter:
		nd.ready++
		if known {
			s.setReady(nd, ref.node, ref.gen)
		}
	case engine.EventExit:
		nd.ready--
		s.exitWhy[ev.Reason]++
		if known && int(ref.node) < len(nd.readyOf) && nd.readyOf[ref.node] == ref.gen {
			s.setReady(nd, ref.node, 0)
		}
	case engine.EventShout:
		s.record(shoutKey(ev.Group, ev.Content), nd.idx)
	case engine.EventWhisper:
		s.record(whisperKey(ev.Content), nd.idx)
	}
	if s.tr.on {
		detail := ev.Group
		if ev.Type == engine.EventExit {
			detail = ev.Reason
		}
		s.tr.line(s.now, nd.idx, "event "+EventTypeName(ev.Type), "n", int64(peer), detail)
	}
}

// setReady records that nd holds incarnation gen of node j as ready (0:
// none) and keeps the missing-pair count up to date.
func (s *Sim) setReady(nd *node, j int32, gen uint32) {
	if int(j) >= len(nd.readyOf) {
		nd.readyOf = slices.Grow(nd.readyOf, len(s.nodes)-len(nd.readyOf))[:len(s.nodes)]
	}
	old := nd.readyOf[j]
	nd.readyOf[j] = gen
	dst := s.nodes[j]
	if !nd.up || !dst.up || j == nd.idx {
		return
	}
	before := old != dst.gen
	after := gen != dst.gen
	switch {
	case before && !after:
		s.missing--
	case !before && after:
		s.missing++
	}
	s.noteConvergence()
}

// contrib counts the missing pairs that involve live node j: live nodes
// lacking j's current incarnation, and live nodes j lacks. A node going up
// adds its contribution, one going down subtracts it (O(N) each).
func (s *Sim) contrib(j *node) int64 {
	var m int64
	for k, i := range s.nodes {
		if !i.up || i == j {
			continue
		}
		if int(j.idx) >= len(i.readyOf) || i.readyOf[j.idx] != j.gen {
			m++
		}
		if k >= len(j.readyOf) || j.readyOf[k] != i.gen {
			m++
		}
	}
	return m
}

// recount recomputes the missing-pair count from scratch (O(N²)); tests
// use it to check the incremental count.
func (s *Sim) recount() int64 {
	var m int64
	for _, a := range s.nodes {
		if !a.up {
			continue
		}
		for j, b := range s.nodes {
			if !b.up || int32(j) == a.idx {
				continue
			}
			if j >= len(a.readyOf) || a.readyOf[j] != b.gen {
				m++
			}
		}
	}
	return m
}

func (s *Sim) noteConvergence() {
	c := s.missing == 0
	if c != s.converged {
		s.converged = c
		s.convLog = append(s.convLog, Transition{At: time.Duration(s.now), Converged: c})
	}
}

func shoutKey(group string, content [][]byte) string {
	n := len(group) + 1
	for _, c := range content {
		n += len(c) + 1
	}
	b := make([]byte, 0, n)
	b = append(append(b, group...), 0)
	for k, c := range content {
		if k > 0 {
			b = append(b, ' ')
		}
		b = append(b, c...)
	}
	return string(b)
}

func whisperKey(content [][]byte) string { return shoutKey("\x00whisper", content) }

func (s *Sim) record(key string, i int32) {
	d := s.deliveries[key]
	if d == nil {
		d = &delivery{}
		s.deliveries[key] = d
	}
	if int(i) >= len(d.counts) {
		d.counts = append(d.counts, make([]uint16, len(s.nodes)-len(d.counts))...)
	}
	if d.counts[i] < 1<<16-1 {
		d.counts[i]++
	}
}

// ---------------------------------------------------------------------------
// Commands and faults

func (s *Sim) live(i int) (*node, error) {
	if i < 0 || i >= len(s.nodes) {
		return nil, fmt.Errorf("sim: no node %d (have %d)", i, len(s.nodes))
	}
	nd := s.nodes[i]
	if !nd.up {
		return nil, fmt.Errorf("sim: node %d is down", i)
	}
	return nd, nil
}

// Do steps a command input (JoinGroup, SendShout, Stop, ...) on node i now.
func (s *Sim) Do(i int, in engine.Input) error {
	nd, err := s.live(i)
	if err != nil {
		return err
	}
	s.step(nd, in)
	return nil
}

// Join makes node i join group.
func (s *Sim) Join(i int, group string) error { return s.Do(i, engine.JoinGroup{Group: group}) }

// Leave makes node i leave group.
func (s *Sim) Leave(i int, group string) error { return s.Do(i, engine.LeaveGroup{Group: group}) }

// Shout sends content to group from node i.
func (s *Sim) Shout(i int, group string, content ...[]byte) error {
	return s.Do(i, engine.SendShout{Group: group, Content: content})
}

// Whisper sends content from node i to node j's current UUID.
func (s *Sim) Whisper(i, j int, content ...[]byte) error {
	if j < 0 || j >= len(s.nodes) {
		return fmt.Errorf("sim: no node %d", j)
	}
	return s.Do(i, engine.SendWhisper{To: s.nodes[j].id, Content: content})
}

// Stop makes node i leave politely (port-0 beacon, GOODBYE, Disconnect).
// The node stays down afterwards; Restart brings it back.
func (s *Sim) Stop(i int) error {
	nd, err := s.live(i)
	if err != nil {
		return err
	}
	s.tr.event(s.now, nd.idx, "stop", "")
	s.step(nd, engine.Stop{})
	s.down(nd, false)
	return nil
}

// Crash stops node i at once: its engine state is lost, nothing more is
// delivered from or to it, and packets in flight from or to it are lost.
func (s *Sim) Crash(i int) error {
	nd, err := s.live(i)
	if err != nil {
		return err
	}
	s.tr.event(s.now, nd.idx, "crash", "")
	s.down(nd, true)
	return nil
}

// Kill stops node i as a killed process stops: like Crash, but its
// operating system closes its connections, so every node with a
// connection to it on its side of any partition learns one link latency
// later that the connection broke (ConnLost), as a real node's outbox
// does, and drops it at once instead of waiting for the expiry timer.
func (s *Sim) Kill(i int) error {
	nd, err := s.live(i)
	if err != nil {
		return err
	}
	s.tr.event(s.now, nd.idx, "kill", "")
	s.down(nd, true)
	for _, o := range s.nodes {
		if o != nd && int(nd.idx) < len(o.streams) && o.streams[nd.idx].open {
			s.closedBy(o, nd)
		}
	}
	return nil
}

// closedBy closes o's stream to nd from nd's side: if o is up and on nd's
// side of any partition, it learns one link latency later that the
// connection broke (ConnLost; ignored then if the stream is gone).
func (s *Sim) closedBy(o, nd *node) {
	if o.up && o.side == nd.side {
		s.push(event{at: s.now + int64(s.link.Latency), kind: evLost, node: o.idx, aux: nd.idx, gen: o.gen})
	}
}

func (s *Sim) down(nd *node, crash bool) {
	s.missing -= s.contrib(nd)
	nd.groups = nd.eng.OwnGroups()
	c := nd.eng.Counters()
	addCounters(&s.lost, &c)
	nd.eng = nil
	nd.up = false
	nd.started = false
	nd.tickAt = noTick
	nd.ready = 0
	clear(nd.readyOf)
	// Our outbound connections die with the process; data held by
	// partitions on streams to or from us is lost.
	for j := range nd.streams {
		nd.streams[j] = stream{}
	}
	for _, key := range s.stalled {
		from, to := int32(key>>32), int32(uint32(key))
		if from == nd.idx || to == nd.idx {
			s.dropHeld(from, to, "crashed")
		}
	}
	if crash {
		// In-flight packets to the old incarnation are dropped on arrival
		// (the event carries the incarnation); bump it now so that holds.
		nd.gen++
	}
	s.noteConvergence()
}

// Restart boots node i again at the same address and port, with its old
// UUID or, if newID, a fresh one. It rejoins the groups it was in.
func (s *Sim) Restart(i int, newID bool) error {
	if i < 0 || i >= len(s.nodes) {
		return fmt.Errorf("sim: no node %d", i)
	}
	nd := s.nodes[i]
	if nd.up {
		return fmt.Errorf("sim: node %d is up", i)
	}
	id := nd.id
	if newID {
		id = s.newID()
	}
	s.boot(nd, id)
	s.tr.event(s.now, nd.idx, "restart", "id="+id.String())
	s.push(event{at: s.now, kind: evStart, node: nd.idx, gen: nd.gen})
	return nil
}

// Partition splits the network: sides[k] gets side k+1, every other node
// side 0. Nodes on different sides exchange nothing: datagrams are dropped,
// streams stall (and reset after the stall timeout). It replaces any
// previous partition; streams no longer blocked flush their held data.
func (s *Sim) Partition(sides ...[]int) {
	for _, nd := range s.nodes {
		nd.side = 0
	}
	for k, side := range sides {
		for _, i := range side {
			if i >= 0 && i < len(s.nodes) {
				s.nodes[i].side = int32(k + 1)
			}
		}
	}
	s.tr.event(s.now, -1, "partition", strconv.Itoa(len(sides))+" sides")
	s.flush()
}

// Heal removes the partition; held stream data flows again, in order.
func (s *Sim) Heal() {
	for _, nd := range s.nodes {
		nd.side = 0
	}
	s.tr.event(s.now, -1, "heal", "")
	s.flush()
}

// Drop sets the probability that a packet (datagram or message) from node
// from to node to is lost, on top of the link's datagram loss. A lost
// stream message models data lost in a connection reset: the receiver sees
// a sequence gap. Rate 0 with delay 0 removes the override.
func (s *Sim) Drop(from, to int, rate float64) {
	s.setFault(from, to, func(f *fault) { f.drop = rate })
}

// Delay adds d to every packet from node from to node to.
func (s *Sim) Delay(from, to int, d time.Duration) {
	s.setFault(from, to, func(f *fault) { f.delay = int64(d) })
}

func (s *Sim) setFault(from, to int, set func(*fault)) {
	key := pairKey(int32(from), int32(to))
	f := s.faults[key]
	set(&f)
	if f == (fault{}) {
		delete(s.faults, key)
		return
	}
	s.faults[key] = f
}

// ClearFaults removes every per-pair override.
func (s *Sim) ClearFaults() { clear(s.faults) }

// Mark starts a new window for the per-node event counts and the EXIT
// reasons that scripts check.
func (s *Sim) Mark() {
	for _, nd := range s.nodes {
		nd.evWindow = [nEventTypes]uint32{}
	}
	clear(s.exitWhy)
}

// EventCount returns node i's events of type t since the last Mark.
func (s *Sim) EventCount(i int, t engine.EventType) int {
	if int(t) >= nEventTypes {
		return 0
	}
	return int(s.nodes[i].evWindow[t])
}

// Delivered returns, per node, how many times the shout of content to
// group arrived.
func (s *Sim) Delivered(group string, content ...[]byte) []int {
	return s.counts(shoutKey(group, content))
}

// Whispered returns, per node, how many times the whisper of content arrived.
func (s *Sim) Whispered(content ...[]byte) []int { return s.counts(whisperKey(content)) }

func (s *Sim) counts(key string) []int {
	out := make([]int, len(s.nodes))
	if d := s.deliveries[key]; d != nil {
		for k, c := range d.counts {
			out[k] = int(c)
		}
	}
	return out
}

// Verify checks the simulator's bookkeeping against the engines: each live
// node's ready-peer count and convergence state must match its engine's
// Peers. It costs O(N²) allocations; use it in small tests.
func (s *Sim) Verify() error {
	var missing int64
	for _, nd := range s.nodes {
		if !nd.up {
			continue
		}
		ready := make(map[zre.UUID]bool)
		for _, p := range nd.eng.Peers() {
			if p.Ready {
				ready[p.ID] = true
			}
		}
		if len(ready) != int(nd.ready) {
			return fmt.Errorf("sim: node %d: engine has %d ready peers, events say %d", nd.idx, len(ready), nd.ready)
		}
		for _, b := range s.nodes {
			if b.up && b != nd && !ready[b.id] {
				missing++
			}
		}
	}
	if m := s.recount(); m != s.missing {
		return fmt.Errorf("sim: incremental missing-pair count %d, recount %d", s.missing, m)
	}
	if missing != s.missing {
		return fmt.Errorf("sim: engines miss %d peer pairs, bookkeeping says %d", missing, s.missing)
	}
	return nil
}

// Flush writes out buffered trace lines.
func (s *Sim) Flush() error { return s.tr.flush() }
