package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gozyre/zyre/internal/slab"
	"github.com/gozyre/zyre/internal/zre"
)

// Default timeouts, applied by New when the Config leaves them zero (the
// values C Zyre uses).
const (
	DefaultEvasiveTimeout = 5 * time.Second
	DefaultExpiredTimeout = 30 * time.Second
)

// Never is what NextDeadline returns when no timer is pending: no beacons
// are due (BeaconInterval is 0) and no peer is known, or the engine has
// stopped. It lies so far in the future that time.Until saturates; the
// owner may compare with Never.Equal to skip arming a timer. (The zero
// time cannot mean "none": it means "call Tick now".)
var Never = time.Unix(1<<62, 0)

// curveHeader is the HELLO header that carries a node's Z85 CURVE public
// key in CURVE (beacon v3) mode, as C Zyre sets it.
const curveHeader = "X-PUBLICKEY"

// Engine is the ZRE state machine of one node. It is not safe for
// concurrent use: one owner goroutine calls every method.
//
// Timers. Each peer has one pending deadline (its evasive, silent or expiry
// time, whichever comes first and is not yet handled) kept in a binary
// min-heap, so Tick only touches peers whose deadline has passed and
// NextDeadline reads the top. Refreshing a peer's liveness (every accepted
// message) only moves its deadline later, so it is O(1): the heap entry is
// left stale (earlier than the truth) and fixed lazily when it reaches the
// top, in NextDeadline or Tick. The rare changes that move a deadline
// earlier (a peer becoming ready, a clock going backwards) fix the heap at
// once. NextDeadline is therefore exact, never early, and costs O(log n)
// per stale top entry, amortised over many refreshes. Timer arithmetic runs
// on an int64 nanosecond clock (see mono), not on time.Time.
//
// Output order is deterministic (no map iteration reaches the outputs):
// fan-outs go to peers in ID order, so a seeded simulation replays exactly.
type Engine struct {
	cfg     Config
	log     *slog.Logger
	ctx     context.Context
	headers []zre.Header // our HELLO headers (cfg.Headers, plus X-PUBLICKEY in CURVE mode)

	// Internal clock: nanoseconds since base, the first time Step saw
	// (see mono).
	base                     time.Time
	based                    bool
	evasive, silent, expired mono

	ownGroups []string // sorted; copy-on-write, so HELLO messages may share it
	status    uint8    // our group status counter

	peers      map[zre.UUID]*peer
	byEndpoint map[string]*peer
	sorted     []*peer // every peer, sorted by ID: deterministic output order
	groups     map[string]*group
	timers     timerHeap

	nextBeacon mono // beaconNow: at the first Tick
	stopped    bool
	counters   Counters

	// Storage for what one Step returns (outputs and the messages they
	// carry), recycled by the next Step: no allocation per message.
	sends    slab.Slab[Send]
	emits    slab.Slab[Emit]
	whispers slab.Slab[zre.Whisper]
	shouts   slab.Slab[zre.Shout]
}

// peer is what we know of one remote node.
type peer struct {
	id        zre.UUID
	endpoint  string
	ap        netip.AddrPort // endpoint parsed when it is tcp://ip:port; else invalid
	publicKey []byte
	name      string
	headers   []zre.Header
	groups    []string // sorted
	ready     bool     // its HELLO arrived (ENTER emitted)
	beaconed  bool     // the endpoint is where its beacons come from (else: from its HELLO or gossip)
	status    uint8    // our copy of its group status
	sentSeq   uint16   // sequence of the last message we sent it
	recvSeq   uint16   // sequence of the last message we accepted from it

	seen            mono // last liveness refresh
	evasive, silent bool // EVASIVE / SILENT emitted since the last refresh
	due             mono // heap key: <= the true next deadline
	heapIdx         int
}

// group is the set of ready peers that joined one group.
type group struct {
	members []*peer // sorted by ID
}

