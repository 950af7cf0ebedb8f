package simnet

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Defaults set by [New].
const (
	DefaultStallTimeout   = 10 * time.Second // Net.StallTimeout
	DefaultDialTimeout    = 10 * time.Second // Net.DialTimeout
	DefaultPacketQueueLen = 1024             // Net.PacketQueueLen
	DefaultStreamWindow   = 4 << 20          // Net.StreamWindow (4 MiB)
)

// Backlog is how many connections a listener holds before they are
// accepted; a further connection attempt is refused.
const Backlog = 512

// firstEphemeral is where ephemeral port allocation starts (RFC 6335).
const firstEphemeral = 49152

// A Link describes the path between two hosts. The zero Link is a perfect,
// instantaneous link.
type Link struct {
	// Latency is the one-way delay of every datagram and stream segment.
	Latency time.Duration
	// Jitter adds a further delay drawn uniformly from [0, Jitter] for each
	// datagram copy and stream segment. Datagrams may be reordered by it;
	// streams are not.
	Jitter time.Duration
	// Loss is the probability, from 0 to 1, that a datagram copy is lost.
	// It does not apply to streams, which are reliable.
	Loss float64
	// MTU is the largest datagram payload, in bytes, that the link carries;
	// larger datagrams are dropped. Zero means unlimited. Streams are not
	// affected.
	MTU int
}

func (l Link) validate() {
	if l.Latency < 0 || l.Jitter < 0 || l.MTU < 0 || !(l.Loss >= 0 && l.Loss <= 1) {
		panic(fmt.Sprintf("simnet: invalid Link %+v", l))
	}
}

// Packet is what a [Net.OnPacket] hook sees: one datagram copy on its way
// to one receiving host, or one stream Write.
type Packet struct {
	// Src is the sender's host address and the sending socket's port.
	Src netip.AddrPort
	// Dst is the receiving host's address and the destination port. For a
	// broadcast or multicast copy it is the address of the host receiving
	// this copy, not the broadcast address.
	Dst netip.AddrPort
	// Data is the payload. The hook must neither modify nor retain it.
	Data []byte
	// Stream reports a stream Write rather than a datagram.
	Stream bool
	// Broadcast reports a copy of a broadcast or multicast datagram.
	Broadcast bool
}

// Stats are counters of a Net's traffic since [New].
type Stats struct {
	// DatagramsSent counts datagrams accepted by WriteTo; a broadcast
	// counts once however many copies it makes.
	DatagramsSent uint64
	// DatagramsDelivered counts datagram copies placed in a receive queue.
	DatagramsDelivered uint64
	// DatagramsDropped counts datagram copies lost on the way: to Loss,
	// MTU, a partition, a hook, a full or closed receive queue, or no
	// socket bound at the destination.
	DatagramsDropped uint64
	// StreamBytesSent counts bytes accepted by stream Writes.
	StreamBytesSent uint64
	// StreamBytesDelivered counts bytes returned by stream Reads.
	StreamBytesDelivered uint64
	// StreamsOpened counts connections established by Dial.
	StreamsOpened uint64
	// StreamsReset counts connections reset: by a stall past StallTimeout,
	// by a hook, by closing a listener with unaccepted connections, or by a
	// dialer giving up after the listener had queued the connection.
	StreamsReset uint64
}

// Net is a simulated network. Create one with [New]; its methods are safe
// for concurrent use. The exported fields are settings: change them only
// before the network carries traffic.
type Net struct {
	// StallTimeout is how long a stream may hold undeliverable data across
	// a partition before both ends are reset. New sets DefaultStallTimeout;
	// zero or negative means never reset.
	StallTimeout time.Duration
	// DialTimeout bounds how long Dial waits for a connection, which
	// matters when it waits for a partition to heal; Dial then fails with
	// an error wrapping syscall.ETIMEDOUT. New sets DefaultDialTimeout;
	// zero or negative means wait for the context only.
	DialTimeout time.Duration
	// PacketQueueLen is the number of datagrams each datagram socket
	// queues before dropping. New sets DefaultPacketQueueLen; values below
	// one mean the default.
	PacketQueueLen int
	// StreamWindow is the number of bytes a stream direction holds, in
	// flight or unread, before Write blocks. New sets
	// DefaultStreamWindow; values below one mean the default.
	StreamWindow int

	mu      sync.Mutex // guards everything below and all hosts, sockets and streams
	rng     *rand.Rand
	hosts   map[netip.Addr]*Host
	order   []*Host // hosts in creation order, for deterministic broadcast
	defLink Link
	links   map[[2]netip.Addr]Link
	sides   map[netip.Addr]int // partition side by address; nil when healed
	hook    func(Packet) bool
	stats   Stats
	closed  bool
	streams []*stream      // live streams, for partition changes and Close
	dials   map[*dial]bool // dials in progress, woken by Close
	topo    event          // broadcast when the partition changes or the Net closes

	// The scheduler: datagram deliveries, connection setup and stall
	// timeouts, run in (at, seq) order by one AfterFunc timer.
	queue   schedQueue
	seq     uint64
	timer   *time.Timer
	armed   bool
	armedAt time.Time
}

