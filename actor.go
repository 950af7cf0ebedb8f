package zyre

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/gozyre/zyre/internal/beacon"
	"github.com/gozyre/zyre/internal/engine"
	"github.com/gozyre/zyre/internal/slab"
	"github.com/gozyre/zyre/internal/zmtp"
	"github.com/gozyre/zyre/internal/zre"
)

// actor is the one goroutine that owns a node's protocol state (the
// engine) and performs its outputs. Other goroutines (beacon reader,
// mailbox readers, outbox writers) only feed it through channels.
type actor struct {
	n   *Node
	log *slog.Logger
	eng *engine.Engine

	endpoint string
	ifc      iface          // where the mailbox binds (DualStack: the side peers are told)
	beacons  []beaconSocket // one per address family beaconed on

	beaconC   chan engine.BeaconIn
	lostC     chan struct{}    // an outbox's connection broke (outbox.connLost)
	lostTimer <-chan time.Time // re-checks broken connections and leavers (armLost)
	mbox      *mailbox

	hub     *hub                   // gossip (Config.GossipBind, GossipConnect); nil without
	gossipC chan gossipFound       // from the hub
	exited  map[zre.UUID]time.Time // with gossip: peers that exited, and when

	links   map[zre.UUID]*link
	closing map[*outbox]struct{} // disconnected outboxes still flushing

	out        []engine.Output
	pending    []engine.Input
	stepping   bool
	paused     bool   // event queue full: not reading the mailbox
	dropped    uint64 // data events dropped under DropWhenFull, not yet reported
	timer      *time.Timer
	timerAt    time.Time     // deadline the timer is set for
	timerFired bool          // the timer fired since it was last set
	stopping   chan struct{} // closed when the actor begins to stop
	wg         sync.WaitGroup

	badBeacons, badMessages rateLog
	rejects                 rateLog
	keys                    provenKeys // CURVE: key proved per mailbox routing id
	lastCounters            engine.Counters
	leaving, leavingBeacon  bool      // polite stop in progress; port-0 beacon pending
	now                     time.Time // read once per loop iteration
	beaconBuf               []byte

	// Hot-path storage (see step): inputs and parsed WHISPER/SHOUT
	// messages recycled once every queued input has been stepped, and
	// chunks that frame 0 and the frame lists of small outgoing messages
	// are carved from.
	parser     zre.Parser
	msgIns     slab.Slab[engine.MessageIn]
	whisperIns slab.Slab[engine.SendWhisper]
	shoutIns   slab.Slab[engine.SendShout]
	oneFrame   slab.Slab[[1][]byte]
	carve      sendArena
}

// link is our outbound connection to one peer.
type link struct {
	out   *outbox
	lost  lostState  // its connection broke (connlost.go)
	stall stallState // its outbox is full (stall.go)
}

