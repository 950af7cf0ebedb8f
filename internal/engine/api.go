// Package engine is the sans-IO ZRE state machine of one node: peers,
// groups, sequence and status accounting, liveness timers and beacons.
//
// It does no I/O, starts no goroutines, never reads the clock and never
// draws random numbers: the owner feeds it inputs with the current time and
// performs the outputs it returns. The same engine runs under the node's
// actor goroutine (real network or simnet) and under the discrete-event
// simulator.
package engine

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/gozyre/zyre/internal/beacon"
	"github.com/gozyre/zyre/internal/zre"
)

// Config is the engine's configuration. The owner fills every field; the
// engine applies no defaults of its own except where noted.
type Config struct {
	ID       zre.UUID
	Name     string
	Headers  []zre.Header // sent in HELLO, in this order
	Groups   []string     // groups joined at start (HELLO lists them; status stays 0)
	Endpoint string       // our mailbox endpoint, sent in HELLO ("tcp://127.0.0.1:49152")
	// AltEndpoint, for a dual-stack node, is our mailbox endpoint in the
	// other IP family: HELLO to a peer we reach at an address of that
	// family tells it this one, so that an IPv6-only peer is not told
	// an IPv4 endpoint (or the reverse).
	AltEndpoint string
	// LinkZone, when set, is the zone (interface) given to link-local
	// IPv6 addresses in peers' endpoints, whatever zone, if any, they
	// came with: a link-local address is only meaningful with our own
	// interface, and peers announce theirs without (or with their own).
	LinkZone string
	Port     uint16 // our mailbox port, sent in beacons

	// BeaconVersion is 1 (22-byte beacon) or 3 (54 bytes with PublicKey).
	// Beacons of another version are ignored and counted.
	BeaconVersion uint8
	PublicKey     [32]byte // CURVE public key for v3 beacons

	BeaconInterval time.Duration // 0: the engine emits no SendBeacon outputs
	EvasiveTimeout time.Duration // silence after which a peer gets PING and EVASIVE (C: 5 s; 0: 5 s)
	SilentTimeout  time.Duration // silence after which SILENT is emitted once (0: EvasiveTimeout + 1 s)
	ExpiredTimeout time.Duration // silence after which the peer is removed with EXIT (C: 30 s; 0: 30 s)

	Logger *slog.Logger // nil: discard
}

// Input is something that happened: a datagram, a message, a timer, a command.
// MessageIn, SendWhisper and SendShout may also be passed as pointers, so
// an owner can feed them from recycled storage without allocating; the
// engine does not keep the pointer.
type Input interface{ isInput() }

// BeaconIn is a parsed beacon received from From (the UDP source address).
// The peer's endpoint is tcp://From:Beacon.Port.
type BeaconIn struct {
	From   netip.Addr
	Beacon beacon.Beacon
}

// Discover asks the engine to know a peer learned another way (gossip,
// an explicit require): like a beacon with this endpoint.
type Discover struct {
	ID        zre.UUID
	Endpoint  string
	PublicKey []byte // nil in NULL mode
}

// MessageIn is a ZRE message received on our mailbox from the connection
// whose identity is 0x01+From.
type MessageIn struct {
	From zre.UUID
	Msg  zre.Message
}

// BadMessage reports frames from From that did not parse. If Err is a
// *zre.Error its sequence number is accounted like a good message's.
type BadMessage struct {
	From zre.UUID
	Err  error
}

// Activity reports that bytes arrived from From (liveness refresh) without
// a message being handed over, for example while the application is slow.
type Activity struct{ From zre.UUID }

// ConnLost reports that our outbound connection to Peer failed or closed.
type ConnLost struct {
	Peer zre.UUID
	Err  error
}

// Unresponsive reports that Peer's outbox stayed full: RFC 36 treats the
// peer as gone (EXIT).
type Unresponsive struct {
	Peer   zre.UUID
	Reason string
}

// Tick tells the engine time has passed (NextDeadline reached).
type Tick struct{}

// JoinGroup joins a group (no-op if already a member).
type JoinGroup struct{ Group string }

// LeaveGroup leaves a group (no-op if not a member).
type LeaveGroup struct{ Group string }