// New returns an engine for cfg. Zero EvasiveTimeout and ExpiredTimeout
// take the C Zyre defaults (5 s, 30 s); a zero SilentTimeout is
// EvasiveTimeout + 1 s. cfg.Groups are sorted and deduplicated; the status
// counter starts at 0. In CURVE mode (BeaconVersion 3) an X-PUBLICKEY
// header with the Z85 form of cfg.PublicKey is added to the HELLO headers
// unless cfg.Headers already has one, as C Zyre does.
func New(cfg Config) *Engine {
	e := &Engine{
		cfg:        cfg,
		log:        cfg.Logger,
		ctx:        context.Background(),
		evasive:    mono(cfg.EvasiveTimeout),
		silent:     mono(cfg.SilentTimeout),
		expired:    mono(cfg.ExpiredTimeout),
		nextBeacon: beaconNow,
		peers:      make(map[zre.UUID]*peer),
		byEndpoint: make(map[string]*peer),
		groups:     make(map[string]*group),
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.evasive <= 0 {
		e.evasive = mono(DefaultEvasiveTimeout)
	}
	if e.silent <= 0 {
		e.silent = e.evasive + mono(time.Second)
	}
	if e.expired <= 0 {
		e.expired = mono(DefaultExpiredTimeout)
	}
	e.headers = slices.Clone(cfg.Headers)
	if cfg.BeaconVersion == 3 && !slices.ContainsFunc(e.headers, func(h zre.Header) bool { return strings.EqualFold(h.Key, curveHeader) }) {
		e.headers = append(e.headers, zre.Header{Key: curveHeader, Value: z85Encode(cfg.PublicKey[:])})
	}
	e.cfg.Headers = e.headers
	groups := slices.Clone(cfg.Groups)
	slices.Sort(groups)
	e.ownGroups = slices.Compact(groups)
	e.cfg.Groups = nil
	return e
}

// Step feeds one input at time now and appends the resulting outputs to
// out. After Stop every input is ignored. Outputs of the previous Step
// that point into the engine's storage (*Send, *Emit) become invalid.
func (e *Engine) Step(now time.Time, in Input, out []Output) []Output {
	e.sends.Reset()
	e.emits.Reset()
	e.whispers.Reset()
	e.shouts.Reset()
	if e.stopped {
		return out
	}
	return e.step(e.mono(now), in, out)
}

func (e *Engine) step(now mono, in Input, out []Output) []Output {
	switch in := in.(type) {
	case Tick:
		return e.tick(now, out)
	case MessageIn:
		return e.onMessage(now, in.From, in.Msg, out)
	case *MessageIn:
		return e.onMessage(now, in.From, in.Msg, out)
	case BeaconIn:
		return e.onBeacon(now, in, out)
	case Discover:
		return e.onDiscover(now, in, out)
	case BadMessage:
		return e.onBadMessage(now, in, out)
	case Activity:
		if p := e.peers[in.From]; p != nil {
			e.refresh(p, now)
		}
		return out
	case ConnLost:
		if p := e.peers[in.Peer]; p != nil {
			reason := "connection lost"
			if in.Err != nil {
				reason += ": " + in.Err.Error()
			}
			out = e.remove(p, reason, true, out)
		}
		return out
	case Unresponsive:
		if p := e.peers[in.Peer]; p != nil {
			e.counters.PeersUnresponsive++
			reason := in.Reason
			if reason == "" {
				reason = "unresponsive"
			}
			e.log.LogAttrs(e.ctx, slog.LevelWarn, "peer unresponsive", peerAttr(p.id), slog.String("reason", reason))
			out = e.remove(p, reason, true, out)
		}
		return out
	case JoinGroup:
		return e.joinGroup(in.Group, out)
	case LeaveGroup:
		return e.leaveGroup(in.Group, out)
	case SendWhisper:
		return e.whisper(in, out)
	case *SendWhisper:
		return e.whisper(*in, out)
	case SendShout:
		return e.shout(in, out)
	case *SendShout:
		return e.shout(*in, out)
	case Stop:
		return e.stop(out)
	}
	e.log.LogAttrs(e.ctx, slog.LevelWarn, "engine: unknown input ignored", slog.Any("input", in))
	return out
}

// emit returns an Emit output for ev.
func (e *Engine) emit(ev Event) *Emit {
	o := e.emits.Next()
	o.Event = ev
	return o
}

func (e *Engine) whisper(in SendWhisper, out []Output) []Output {
	p := e.peers[in.To]
	if p == nil {
		e.counters.WhispersUnknownPeer++
		e.log.LogAttrs(e.ctx, slog.LevelWarn, "whisper to unknown peer", peerAttr(in.To))
		return out
	}
	m := e.whispers.Next()
	m.Content = in.Content
	return e.send(p, m, out)
}

func (e *Engine) shout(in SendShout, out []Output) []Output {
	if g := e.groups[in.Group]; g != nil {
		for _, p := range g.members {
			m := e.shouts.Next()
			m.Group, m.Content = in.Group, in.Content
			out = e.send(p, m, out)
		}
	}
	return out
}

// NextDeadline returns the earliest time at which the engine wants a Tick:
// the zero time before the first Tick when beaconing (Tick at once), Never
// when nothing is pending or after Stop. It may reorder the timer heap
// (see Engine), so like every method it belongs to the owner goroutine.
func (e *Engine) NextDeadline() time.Time {
	if e.stopped {
		return Never
	}
	d := monoNever
	if e.cfg.BeaconInterval > 0 {
		if e.nextBeacon == beaconNow {
			return time.Time{}
		}
		d = e.nextBeacon
	}
	for len(e.timers) > 0 {
		p := e.timers[0]
		a := e.nextDue(p)
		if a <= p.due {
			break
		}
		p.due = a
		e.timers.down(0)
	}
	if len(e.timers) > 0 && e.timers[0].due < d {
		d = e.timers[0].due
	}
	if d == monoNever {
		return Never
	}
	return e.base.Add(time.Duration(d))
}

// Peers returns a snapshot of every known peer, ready or not, sorted by ID.
func (e *Engine) Peers() []PeerInfo {
	ps := make([]PeerInfo, len(e.sorted))
	for i, p := range e.sorted {
		ps[i] = p.info()
	}
	return ps
}

// Peer returns a snapshot of one peer.
func (e *Engine) Peer(id zre.UUID) (PeerInfo, bool) {
	p := e.peers[id]
	if p == nil {
		return PeerInfo{}, false
	}
	return p.info(), true
}

// PeersByGroup returns the ready peers in group, sorted by ID.
func (e *Engine) PeersByGroup(group string) []zre.UUID {
	g := e.groups[group]
	if g == nil {
		return nil
	}
	ids := make([]zre.UUID, len(g.members))
	for i, p := range g.members {
		ids[i] = p.id
	}
	return ids
}

// OwnGroups returns the groups this node is in, sorted.
func (e *Engine) OwnGroups() []string { return slices.Clone(e.ownGroups) }

// PeerGroups returns the groups at least one ready peer is in, sorted.
func (e *Engine) PeerGroups() []string {
	gs := make([]string, 0, len(e.groups))
	for name := range e.groups {
		gs = append(gs, name)
	}
	slices.Sort(gs)
	return gs
}

// Counters returns the counters of unusual input.
func (e *Engine) Counters() Counters { return e.counters }

// Stopped reports whether Stop was stepped.
func (e *Engine) Stopped() bool { return e.stopped }

// ---------------------------------------------------------------------------
// Discovery

func (e *Engine) onBeacon(now mono, in BeaconIn, out []Output) []Output {
	b := &in.Beacon
	switch {
	case b.ID == e.cfg.ID:
		e.counters.BeaconsIgnored++
		return out
	case b.Version != e.cfg.BeaconVersion:
		e.counters.BeaconsIgnored++
		if e.debugOn() {
			e.debug("beacon of another version ignored", peerAttr(b.ID), slog.Int("version", int(b.Version)))
		}
		return out
	case !in.From.IsValid():
		e.counters.BeaconsIgnored++
		e.log.LogAttrs(e.ctx, slog.LevelWarn, "beacon without source address ignored", peerAttr(b.ID))
		return out
	}
	p := e.peers[b.ID]
	if b.Port == 0 {
		if p == nil {
			e.counters.BeaconsIgnored++
			return out
		}
		return e.remove(p, "beacon port 0", true, out)
	}
	ap := netip.AddrPortFrom(in.From.Unmap(), b.Port)
	if p != nil && (p.ap == ap || p.ready && !p.beaconed) {
		// Same place; or a peer we talk to at the endpoint it announced
		// itself (HELLO, gossip: an AdvertisedEndpoint behind NAT or in
		// a container), which is not where its beacons come from.
		// Moving it would cost an EXIT and an ENTER for nothing.
		e.refresh(p, now)
		return out
	}
	var key []byte
	if b.Version == 3 {
		key = slices.Clone(b.PublicKey[:])
	}
	out, p = e.require(now, b.ID, "tcp://"+ap.String(), key, out)
	if p != nil {
		p.beaconed = true
	}
	return out
}

func (e *Engine) onDiscover(now mono, in Discover, out []Output) []Output {
	if in.ID == e.cfg.ID {
		return out
	}
	if in.Endpoint == "" {
		e.log.LogAttrs(e.ctx, slog.LevelWarn, "discovered peer without endpoint ignored", peerAttr(in.ID))
		return out
	}
	out, _ = e.require(now, in.ID, in.Endpoint, slices.Clone(in.PublicKey), out)
	return out
}

// zoned gives a tcp:// endpoint with a link-local IPv6 address our
// LinkZone (Config.LinkZone); other endpoints are returned as they are.
func (e *Engine) zoned(endpoint string) string {
	if e.cfg.LinkZone == "" {
		return endpoint
	}
	rest, ok := strings.CutPrefix(endpoint, "tcp://")
	if !ok {
		return endpoint
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil || !ap.Addr().Is6() || !ap.Addr().IsLinkLocalUnicast() || ap.Addr().Zone() == e.cfg.LinkZone {
		return endpoint
	}
	return "tcp://" + netip.AddrPortFrom(ap.Addr().WithZone(e.cfg.LinkZone), ap.Port()).String()
}

// require makes sure a peer with this id and endpoint exists: a known peer
// at the same endpoint, or at an address of the other IP family, is
// refreshed; one at another endpoint is removed and made again; any other
// peer at this endpoint (a restarted node) is removed first. A new peer
// gets Connect and our HELLO. It returns nil when the endpoint is our own.
//
// A dual-stack node beacons over IPv4 and IPv6 and announces one endpoint
// in gossip: heard over the other family it is the same node, not one
// that moved, so its session stays where it is.
func (e *Engine) require(now mono, id zre.UUID, endpoint string, key []byte, out []Output) ([]Output, *peer) {
	endpoint = e.zoned(endpoint)
	if p := e.peers[id]; p != nil {
		if p.endpoint == endpoint || otherFamily(p.ap, endpoint) {
			e.refresh(p, now)
			return out, p
		}
		out = e.remove(p, "endpoint changed to "+endpoint, false, out)
	}
	if endpoint == e.cfg.Endpoint || endpoint == e.cfg.AltEndpoint && endpoint != "" {
		e.log.LogAttrs(e.ctx, slog.LevelWarn, "peer claims our own endpoint: ignored", peerAttr(id), slog.String("endpoint", endpoint))
		return out, nil
	}
	if q := e.byEndpoint[endpoint]; q != nil {
		out = e.remove(q, "replaced at same endpoint", true, out)
	}
	p := &peer{id: id, endpoint: endpoint, publicKey: key, seen: now}
	if rest, ok := strings.CutPrefix(endpoint, "tcp://"); ok {
		if ap, err := netip.ParseAddrPort(rest); err == nil {
			p.ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	e.peers[id] = p
	e.byEndpoint[endpoint] = p
	i, _ := slices.BinarySearchFunc(e.sorted, p, cmpPeer)
	e.sorted = slices.Insert(e.sorted, i, p)
	p.due = e.nextDue(p)
	e.timers.push(p)
	if e.debugOn() {
		e.debug("peer discovered", peerAttr(id), slog.String("endpoint", endpoint))
	}
	out = append(out, Connect{Peer: id, Endpoint: endpoint, PublicKey: key})
	ours := e.cfg.Endpoint
	if is4, ok := family(e.cfg.AltEndpoint); ok && p.ap.IsValid() && is4 == p.ap.Addr().Is4() {
		ours = e.cfg.AltEndpoint // the family we reach the peer in
	}
	out = e.send(p, &zre.Hello{
		Endpoint: ours,
		Groups:   e.ownGroups,
		Status:   e.status,
		Name:     e.cfg.Name,
		Headers:  e.headers,
	}, out)
	return out, p
}

// otherFamily tells whether endpoint is a tcp:// endpoint whose address
// is of the other IP family than ap's.
func otherFamily(ap netip.AddrPort, endpoint string) bool {
	is4, ok := family(endpoint)
	return ok && ap.IsValid() && is4 != ap.Addr().Is4()
}

// family tells whether endpoint is a tcp:// endpoint with an IPv4 address
// (is4) or an IPv6 one (ok and !is4).
func family(endpoint string) (is4, ok bool) {
	rest, ok := strings.CutPrefix(endpoint, "tcp://")
	if !ok {
		return false, false
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil {
		return false, false
	}
	return ap.Addr().Unmap().Is4(), true
}

// ---------------------------------------------------------------------------
// Messages

func (e *Engine) onMessage(now mono, from zre.UUID, m zre.Message, out []Output) []Output {
	if m == nil {
		return out
	}
	if from == e.cfg.ID {
		if e.debugOn() {
			e.debug("message from ourselves ignored", slog.String("cmd", m.Command().String()))
		}
		return out
	}
	if h, ok := m.(*zre.Hello); ok {
		return e.onHello(now, from, h, out)
	}
	p := e.peers[from]
	if p == nil || !p.ready {
		e.counters.MessagesUnknownPeer++
		if e.debugOn() {
			e.debug("message from unknown or not-ready peer dropped", peerAttr(from), slog.String("cmd", m.Command().String()))
		}
		return out
	}
	var ok bool
	if out, ok = e.accept(now, p, m.Command(), m.Seq(), out); !ok {
		return out
	}
	if e.debugOn() {
		e.debug("message", peerAttr(from), slog.String("cmd", m.Command().String()), slog.Int("seq", int(m.Seq())))
	}
	switch m := m.(type) {
	case *zre.Whisper:
		out = append(out, e.emit(Event{Type: EventWhisper, Peer: p.id, Name: p.name, Content: m.Content}))
	case *zre.Shout:
		out = append(out, e.emit(Event{Type: EventShout, Peer: p.id, Name: p.name, Group: m.Group, Content: m.Content}))
	case *zre.Join:
		e.checkStatus(p, zre.CmdJoin, m.Group, m.Status)
		if e.addMember(p, m.Group) {
			out = append(out, e.emit(Event{Type: EventJoin, Peer: p.id, Name: p.name, Group: m.Group}))
		}
	case *zre.Leave:
		e.checkStatus(p, zre.CmdLeave, m.Group, m.Status)
		if e.removeMember(p, m.Group) {
			out = append(out, e.emit(Event{Type: EventLeave, Peer: p.id, Name: p.name, Group: m.Group}))
		}
	case *zre.Ping:
		out = e.send(p, &zre.PingOK{}, out)
	case *zre.Goodbye:
		out = e.remove(p, "goodbye", true, out)
	}
	// PING-OK, ELECT, LEADER and unknown kinds: sequence and liveness only.
	return out
}

// onHello handles a HELLO: from an unknown peer it first creates the peer
// (Connect + our HELLO); from a ready peer it removes the old record (EXIT)
// and starts again, as C Zyre does.
func (e *Engine) onHello(now mono, from zre.UUID, h *zre.Hello, out []Output) []Output {
	p := e.peers[from]
	if p != nil && p.ready {
		out = e.remove(p, "new HELLO", false, out)
		p = nil
	}
	if p == nil {
		if h.Endpoint == "" {
			e.counters.MessagesUnknownPeer++
			e.log.LogAttrs(e.ctx, slog.LevelWarn, "HELLO without endpoint from unknown peer dropped", peerAttr(from))
			return out
		}
		var key []byte
		if e.cfg.BeaconVersion == 3 {
			for _, hd := range h.Headers {
				if strings.EqualFold(hd.Key, curveHeader) {
					key = z85Decode(hd.Value)
					break
				}
			}
			if len(key) != 32 {
				e.counters.MessagesUnknownPeer++
				e.log.LogAttrs(e.ctx, slog.LevelWarn, "HELLO without a valid X-PUBLICKEY in CURVE mode dropped", peerAttr(from))
				return out
			}
		}
		if out, p = e.require(now, from, h.Endpoint, key, out); p == nil {
			return out
		}
	}
	if h.Sequence != 1 {
		e.log.LogAttrs(e.ctx, slog.LevelWarn, "HELLO with sequence other than 1 accepted", peerAttr(from), slog.Int("seq", int(h.Sequence)))
	}
	p.recvSeq = h.Sequence
	p.ready = true
	p.name = h.Name
	p.headers = h.Headers
	e.refresh(p, now) // ready: the evasive timer now applies
	if e.log.Enabled(e.ctx, slog.LevelInfo) {
		e.log.LogAttrs(e.ctx, slog.LevelInfo, "peer entered", peerAttr(p.id), slog.String("name", p.name), slog.String("endpoint", p.endpoint))
	}
	out = append(out, e.emit(Event{Type: EventEnter, Peer: p.id, Name: p.name, Endpoint: p.endpoint, Headers: slices.Clone(h.Headers)}))
	for _, g := range h.Groups {
		if e.addMember(p, g) {
			out = append(out, e.emit(Event{Type: EventJoin, Peer: p.id, Name: p.name, Group: g}))
		}
	}
	p.status = h.Status
	return out
}

func (e *Engine) onBadMessage(now mono, in BadMessage, out []Output) []Output {
	e.counters.BadMessages++
	e.log.LogAttrs(e.ctx, slog.LevelWarn, "bad message dropped", peerAttr(in.From), slog.Any("err", in.Err))
	var zerr *zre.Error
	if !errors.As(in.Err, &zerr) || zerr.Command == zre.CmdHello {
		// No header to account, or a HELLO we cannot use (a HELLO resets
		// the sequence, so it cannot be a gap either).
		return out
	}
	p := e.peers[in.From]
	if p == nil || !p.ready {
		return out
	}
	out, _ = e.accept(now, p, zerr.Command, zerr.Sequence, out)
	return out
}

// accept checks an incoming sequence number against the previous one plus
// one (u16 wrap). On a gap the peer is removed (RFC 36); otherwise its
// liveness is refreshed.
func (e *Engine) accept(now mono, p *peer, cmd zre.Command, seq uint16, out []Output) ([]Output, bool) {
	want := p.recvSeq + 1
	if seq != want {
		e.counters.SequenceGaps++
		e.log.LogAttrs(e.ctx, slog.LevelWarn, "sequence gap: messages lost, peer dropped", peerAttr(p.id),
			slog.String("cmd", cmd.String()), slog.Int("expected", int(want)), slog.Int("got", int(seq)))
		return e.remove(p, "sequence gap", true, out), false
	}
	p.recvSeq = seq
	e.refresh(p, now)
	return out, true
}

// checkStatus applies a JOIN or LEAVE to our copy of the peer's status. A
// mismatch is logged, counted and resynchronised (C Zyre asserts).
func (e *Engine) checkStatus(p *peer, cmd zre.Command, group string, status uint8) {
	if want := p.status + 1; status != want {
		e.counters.StatusMismatches++
		e.log.LogAttrs(e.ctx, slog.LevelWarn, "group status mismatch: resynchronised", peerAttr(p.id),
			slog.String("cmd", cmd.String()), slog.String("group", group),
			slog.Int("expected", int(want)), slog.Int("got", int(status)))
	}
	p.status = status
}

// ---------------------------------------------------------------------------
// Commands

func (e *Engine) joinGroup(name string, out []Output) []Output {
	if len(name) > zre.MaxString {
		e.log.LogAttrs(e.ctx, slog.LevelWarn, "group name too long: join ignored", slog.String("group", name))
		return out
	}
	i, found := slices.BinarySearch(e.ownGroups, name)
	if found {
		return out
	}
	// Copy on write: HELLO messages already handed out share the old slice.
	gs := make([]string, 0, len(e.ownGroups)+1)
	gs = append(append(append(gs, e.ownGroups[:i]...), name), e.ownGroups[i:]...)
	e.ownGroups = gs
	e.status++
	if e.debugOn() {
		e.debug("joined group", slog.String("group", name), slog.Int("status", int(e.status)))
	}
	for _, p := range e.sorted {
		out = e.send(p, &zre.Join{Group: name, Status: e.status}, out)
	}
	return out
}

func (e *Engine) leaveGroup(name string, out []Output) []Output {
	i, found := slices.BinarySearch(e.ownGroups, name)
	if !found {
		return out
	}
	gs := make([]string, 0, len(e.ownGroups)-1)
	gs = append(append(gs, e.ownGroups[:i]...), e.ownGroups[i+1:]...)
	e.ownGroups = gs
	e.status++
	if e.debugOn() {
		e.debug("left group", slog.String("group", name), slog.Int("status", int(e.status)))
	}
	for _, p := range e.sorted {
		out = e.send(p, &zre.Leave{Group: name, Status: e.status}, out)
	}
	return out
}

func (e *Engine) stop(out []Output) []Output {
	if e.cfg.BeaconInterval > 0 {
		out = append(out, SendBeacon{Port: 0})
	}
	for _, p := range e.sorted {
		out = e.send(p, &zre.Goodbye{}, out)
	}
	for _, p := range e.sorted {
		out = append(out, Disconnect{Peer: p.id})
	}
	clear(e.peers)
	clear(e.byEndpoint)
	clear(e.groups)
	e.sorted = nil
	e.timers = nil
	e.stopped = true
	e.log.LogAttrs(e.ctx, slog.LevelInfo, "engine stopped")
	return out
}

// send stamps the peer's next outgoing sequence number into m.
func (e *Engine) send(p *peer, m zre.Message, out []Output) []Output {
	p.sentSeq++
	m.SetSeq(p.sentSeq)
	if e.debugOn() {
		e.debug("send", peerAttr(p.id), slog.String("cmd", m.Command().String()), slog.Int("seq", int(p.sentSeq)))
	}
	o := e.sends.Next()
	o.Peer, o.Msg = p.id, m
	return append(out, o)
}

// ---------------------------------------------------------------------------
// Timers

func (e *Engine) tick(now mono, out []Output) []Output {
	if e.cfg.BeaconInterval > 0 && now >= e.nextBeacon {
		out = append(out, SendBeacon{Port: e.cfg.Port})
		e.nextBeacon = now + mono(e.cfg.BeaconInterval)
	}
	for len(e.timers) > 0 {
		p := e.timers[0]
		if p.due > now {
			break
		}
		if d := e.nextDue(p); d > now { // stale entry: refreshed since
			p.due = d
			e.timers.down(0)
			continue
		}
		if now >= p.seen+e.expired {
			if p.ready {
				e.counters.PeersExpired++
			} else {
				e.counters.PeersNeverReady++
			}
			out = e.remove(p, "expired", true, out)
			continue
		}
		if p.ready && !p.evasive && now >= p.seen+e.evasive {
			p.evasive = true
			out = e.send(p, &zre.Ping{}, out)
			if e.debugOn() {
				e.debug("peer evasive", peerAttr(p.id))
			}
			out = append(out, e.emit(Event{Type: EventEvasive, Peer: p.id, Name: p.name}))
		}
		if p.ready && p.evasive && !p.silent && now >= p.seen+e.silent {
			p.silent = true
			if e.debugOn() {
				e.debug("peer silent", peerAttr(p.id))
			}
			out = append(out, e.emit(Event{Type: EventSilent, Peer: p.id, Name: p.name}))
		}
		p.due = e.nextDue(p) // now later than now: progress
		e.timers.down(0)
	}
	return out
}

// nextDue is the peer's true next deadline: expiry, and for a ready peer
// the evasive time, then (once evasive) the silent time.
func (e *Engine) nextDue(p *peer) mono {
	d := p.seen + e.expired
	if p.ready {
		var t mono
		switch {
		case !p.evasive:
			t = p.seen + e.evasive
		case !p.silent:
			t = p.seen + e.silent
		default:
			return d
		}
		d = min(d, t)
	}
	return d
}

// refresh records liveness. It touches the heap only when the deadline
// moved earlier (see Engine).
func (e *Engine) refresh(p *peer, now mono) {
	p.seen = now
	p.evasive, p.silent = false, false
	if d := e.nextDue(p); d < p.due {
		p.due = d
		e.timers.fix(p.heapIdx)
	}
}

// mono is the engine's internal clock: nanoseconds since base, the first
// time Step was given. Timer arithmetic and the heap compare plain
// integers, which is several times cheaper than time.Time arithmetic on
// the hot path; conversions happen once per Step and once per
// NextDeadline. The range (±292 years around base) is no limit.
type mono int64

const (
	monoNever mono = math.MaxInt64 // no deadline
	beaconNow mono = math.MinInt64 // nextBeacon before the first Tick
)

// mono converts the owner's time to the internal clock, fixing base on the
// first call.
func (e *Engine) mono(now time.Time) mono {
	if !e.based {
		e.base, e.based = now, true
	}
	return mono(now.Sub(e.base))
}

// ---------------------------------------------------------------------------
// Peers and groups

// remove forgets a peer: EXIT (if it was ready; always its last event),
// out of every group without LEAVE events, then Disconnect. inbound asks
// to close the peer's connection to us as well (Disconnect.Inbound): not
// when that connection may carry the peer's new session (a new HELLO, or
// the peer at another endpoint).
func (e *Engine) remove(p *peer, reason string, inbound bool, out []Output) []Output {
	if p.ready {
		if e.log.Enabled(e.ctx, slog.LevelInfo) {
			e.log.LogAttrs(e.ctx, slog.LevelInfo, "peer exited", peerAttr(p.id), slog.String("name", p.name), slog.String("reason", reason))
		}
		out = append(out, e.emit(Event{Type: EventExit, Peer: p.id, Name: p.name, Reason: reason}))
	} else {
		if e.debugOn() {
			e.debug("peer removed before HELLO", peerAttr(p.id), slog.String("reason", reason))
		}
	}
	for _, g := range p.groups {
		e.dropFromGroup(p, g)
	}
	p.groups = nil
	delete(e.peers, p.id)
	if e.byEndpoint[p.endpoint] == p {
		delete(e.byEndpoint, p.endpoint)
	}
	if i, found := slices.BinarySearchFunc(e.sorted, p, cmpPeer); found {
		e.sorted = slices.Delete(e.sorted, i, i+1)
	}
	e.timers.remove(p.heapIdx)
	return append(out, Disconnect{Peer: p.id, Inbound: inbound})
}

// addMember adds p to a group; false if it already was a member.
func (e *Engine) addMember(p *peer, name string) bool {
	i, found := slices.BinarySearch(p.groups, name)
	if found {
		return false
	}
	p.groups = slices.Insert(p.groups, i, name)
	g := e.groups[name]
	if g == nil {
		g = &group{}
		e.groups[name] = g
	}
	j, _ := slices.BinarySearchFunc(g.members, p, cmpPeer)
	g.members = slices.Insert(g.members, j, p)
	return true
}

// removeMember removes p from a group; false if it was not a member.
func (e *Engine) removeMember(p *peer, name string) bool {
	i, found := slices.BinarySearch(p.groups, name)
	if !found {
		return false
	}
	p.groups = slices.Delete(p.groups, i, i+1)
	e.dropFromGroup(p, name)
	return true
}

// dropFromGroup removes p from the group's member list (not from p.groups).
func (e *Engine) dropFromGroup(p *peer, name string) {
	g := e.groups[name]
	if g == nil {
		return
	}
	if j, found := slices.BinarySearchFunc(g.members, p, cmpPeer); found {
		g.members = slices.Delete(g.members, j, j+1)
	}
	if len(g.members) == 0 {
		delete(e.groups, name)
	}
}

func (p *peer) info() PeerInfo {
	return PeerInfo{
		ID:       p.id,
		Name:     p.name,
		Endpoint: p.endpoint,
		Headers:  slices.Clone(p.headers),
		Groups:   slices.Clone(p.groups),
		Ready:    p.ready,
	}
}

func cmpPeer(a, b *peer) int { return bytes.Compare(a.id[:], b.id[:]) }

// ---------------------------------------------------------------------------
// Logging helpers

func peerAttr(id zre.UUID) slog.Attr { return slog.String("peer", id.String()) }

// debugOn reports whether Debug records are wanted. Callers check it before
// building attributes, so the hot paths do not allocate (peerAttr formats
// the UUID) when debug logging is off.
func (e *Engine) debugOn() bool { return e.log.Enabled(e.ctx, slog.LevelDebug) }

// debug logs at Debug level.
func (e *Engine) debug(msg string, attrs ...slog.Attr) {
	e.log.LogAttrs(e.ctx, slog.LevelDebug, msg, attrs...)
}