func newActor(ctx context.Context, n *Node) (*actor, error) {
	cfg := &n.cfg
	_, custom := cfg.Network.(osNetwork)
	custom = !custom
	a := &actor{
		n:        n,
		log:      n.log,
		links:    make(map[zre.UUID]*link),
		closing:  make(map[*outbox]struct{}),
		beaconC:  make(chan engine.BeaconIn, 64),
		lostC:    make(chan struct{}, 1),
		stopping: make(chan struct{}),
	}

	// Where to bind the mailbox.
	var bind netip.AddrPort
	if cfg.Endpoint != "" {
		bind, _ = parseEndpoint(cfg.Endpoint)
	}
	needIface := !cfg.DisableBeacon || cfg.Endpoint == ""
	var ifcs []iface
	if needIface {
		var err error
		if ifcs, err = resolveInterfaces(cfg.Interface, cfg.IPv6, cfg.DualStack, custom); err != nil {
			return nil, err
		}
		a.ifc = ifcs[0]
	}
	binds := []netip.Addr{bind.Addr()}
	if cfg.Endpoint == "" {
		binds = binds[:0]
		for _, ifc := range ifcs {
			binds = append(binds, ifc.Addr) // a link-local address keeps its zone
		}
	}
	ln, err := listenMailbox(ctx, cfg.Network, bind.Port(), binds)
	if err != nil {
		return nil, fmt.Errorf("zyre: mailbox: %w", err)
	}
	// The endpoint goes to peers without a zone: our interface's name
	// means nothing to them (see engine.Config.LinkZone).
	laddr := addrPortOf(ln.Addr())
	if !laddr.Addr().IsUnspecified() {
		a.endpoint = formatEndpoint(netip.AddrPortFrom(laddr.Addr().WithZone(""), laddr.Port()))
	} else {
		a.endpoint = formatEndpoint(netip.AddrPortFrom(a.ifc.Addr.WithZone(""), laddr.Port()))
	}

	if !cfg.DisableBeacon {
		for _, ifc := range ifcs {
			bs, err := openBeacon(ctx, cfg, ifc, a.log)
			if err != nil {
				a.closeSockets()
				ln.Close()
				return nil, err
			}
			a.beacons = append(a.beacons, bs)
		}
	}
	altEndpoint := "" // DualStack: the mailbox's other side (engine.Config.AltEndpoint)
	if len(ifcs) == 2 && cfg.AdvertisedEndpoint == "" {
		altEndpoint = formatEndpoint(netip.AddrPortFrom(ifcs[1].Addr.WithZone(""), laddr.Port()))
	}
	linkZone := ""
	for _, ifc := range ifcs {
		if z := ifc.Addr.Zone(); z != "" {
			linkZone = z
		}
	}

	beaconInterval := cfg.BeaconInterval
	if cfg.DisableBeacon {
		beaconInterval = 0
	}
	advertised := a.endpoint
	if cfg.AdvertisedEndpoint != "" {
		advertised = cfg.AdvertisedEndpoint
	}
	a.eng = engine.New(engine.Config{
		ID:             zre.UUID(n.id),
		Name:           n.name,
		Headers:        headerList(cfg.Headers),
		Groups:         cfg.Groups,
		Endpoint:       advertised,
		AltEndpoint:    altEndpoint,
		LinkZone:       linkZone,
		Port:           laddr.Port(),
		BeaconVersion:  a.beaconVersion(),
		PublicKey:      a.publicKey(),
		BeaconInterval: beaconInterval,
		EvasiveTimeout: cfg.EvasiveTimeout,
		SilentTimeout:  cfg.SilentTimeout,
		ExpiredTimeout: cfg.ExpiredTimeout,
		Logger:         a.log,
	})
	mbox, err := newMailbox(ln, *cfg, a.serverMechanism(), a.log)
	if err != nil {
		a.closeSockets()
		return nil, fmt.Errorf("zyre: mailbox: %w", err)
	}
	a.mbox = mbox
	if cfg.GossipBind != "" || len(cfg.GossipConnect) > 0 {
		if err := a.startGossip(ctx, advertised); err != nil {
			a.mbox.close()
			a.closeSockets()
			return nil, fmt.Errorf("zyre: gossip: %w", err)
		}
	}
	a.timer = time.NewTimer(0)
	for _, bs := range a.beacons {
		a.wg.Go(func() { a.beaconLoop(bs.recv) })
	}
	a.log.Info("node started", "endpoint", a.endpoint, "interface", a.ifc.Name)
	return a, nil
}