// New returns an empty network whose random choices (loss, jitter) come
// from a PCG generator seeded with seed.
func New(seed uint64) *Net {
	return &Net{
		StallTimeout:   DefaultStallTimeout,
		DialTimeout:    DefaultDialTimeout,
		PacketQueueLen: DefaultPacketQueueLen,
		StreamWindow:   DefaultStreamWindow,
		rng:            rand.New(rand.NewPCG(seed, 0x5eed_51e7_5eed_51e7)),
		hosts:          make(map[netip.Addr]*Host),
		links:          make(map[[2]netip.Addr]Link),
		dials:          make(map[*dial]bool),
	}
}

// normAddr unmaps IPv4-in-IPv6 addresses and drops zones.
func normAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// Host returns the host with address ip, creating it on first use. The
// address must be a unicast IPv4 or IPv6 address not ending in .255 (which
// simnet treats as a broadcast address); IPv4-mapped IPv6 addresses are
// unmapped and zones ignored. Host panics on other addresses.
func (n *Net) Host(ip netip.Addr) *Host {
	ip = normAddr(ip)
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || isBroadcast(ip) {
		panic(fmt.Sprintf("simnet: invalid host address %v", ip))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if h := n.hosts[ip]; h != nil {
		return h
	}
	h := &Host{
		n:       n,
		ip:      ip,
		udp:     make(map[uint16][]*packetConn),
		tcp:     make(map[uint16]*listener),
		tcpUsed: make(map[uint16]int),
		nextUDP: firstEphemeral,
		nextTCP: firstEphemeral,
	}
	n.hosts[ip] = h
	n.order = append(n.order, h)
	return h
}

// SetDefaultLink sets the link used between every pair of distinct hosts
// without a link of their own. It applies to datagrams sent and stream
// segments written from now on. It panics if l has a negative duration or
// MTU, or a Loss outside [0, 1].
func (n *Net) SetDefaultLink(l Link) {
	l.validate()
	n.mu.Lock()
	n.defLink = l
	n.mu.Unlock()
}

// SetLink sets the link between hosts a and b, in both directions,
// overriding the default link. With a == b it sets the link a host uses to
// reach itself, which is otherwise perfect. It panics if l is invalid, as
// [Net.SetDefaultLink] does.
func (n *Net) SetLink(a, b netip.Addr, l Link) {
	l.validate()
	n.mu.Lock()
	n.links[linkKey(normAddr(a), normAddr(b))] = l
	n.mu.Unlock()
}

func linkKey(a, b netip.Addr) [2]netip.Addr {
	if b.Less(a) {
		a, b = b, a
	}
	return [2]netip.Addr{a, b}
}

// link returns the link between a and b. n.mu must be held.
func (n *Net) link(a, b netip.Addr) Link {
	if l, ok := n.links[linkKey(a, b)]; ok {
		return l
	}
	if a == b {
		return Link{}
	}
	return n.defLink
}

// delay draws latency plus jitter for one datagram copy or segment.
// n.mu must be held.
func (n *Net) delay(l Link) time.Duration {
	d := l.Latency
	if l.Jitter > 0 {
		d += time.Duration(n.rng.Int64N(int64(l.Jitter) + 1))
	}
	return d
}

// Partition splits the network: each argument lists the addresses on one
// side, and every host not listed (including hosts created later) is on one
// further side together. Traffic between hosts on different sides is
// blocked (see the package documentation for what that does to datagrams,
// streams and dials). A new Partition replaces the previous one.
func (n *Net) Partition(sides ...[]netip.Addr) {
	m := make(map[netip.Addr]int)
	for i, side := range sides {
		for _, a := range side {
			m[normAddr(a)] = i + 1
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.setSides(m)
}

// Heal removes the partition: every host can reach every other again, and
// stalled streams resume.
func (n *Net) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.setSides(nil)
}

func sideOf(sides map[netip.Addr]int, a netip.Addr) int { return sides[a] }

// blocked reports whether the partition separates a and b. n.mu must be held.
func (n *Net) blocked(a, b netip.Addr) bool {
	return sideOf(n.sides, a) != sideOf(n.sides, b)
}

// setSides installs a new partition and moves every stream across the
// change. n.mu must be held.
func (n *Net) setSides(m map[netip.Addr]int) {
	if n.closed {
		return
	}
	old := n.sides
	n.sides = m
	now := time.Now()
	for _, s := range n.streams {
		for _, p := range s.pipes {
			was := sideOf(old, p.src) != sideOf(old, p.dst)
			is := n.blocked(p.src, p.dst)
			switch {
			case !was && is:
				p.cut(now)
			case was && !is:
				p.resume(now.Add(n.link(p.src, p.dst).Latency))
				p.wake.broadcast()
			}
		}
		n.checkStall(s, now)
	}
	n.topo.broadcast()
}

// OnPacket installs hook, called for every datagram copy addressed to a
// bound socket and for every non-empty stream Write, before the link's
// faults (partition, MTU, loss) are applied. Returning true drops the
// datagram copy; for a stream Write it resets the connection (both ends get
// syscall.ECONNRESET), since a stream cannot lose data. The hook runs
// without simnet's lock held, possibly from several goroutines at once, and
// may call the Net's methods. A nil hook removes it.
func (n *Net) OnPacket(hook func(Packet) (drop bool)) {
	n.mu.Lock()
	n.hook = hook
	n.mu.Unlock()
}

// Stats returns a snapshot of the traffic counters.
func (n *Net) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Close shuts the network down: every socket, listener and connection is
// closed (blocked calls return errors wrapping net.ErrClosed), pending
// deliveries are discarded, and simnet's timer is stopped. Nothing of the
// Net keeps running afterwards. Close is idempotent.
func (n *Net) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	if n.timer != nil {
		n.timer.Stop()
	}
	n.armed = false
	n.queue = nil
	// Sockets see n.closed; their own Close still works (and frees ports).
	for _, h := range n.order {
		for _, cs := range h.udp {
			for _, c := range cs {
				c.queue = nil
				c.wake.broadcast()
			}
		}
		for _, l := range h.tcp {
			l.backlog = nil
			l.wake.broadcast()
		}
	}
	for _, s := range n.streams {
		s.drop()
		s.idx = -1
	}
	n.streams = nil
	for d := range n.dials {
		d.wake.broadcast()
	}
	n.topo.broadcast()
}

// addStream registers a live stream. n.mu must be held.
func (n *Net) addStream(s *stream) {
	s.idx = len(n.streams)
	n.streams = append(n.streams, s)
}

// removeStream forgets a stream that needs no more partition handling.
// n.mu must be held.
func (n *Net) removeStream(s *stream) {
	i := s.idx
	if i < 0 {
		return
	}
	last := len(n.streams) - 1
	n.streams[i] = n.streams[last]
	n.streams[i].idx = i
	n.streams[last] = nil
	n.streams = n.streams[:last]
	s.idx = -1
}

// ---- scheduler ----

type schedItem struct {
	at  time.Time
	seq uint64
	fn  func() // runs with n.mu held
}

type schedQueue []schedItem

func (q schedQueue) Len() int { return len(q) }
func (q schedQueue) Less(i, j int) bool {
	if c := q[i].at.Compare(q[j].at); c != 0 {
		return c < 0
	}
	return q[i].seq < q[j].seq
}
func (q schedQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *schedQueue) Push(x any)   { *q = append(*q, x.(schedItem)) }
func (q *schedQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = schedItem{}
	*q = old[:len(old)-1]
	return it
}

// schedule arranges for fn to run, with n.mu held, at time at. Items due at
// the same time run in the order they were scheduled. n.mu must be held.
func (n *Net) schedule(at time.Time, fn func()) {
	if n.closed {
		return
	}
	n.seq++
	heap.Push(&n.queue, schedItem{at: at, seq: n.seq, fn: fn})
	if !n.armed || at.Before(n.armedAt) {
		n.arm(at)
	}
}

// arm sets the timer to fire at at. n.mu must be held.
func (n *Net) arm(at time.Time) {
	d := max(time.Until(at), 0)
	if n.timer == nil {
		n.timer = time.AfterFunc(d, n.run)
	} else {
		n.timer.Reset(d)
	}
	n.armed, n.armedAt = true, at
}

// run is the timer's callback: it runs every item that is due and re-arms
// the timer for the next one.
func (n *Net) run() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.armed = false
	now := time.Now()
	for len(n.queue) > 0 && !n.queue[0].at.After(now) {
		it := heap.Pop(&n.queue).(schedItem)
		it.fn()
		if n.closed {
			return
		}
	}
	if len(n.queue) > 0 {
		n.arm(n.queue[0].at)
	}
}