// SendWhisper sends content frames to one peer (ignored and counted if unknown).
type SendWhisper struct {
	To      zre.UUID
	Content [][]byte
}

// SendShout sends content frames to every peer in a group.
type SendShout struct {
	Group   string
	Content [][]byte
}

// Stop leaves politely: a port-0 beacon (if beaconing), GOODBYE to every
// peer, then Disconnect for every peer. The engine ignores inputs after it.
type Stop struct{}

func (BeaconIn) isInput()     {}
func (Discover) isInput()     {}
func (MessageIn) isInput()    {}
func (BadMessage) isInput()   {}
func (Activity) isInput()     {}
func (ConnLost) isInput()     {}
func (Unresponsive) isInput() {}
func (Tick) isInput()         {}
func (JoinGroup) isInput()    {}
func (LeaveGroup) isInput()   {}
func (SendWhisper) isInput()  {}
func (SendShout) isInput()    {}
func (Stop) isInput()         {}

// Output is something the owner must do. Send and Emit outputs are
// pointers into storage the engine recycles: they, and the messages they
// carry, are valid until the next Step; copy what must live longer.
type Output interface{ isOutput() }

// Connect opens our outbound (DEALER) connection to a peer's mailbox.
type Connect struct {
	Peer      zre.UUID
	Endpoint  string
	PublicKey []byte // server key for CURVE; nil in NULL mode
}

// Send queues a message on the peer's connection (output as *Send). Msg has its sequence
// stamped. For a SHOUT the content slices are shared by every peer's Send.
type Send struct {
	Peer zre.UUID
	Msg  zre.Message
}

// Disconnect closes our outbound connection to a peer. With Inbound it
// also closes the peer's connection to us, so that the peer ends the
// session too and both sides start the next one with a fresh HELLO:
// otherwise a peer that does not know the session ended keeps using it,
// and its HELLO, spent on the old session, never comes again. Inbound is
// false when the peer's connection to us carries its new session.
type Disconnect struct {
	Peer    zre.UUID
	Inbound bool
}

// Emit delivers an event to the application (output as *Emit).
type Emit struct{ Event Event }

// SendBeacon broadcasts a beacon announcing Port (0: leaving).
type SendBeacon struct{ Port uint16 }

func (Connect) isOutput()    {}
func (*Send) isOutput()      {}
func (Disconnect) isOutput() {}
func (*Emit) isOutput()      {}
func (SendBeacon) isOutput() {}

// EventType is the kind of an application event.
type EventType uint8

// Event types, named as C Zyre names them.
const (
	EventEnter EventType = iota + 1
	EventExit
	EventJoin
	EventLeave
	EventWhisper
	EventShout
	EventEvasive
	EventSilent
	EventLeader
)

// Event is an application event produced by the engine.
type Event struct {
	Type     EventType
	Peer     zre.UUID
	Name     string
	Endpoint string       // Enter
	Headers  []zre.Header // Enter
	Group    string       // Join, Leave, Shout, Leader
	Content  [][]byte     // Whisper, Shout
	Reason   string       // Exit: why the peer left ("goodbye", "beacon port 0", "expired", "sequence gap", ...)
}

// PeerInfo is a snapshot of one known peer.
type PeerInfo struct {
	ID       zre.UUID
	Name     string
	Endpoint string
	Headers  []zre.Header
	Groups   []string // sorted
	Ready    bool     // HELLO received (ENTER emitted)
}

// Counters are the engine's monotonic counters of unusual input.
type Counters struct {
	BeaconsIgnored      uint64 // own beacons, wrong version, port 0 of unknown peers
	MessagesUnknownPeer uint64 // non-HELLO from a peer we have no ready record of
	BadMessages         uint64 // frames that did not parse
	SequenceGaps        uint64 // sequence mismatch: the peer was dropped (RFC 36)
	StatusMismatches    uint64 // JOIN/LEAVE status not previous+1: resynchronised
	PeersExpired        uint64 // ready peers removed by the expiry timer (EXIT)
	PeersNeverReady     uint64 // peers known from a beacon or gossip that expired before their HELLO
	PeersUnresponsive   uint64 // removed because their outbox stayed full
	WhispersUnknownPeer uint64 // SendWhisper to a peer we do not know
}