// listenMailbox binds the mailbox on each address (two for DualStack) at
// port, or when port is 0, at the first port from 49152 up that is free
// on all of them, as RFC 36 and czmq do.
func listenMailbox(ctx context.Context, nw Network, port uint16, addrs []netip.Addr) (net.Listener, error) {
	listen := func(port uint16) (net.Listener, error) {
		var lns []net.Listener
		for _, a := range addrs {
			ln, err := nw.Listen(ctx, netip.AddrPortFrom(a, port))
			if err != nil {
				for _, l := range lns {
					l.Close()
				}
				return nil, err
			}
			lns = append(lns, ln)
		}
		if len(lns) == 2 {
			return newDualListener(lns[0], lns[1]), nil
		}
		return lns[0], nil
	}
	if port != 0 {
		return listen(port)
	}
	var lastErr error
	for p := 49152; p <= 65535; p++ {
		ln, err := listen(uint16(p))
		if err == nil {
			return ln, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, lastErr
}

// beaconSocket is the beacon I/O of one address family.
type beaconSocket struct {
	recv   net.PacketConn // unspecified address, shared beacon port
	send   net.PacketConn // bound to the interface address
	to     *net.UDPAddr   // broadcast (or ff02::1) on the beacon port
	groups []*net.UDPAddr // Config.BeaconGroups on the beacon port (IPv4)
}

// openBeacon opens the beacon sockets for ifc.
func openBeacon(ctx context.Context, cfg *Config, ifc iface, log *slog.Logger) (beaconSocket, error) {
	unspec := netip.IPv4Unspecified()
	if ifc.Addr.Is6() {
		unspec = netip.IPv6Unspecified()
	}
	pc, err := cfg.Network.ListenPacket(ctx, netip.AddrPortFrom(unspec, uint16(cfg.BeaconPort)))
	if err != nil {
		return beaconSocket{}, fmt.Errorf("zyre: beacon port %d: %w", cfg.BeaconPort, err)
	}
	spc, err := cfg.Network.ListenPacket(ctx, netip.AddrPortFrom(ifc.Addr, 0))
	if err != nil {
		pc.Close()
		return beaconSocket{}, fmt.Errorf("zyre: beacon send socket: %w", err)
	}
	bs := beaconSocket{recv: pc, send: spc, to: net.UDPAddrFromAddrPort(netip.AddrPortFrom(ifc.Broadcast, uint16(cfg.BeaconPort)))}
	if ifc.Addr.Is6() {
		if err := joinMulticast(pc, ifc); err != nil {
			log.Warn("IPv6 multicast join failed", "err", err)
		}
		return bs, nil
	}
	for _, g := range cfg.BeaconGroups {
		if err := joinGroup4(pc, spc, ifc.Addr, g); err != nil {
			pc.Close()
			spc.Close()
			return beaconSocket{}, fmt.Errorf("zyre: beacon group %s: %w", g, err)
		}
		bs.groups = append(bs.groups, net.UDPAddrFromAddrPort(netip.AddrPortFrom(g, uint16(cfg.BeaconPort))))
	}
	return bs, nil
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// run is the actor loop: wait for one input, step the engine, perform the
// outputs, reset the single timer to the engine's next deadline.
func (a *actor) run() {
	n := a.n
	defer close(n.done)
	polite := n.polite
	for {
		var inbound <-chan []zmtp.Message
		if !a.paused {
			inbound = a.mbox.msgs
		}
		var room <-chan struct{}
		if a.paused || a.dropped > 0 {
			room = n.events.room()
		}
		a.now = time.Time{}
		select {
		case <-n.quit:
			a.stop(false)
			return
		case <-polite:
			a.stop(true)
			return
		case <-a.timer.C:
			a.timerFired = true
			if a.paused {
				a.livenessWhilePaused()
			}
			a.step(engine.Tick{})
			a.checkStalls(time.Now())
			a.pruneClosing()
			if a.n.cfg.Curve != nil && a.keys.len() > 2*len(a.links)+64 {
				// Keys of clients that never became peers.
				a.keys.prune(func(id string) bool { _, ok := a.links[zre.UUID([]byte(id)[1:])]; return ok })
			}
			a.syncMailboxStats()
		case c := <-n.cmds:
			c.run(a)
			// Take a burst of queued commands in one go (bounded, so timers
			// and peers are not starved).
			for range 255 {
				select {
				case c := <-n.cmds:
					c.run(a)
					continue
				default:
				}
				break
			}
		case b := <-a.beaconC:
			if b.Beacon.Port == 0 {
				a.onLeaving(b)
			} else {
				a.step(b)
			}
		case <-a.lostC:
			a.onLost()
		case <-a.lostTimer:
			a.lostTick()
		case f := <-a.gossipC:
			a.onGossip(f)
		case batch := <-inbound:
			for _, m := range batch {
				a.receive(m)
			}
			a.mbox.recycle(batch)
		case <-room:
			a.roomFreed()
		}
		a.resetTimer()
	}
}

func (a *actor) resetTimer() {
	d := a.eng.NextDeadline()
	if len(a.closing) > 0 || a.n.fullOutboxes.Load() > 0 {
		// The timer also forgets disconnected outboxes (pruneClosing) and
		// watches full ones (checkStalls); without beacons the engine may
		// have no deadline at all, or one that peers' traffic keeps
		// pushing back.
		if limit := time.Now().Add(time.Second); d.IsZero() || d.After(limit) {
			d = limit
		}
	}
	if d.Equal(a.timerAt) && !a.timerFired {
		return // already set for this deadline
	}
	a.timerAt, a.timerFired = d, false
	wait := time.Until(d)
	if d.IsZero() || wait < 0 {
		wait = 0
	}
	if !a.timer.Stop() {
		select {
		case <-a.timer.C:
		default:
		}
	}
	a.timer.Reset(wait)
}

// step feeds one input to the engine and performs its outputs. Inputs
// raised while performing outputs (an outbox found full) are queued and
// stepped after the current batch, never re-entrantly.
func (a *actor) step(in engine.Input) {
	a.pending = append(a.pending, in)
	if a.stepping {
		return
	}
	a.stepping = true
	for i := 0; i < len(a.pending); i++ {
		in := a.pending[i]
		a.pending[i] = nil
		if a.now.IsZero() {
			a.now = time.Now() // once per burst of inputs
		}
		a.out = a.eng.Step(a.now, in, a.out[:0])
		a.syncCounters() // before the outputs, so an event never precedes its counter
		for i, o := range a.out {
			a.perform(o)
			a.out[i] = nil
		}
	}
	a.pending = a.pending[:0]
	a.stepping = false
	// Nothing refers to the inputs any more: the engine keeps none, and
	// the events and outgoing frames hold their own slice headers.
	a.parser.Reset()
	a.msgIns.Reset()
	a.whisperIns.Reset()
	a.shoutIns.Reset()
	a.oneFrame.Reset()
}

// whisper steps a SendWhisper from the Node's command (frames, or the
// single frame) without allocating.
func (a *actor) whisper(to zre.UUID, frame []byte, frames [][]byte) {
	in := a.whisperIns.Next()
	in.To, in.Content = to, a.content(frame, frames)
	a.step(in)
}

// shout steps a SendShout from the Node's command without allocating.
func (a *actor) shout(group string, frame []byte, frames [][]byte) {
	in := a.shoutIns.Next()
	in.Group, in.Content = group, a.content(frame, frames)
	a.step(in)
}

// fullMember returns a channel closed when the outbox of a member of group
// that is full has room again, or nil when none is full.
func (a *actor) fullMember(group string) <-chan struct{} {
	for _, id := range a.eng.PeersByGroup(group) {
		if l := a.links[id]; l != nil {
			if w := l.out.fullWait(); w != nil {
				return w
			}
		}
	}
	return nil
}

// content returns frames, or else frame as a one-frame list from storage
// recycled after the step.
func (a *actor) content(frame []byte, frames [][]byte) [][]byte {
	if frames != nil {
		return frames
	}
	one := a.oneFrame.Next()
	one[0] = frame
	return one[:]
}

func (a *actor) syncCounters() {
	c := a.eng.Counters()
	if c == a.lastCounters {
		return
	}
	a.lastCounters = c
	s := &a.n.stats
	s.beaconsIgnored.Store(c.BeaconsIgnored)
	s.unknownPeer.Store(c.MessagesUnknownPeer)
	s.sequenceGaps.Store(c.SequenceGaps)
	s.statusMismatches.Store(c.StatusMismatches)
	s.peersExpired.Store(c.PeersExpired)
	s.peersNeverReady.Store(c.PeersNeverReady)
	s.peersUnresponsive.Store(c.PeersUnresponsive)
}

func (a *actor) perform(o engine.Output) {
	switch o := o.(type) {
	case engine.SendBeacon:
		if a.leaving && o.Port == 0 {
			a.leavingBeacon = true // sent once the outboxes have flushed
			return
		}
		a.sendBeacon(o.Port)
	case engine.Connect:
		a.connect(o.Peer, o.Endpoint, o.PublicKey)
	case engine.Disconnect:
		if l := a.links[o.Peer]; l != nil {
			delete(a.links, o.Peer)
			a.n.ready.CompareAndDelete(PeerID(o.Peer), l.out)
			l.out.closeFlush()
			a.closing[l.out] = struct{}{}
		}
		if o.Inbound {
			// The peer's outbox sees its connection end and ends the
			// session too (engine.Disconnect).
			a.mbox.r.Disconnect(mailboxID(o.Peer))
		}
	case *engine.Send:
		a.send(o.Peer, o.Msg)
	case *engine.Emit:
		a.emit(o.Event)
	}
}

func (a *actor) sendBeacon(port uint16) {
	if len(a.beacons) == 0 {
		return
	}
	b := beacon.Beacon{Version: a.beaconVersion(), ID: zre.UUID(a.n.id), Port: port, PublicKey: a.publicKey()}
	a.beaconBuf = b.Append(a.beaconBuf[:0])
	for _, bs := range a.beacons {
		if _, err := bs.send.WriteTo(a.beaconBuf, bs.to); err != nil {
			a.badBeacons.note(a.log, "beacon send failed", "err", err, "to", bs.to.String())
			continue
		}
		a.n.stats.beaconsSent.Add(1)
		for _, to := range bs.groups {
			if _, err := bs.send.WriteTo(a.beaconBuf, to); err != nil {
				a.badBeacons.note(a.log, "beacon send to group failed", "err", err, "to", to.String())
			}
		}
	}
}

func (a *actor) connect(peer zre.UUID, endpoint string, key []byte) {
	if old := a.links[peer]; old != nil {
		a.n.ready.CompareAndDelete(PeerID(peer), old.out)
		old.out.close()
	}
	ap, err := parseEndpoint(endpoint)
	var mech zmtp.Mechanism
	if err == nil {
		mech, err = a.clientMechanism(key)
	}
	if err != nil {
		a.log.Warn("peer endpoint unusable", "peer", peer.String(), "endpoint", endpoint, "err", err)
		a.links[peer] = &link{out: closedOutbox()}
		return
	}
	a.links[peer] = &link{out: newOutbox(a, peer, ap, mech)}
}

func (a *actor) send(peer zre.UUID, msg zre.Message) {
	l := a.links[peer]
	if l == nil {
		return
	}
	frames, err := a.carve.frames(msg)
	if err != nil {
		a.log.Warn("message not encodable", "peer", peer.String(), "err", err)
		return
	}
	if !l.out.trySend(frames) {
		if l.out.connErr() != nil {
			// Its connection broke; the session ends soon (onLost).
			a.n.stats.messagesUnsent.Add(1)
			return
		}
		a.n.stats.outboxFull.Add(1)
		a.log.Warn("peer outbox full: message dropped, peer treated as unresponsive", "peer", peer.String(), "cmd", msg.Command().String())
		a.events(DroppedEvent{Peer: PeerID(peer), Count: 1, Reason: "peer outbox full"})
		// RFC 36: a peer that does not take our messages is unresponsive.
		a.step(engine.Unresponsive{Peer: peer, Reason: "outbox full"})
		return
	}
	a.n.stats.messagesSent.Add(1)
}

func (a *actor) events(ev Event) { a.n.events.push(ev, true) }

func (a *actor) emit(ev engine.Event) {
	id := PeerID(ev.Peer)
	var out Event
	switch ev.Type {
	case engine.EventEnter:
		if l := a.links[ev.Peer]; l != nil {
			a.n.ready.Store(id, l.out)
		}
		out = EnterEvent{Peer: id, Name: ev.Name, Endpoint: ev.Endpoint, Headers: headerMap(ev.Headers)}
	case engine.EventExit:
		a.n.ready.Delete(id)
		if a.exited != nil {
			a.exited[ev.Peer] = time.Now()
		}
		if a.n.cfg.Curve != nil {
			a.keys.forget(mailboxID(ev.Peer))
		}
		out = ExitEvent{Peer: id, Name: ev.Name, Reason: ev.Reason}
	case engine.EventJoin:
		out = JoinEvent{Peer: id, Name: ev.Name, Group: ev.Group}
	case engine.EventLeave:
		out = LeaveEvent{Peer: id, Name: ev.Name, Group: ev.Group}
	case engine.EventWhisper:
		out = WhisperEvent{Peer: id, Name: ev.Name, Frames: ev.Content}
	case engine.EventShout:
		out = ShoutEvent{Peer: id, Name: ev.Name, Group: ev.Group, Frames: ev.Content}
	case engine.EventEvasive:
		out = EvasiveEvent{Peer: id, Name: ev.Name}
	case engine.EventSilent:
		out = SilentEvent{Peer: id, Name: ev.Name}
	case engine.EventLeader:
		out = LeaderEvent{Peer: id, Name: ev.Name, Group: ev.Group}
	default:
		return
	}
	if isData(out) {
		if a.dropped > 0 && !a.flushDropped() {
			a.dropped++
			a.n.stats.eventsDropped.Add(1)
			return
		}
		if !a.n.events.push(out, !a.n.cfg.DropWhenFull) {
			a.dropped++
			a.n.stats.eventsDropped.Add(1)
			a.badMessages.note(a.log, "event queue full: data event dropped", "peer", id.String())
			return
		}
		if !a.n.cfg.DropWhenFull && !a.n.events.hasRoom() {
			a.paused = true // stop reading peers until the application catches up
		}
		return
	}
	a.n.events.push(out, true)
}

// flushDropped queues the pending DroppedEvent if there is room.
func (a *actor) flushDropped() bool {
	if a.dropped == 0 {
		return true
	}
	if !a.n.events.hasRoom() {
		return false
	}
	a.n.events.push(DroppedEvent{Count: a.dropped, Reason: "event queue full"}, true)
	a.dropped = 0
	return true
}

func (a *actor) roomFreed() {
	a.flushDropped()
	if a.paused && a.n.events.hasRoom() {
		a.paused = false
	}
}

// receive handles one message from the mailbox.
func (a *actor) receive(m zmtp.Message) {
	id := m.Identity
	if m.Frames == nil {
		a.closeNotice(id)
		return
	}
	if len(id) != 17 || id[0] != 1 {
		a.n.stats.badIdentities.Add(1)
		a.badMessages.note(a.log, "mailbox message with a routing id that is not 0x01+UUID: dropped", "len", len(id))
		return
	}
	var from zre.UUID
	copy(from[:], id[1:])
	msg, err := a.parser.ParseFrames(m.Frames)
	if err != nil {
		a.n.stats.messagesBad.Add(1)
		a.badMessages.note(a.log, "malformed ZRE message", "peer", from.String(), "err", err)
		a.step(engine.BadMessage{From: from, Err: err})
		return
	}
	if h, ok := msg.(*zre.Hello); ok && !a.helloKeyMatches(id, h) {
		// The peer announces a key it did not prove: refuse it.
		a.n.stats.peersRejected.Add(1)
		a.rejects.note(a.log, "CURVE peer announced a key it did not prove: refused", "peer", from.String())
		a.mbox.r.Disconnect(id)
		a.keys.forget(id)
		return
	}
	a.n.stats.messagesReceived.Add(1)
	in := a.msgIns.Next()
	in.From, in.Msg = from, msg
	a.step(in)
}

// stop ends the actor: politely (port-0 beacon, GOODBYE, flush) or at once.
func (a *actor) stop(polite bool) {
	n := a.n
	close(a.stopping)
	if a.hub != nil {
		a.hub.signal(polite) // withdraws our tuple while GOODBYEs go out
	}
	if polite {
		// Whispers and shouts the application was told are sent go
		// out before GOODBYE. GOODBYE goes to every peer and the
		// outboxes flush before the port-0 beacon leaves: a beacon
		// overtaking queued messages would make peers drop them (they
		// remove us on the beacon).
		a.drainCommands()
		a.leaving = true
		a.step(engine.Stop{})
	}
	for id, l := range a.links {
		delete(a.links, id)
		a.n.ready.Delete(PeerID(id))
		l.out.close()
	}
	if !polite {
		for o := range a.closing {
			o.close()
		}
	}
	a.timer.Stop()
	a.mbox.close()
	for _, bs := range a.beacons {
		bs.recv.Close() // ends the beacon reader; the send socket stays for the port-0 beacon
	}
	// Outboxes still flushing (GOODBYE) get flushTimeout at most, or less
	// if Close is called meanwhile (Shutdown's context ended).
	flushed := make(chan struct{})
	go func() { a.wg.Wait(); close(flushed) }()
	select {
	case <-flushed:
	case <-n.quit:
		for o := range a.closing {
			o.close()
		}
		<-flushed
	}
	if a.leavingBeacon {
		a.leaving = false
		a.sendBeacon(0)
	}
	if a.hub != nil {
		select {
		case <-a.hub.done:
		case <-n.quit:
			a.hub.stop(false)
		}
	}
	a.closeSockets()
	a.syncMailboxStats()
	a.flushDropped()
	n.events.push(StopEvent{}, true)
	a.log.Info("node stopped", "polite", polite)
}

// syncMailboxStats copies the mailbox Router's counters into Stats.
func (a *actor) syncMailboxStats() {
	st := a.mbox.r.Stats()
	a.n.stats.handshakesFailed.Store(st.HandshakeFailures)
	a.n.stats.messagesSuperseded.Store(st.Superseded)
}

// drainCommands runs the commands queued before the node closed, waiting
// for callers that passed their closed check and are queuing one.
func (a *actor) drainCommands() {
	n := a.n
	for {
		select {
		case c := <-n.cmds:
			c.run(a)
			continue
		case <-n.quit:
			return // Close: no more waiting
		default:
		}
		if n.enqueuing.Load() == 0 {
			// Whoever was queuing has left; what it queued is in cmds.
			select {
			case c := <-n.cmds:
				c.run(a)
				continue
			default:
			}
			return
		}
		runtime.Gosched()
	}
}

// livenessWhilePaused keeps peers alive while the actor is not reading
// the mailbox (the application is slow). Their messages wait in the
// Router's full queue and its readers have stopped reading, so no traffic
// can be seen: a peer whose mailbox connection is still up is held back,
// not dead, and must not be expired for our own slowness.
func (a *actor) livenessWhilePaused() {
	id := make([]byte, 17)
	id[0] = 1
	for peer := range a.links {
		copy(id[1:], peer[:])
		if _, ok := a.mbox.r.BytesReceived(id); ok {
			a.step(engine.Activity{From: peer})
		}
	}
}

func (a *actor) beaconVersion() uint8 {
	if a.n.cfg.Curve != nil {
		return 3
	}
	return 1
}

func (a *actor) publicKey() [32]byte {
	if a.n.cfg.Curve != nil {
		return a.n.cfg.Curve.Public
	}
	return [32]byte{}
}

// pruneClosing forgets disconnected outboxes that have finished.
func (a *actor) pruneClosing() {
	for o := range a.closing {
		select {
		case <-o.finished:
			delete(a.closing, o)
		default:
		}
	}
}

func (a *actor) closeSockets() {
	for _, bs := range a.beacons {
		bs.recv.Close()
		bs.send.Close()
	}
}