// ---- waiting ----

// event is a broadcast signal usable in select: waiters take wait()'s
// channel under n.mu and block on it after unlocking; broadcast closes it.
// The channel is made only when someone waits.
type event struct{ ch chan struct{} }

func (e *event) wait() <-chan struct{} {
	if e.ch == nil {
		e.ch = make(chan struct{})
	}
	return e.ch
}

func (e *event) broadcast() {
	if e.ch != nil {
		close(e.ch)
		e.ch = nil
	}
}

// wait releases n.mu and blocks until ev is broadcast, done is closed, or
// the earlier of the non-zero times t1 and t2 arrives; then it relocks
// n.mu. Callers recheck their condition in a loop. n.mu must be held.
func (n *Net) wait(ev *event, done <-chan struct{}, t1, t2 time.Time) {
	ch := ev.wait()
	t := t1
	if t.IsZero() || (!t2.IsZero() && t2.Before(t)) {
		t = t2
	}
	var tc <-chan time.Time
	if !t.IsZero() {
		d := time.Until(t)
		if d <= 0 {
			return
		}
		tm := time.NewTimer(d)
		defer tm.Stop()
		tc = tm.C
	}
	n.mu.Unlock()
	select {
	case <-ch:
	case <-tc:
	case <-done:
	}
	n.mu.Lock()
}

// expired reports whether deadline dl is set and has passed.
func expired(dl time.Time) bool { return !dl.IsZero() && !time.Now().Before(dl) }
