package zyre

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"time"
)

// Defaults, as C Zyre has them where it has them.
const (
	DefaultBeaconPort      = 5670
	DefaultBeaconInterval  = time.Second
	DefaultEvasiveTimeout  = 5 * time.Second
	DefaultExpiredTimeout  = 30 * time.Second
	DefaultEventQueueLen   = 4096
	DefaultOutboxLen       = 4096
	DefaultEventQueueBytes = 64 << 20
	DefaultOutboxBytes     = 16 << 20
	DefaultMaxMessageSize  = 256 << 20
)

// Config configures a Node. The zero value is valid: New(nil) and
// New(&Config{}) give a node with every default below. Fields are read
// once, by New; later changes have no effect.
type Config struct {
	// Name is the node's public name. Default: the first 6 hex digits of
	// the node's ID, as C Zyre does.
	Name string
	// Headers are sent to every peer in HELLO (keys at most 255 bytes).
	Headers map[string]string
	// Groups are joined from the start (announced in HELLO).
	Groups []string

	// Interface chooses the network interface for beacons and the
	// mailbox: an interface name ("eth0", "lo") or one of its addresses
	// ("192.168.1.5", "127.0.0.1"). Empty: the ZSYS_INTERFACE environment
	// variable, else the first up, broadcast-capable, non-loopback
	// interface with an IPv4 address. With a custom Network it must be an
	// address.
	Interface string
	// IPv6 beacons to the ff02::1 multicast group on the interface's IPv6
	// address instead of IPv4 broadcast. The address is a global or
	// unique local one when the interface has one, else its link-local
	// address: the mailbox then binds to it with the interface as zone,
	// and peers' link-local endpoints are reached through this interface.
	IPv6 bool
	// DualStack beacons over IPv4 broadcast and IPv6 multicast (ff02::1)
	// together, with the mailbox on the interface's IPv4 and IPv6
	// addresses (one port), so that IPv4-only, IPv6-only and dual-stack
	// peers all find the node; a dual-stack peer heard over both is one
	// peer. HELLO tells each peer the endpoint in the family we reach it
	// in; Node.Endpoint and gossip give the IPv4 one, or the IPv6 one when
	// IPv6 is set too. Interface is then an interface name,
	// one of its addresses or empty (the automatic choice, which must have
	// an IPv6 address too); with a custom Network it is the two addresses,
	// "IPV4,IPV6". Endpoint must be empty. Off by default.
	DualStack bool
	// BeaconPort is the UDP discovery port. Default 5670.
	BeaconPort int
	// BeaconInterval is the time between beacons. Default 1 s.
	BeaconInterval time.Duration
	// BeaconGroups are IPv4 multicast groups the node also sends its
	// beacons to, and joins to hear beacons, on the beacon port and the
	// chosen interface: other ZRE implementations beacon to multicast
	// groups such as 225.25.25.25 and 224.0.0.250 instead of broadcast,
	// so listing those finds their nodes on a real LAN. Off by default.
	BeaconGroups []netip.Addr
	// DisableBeacon turns UDP discovery off (peers must then be found
	// another way).
	DisableBeacon bool

	// Endpoint, when set, is the mailbox to bind, "tcp://ADDR:PORT"
	// (port 0 picks one). Default: the interface address and the first
	// free port from 49152 up, as RFC 36 and czmq do.
	Endpoint string

	// AdvertisedEndpoint, when set, is the endpoint announced to peers
	// (in HELLO and in the gossip tuple) instead of the mailbox's own
	// address: for NAT, port forwarding and containers, where peers must
	// connect to another address than the one the mailbox binds. It must
	// be "tcp://IP:PORT" with a specific address and port. Beacons still
	// carry the mailbox's port and come from the interface's address.
	AdvertisedEndpoint string

	// GossipBind, when set, makes the node a gossip server as well:
	// other nodes (and servers) may connect to it there, "tcp://ADDR:PORT"
	// (port 0 picks a free one). See GossipConnect. In CURVE mode the
	// gossip listener is a CURVE server with the node's key pair, and
	// AllowKeys and Authorize apply to its clients as to the mailbox's.
	GossipBind string
	// GossipConnect lists gossip servers to connect to, "tcp://IP:PORT"
	// (a GossipServer, another node's GossipBind, or C Zyre's zgossip).
	// "tcp://IP:PORT|KEY", with the server's public key in Z85 (the form
	// Zyre's gossip tuples use), makes the link CURVE: encrypted, the
	// server authenticated by its key, and we by ours; it needs Curve
	// (zyre_gossip_connect_curve in C Zyre).
	// With GossipBind or GossipConnect set, the node publishes its tuple
	// (its UUID and AdvertisedEndpoint or mailbox endpoint, with its
	// public key in CURVE mode, as C Zyre does) and connects to every
	// node whose tuple it learns: discovery across subnets, where
	// beacons do not reach. Unlike C Zyre, beacons keep working alongside
	// unless DisableBeacon is set, and a peer found both ways is one
	// peer. The tuple's time to live is ExpiredTimeout; it is republished
	// every third of that and withdrawn by Shutdown. The node reconnects
	// to each server, with a growing randomised delay, whenever the
	// connection fails; peers already found stay, since peers talk to
	// each other directly.
	GossipConnect []string

	// EvasiveTimeout is the silence after which a peer gets a PING and an
	// EvasiveEvent. Default 5 s.
	EvasiveTimeout time.Duration
	// SilentTimeout is the silence after which a SilentEvent follows.
	// Default EvasiveTimeout + 1 s.
	SilentTimeout time.Duration
	// ExpiredTimeout is the silence after which a peer is removed with an
	// ExitEvent; also how long a peer's outbox may stay full with not one
	// byte written to the peer before it is removed as unresponsive.
	// Default 30 s.
	ExpiredTimeout time.Duration

	// EventQueueLen bounds the queue of data events (WHISPER, SHOUT) the
	// application has not read yet. When it is full the node stops
	// reading from peers (TCP pushes back on them) unless DropWhenFull is
	// set. Membership events are never dropped. Default 4096.
	EventQueueLen int
	// EventQueueBytes bounds the same queue in bytes (the data events'
	// frames): it is full when it holds EventQueueLen data events or
	// EventQueueBytes bytes. An event is taken in whenever the queue
	// holds less, so one message larger than EventQueueBytes still gets
	// through. Counting what the node has read from peers but not yet
	// queued, a backlog holds at most about 1.4 times EventQueueBytes
	// (EventQueueBytes + 24 MiB when that is less), plus a few times what
	// each peer connection reads at once: its 64 KiB buffer, or one
	// larger message. Default 64 MiB.
	EventQueueBytes int64
	// DropWhenFull discards data events when the queue is full instead of
	// pushing back; the loss is counted and reported by a DroppedEvent.
	DropWhenFull bool
	// OutboxLen bounds each peer's queue of outgoing messages: Whisper and
	// Shout wait while a peer's outbox holds OutboxLen messages or
	// OutboxBytes bytes. Default 4096.
	OutboxLen int
	// OutboxBytes bounds each peer's outgoing messages in bytes (all
	// frames), those queued and those being written; see OutboxLen. A
	// message is taken in whenever the outbox holds less, and callers
	// racing past the check add one message each. Whisper and Shout also
	// wait while the messages they handed over and the node has not yet
	// queued add up to OutboxBytes. Default 16 MiB.
	OutboxBytes int64
	// MaxMessageSize bounds one incoming message (all frames). A peer
	// that sends more is disconnected. Default 256 MiB.
	MaxMessageSize int64

	// Curve, when set, turns on CURVE mode with this long-term key pair:
	// every connection is encrypted and authenticated (CurveZMQ), beacons
	// are the 54-byte version 3 that carry the public key, and HELLO
	// carries the X-PUBLICKEY header, as C Zyre does. CURVE nodes and
	// plain nodes do not see each other.
	Curve *KeyPair
	// AllowKeys, when not nil, is the list of public keys allowed to
	// connect to this node in CURVE mode; others are refused during the
	// handshake (counted in Stats.PeersRejected and logged) and never
	// reach the application.
	AllowKeys []PublicKey
	// Authorize, when set, is asked (after AllowKeys) whether a peer with
	// this ID that proved this key in the CURVE handshake may connect. It
	// runs on a connection goroutine and must not block for long. It is
	// asked about GossipBind's clients too; for those that are not nodes
	// (gossip servers) the ID is zero.
	Authorize func(id PeerID, key PublicKey) bool

	// Network carries the node's traffic. Nil: the operating system's
	// network. simnet provides an in-memory one for tests.
	Network Network
	// Logger receives the node's logs. Nil: discard.
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Interface == "" && out.Network == nil {
		out.Interface = os.Getenv("ZSYS_INTERFACE")
	}
	if out.BeaconPort == 0 {
		out.BeaconPort = DefaultBeaconPort
	}
	if out.BeaconInterval == 0 {
		out.BeaconInterval = DefaultBeaconInterval
	}
	if out.EvasiveTimeout == 0 {
		out.EvasiveTimeout = DefaultEvasiveTimeout
	}
	if out.SilentTimeout == 0 {
		out.SilentTimeout = out.EvasiveTimeout + time.Second
	}
	if out.ExpiredTimeout == 0 {
		out.ExpiredTimeout = DefaultExpiredTimeout
	}
	if out.EventQueueLen == 0 {
		out.EventQueueLen = DefaultEventQueueLen
	}
	if out.OutboxLen == 0 {
		out.OutboxLen = DefaultOutboxLen
	}
	if out.EventQueueBytes == 0 {
		out.EventQueueBytes = DefaultEventQueueBytes
	}
	if out.OutboxBytes == 0 {
		out.OutboxBytes = DefaultOutboxBytes
	}
	if out.MaxMessageSize == 0 {
		out.MaxMessageSize = DefaultMaxMessageSize
	}
	out.GossipConnect = slices.Clone(out.GossipConnect)
	if out.Network == nil {
		out.Network = osNetwork{}
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	return out
}

func (c *Config) validate() error {
	bad := func(field, msg string) error { return &ConfigError{Field: field, Err: errors.New(msg)} }
	if len(c.Name) > 255 {
		return bad("Name", "longer than 255 bytes")
	}
	for k := range c.Headers {
		if len(k) == 0 || len(k) > 255 {
			return bad("Headers", "key must be 1 to 255 bytes: "+truncate(k))
		}
	}
	for _, g := range c.Groups {
		if checkGroup(g) != nil {
			return &ConfigError{Field: "Groups", Err: ErrInvalidGroup}
		}
	}
	if c.BeaconPort < 0 || c.BeaconPort > 65535 {
		return bad("BeaconPort", "must be 1 to 65535")
	}
	for _, g := range c.BeaconGroups {
		if !g.Is4() || !g.IsMulticast() {
			return bad("BeaconGroups", "not an IPv4 multicast address: "+g.String())
		}
	}
	if len(c.BeaconGroups) > 0 && c.IPv6 && !c.DualStack {
		return bad("BeaconGroups", "IPv4 multicast groups need IPv4 beacons (IPv6 is set, DualStack is not)")
	}
	if c.DualStack && c.Endpoint != "" {
		return bad("Endpoint", "must be empty with DualStack, which binds the mailbox on both addresses (AdvertisedEndpoint may be set)")
	}
	if c.BeaconInterval < 0 {
		return bad("BeaconInterval", "negative")
	}
	if c.EvasiveTimeout < 0 || c.SilentTimeout < 0 {
		return bad("EvasiveTimeout", "negative")
	}
	if c.ExpiredTimeout < 0 {
		return bad("ExpiredTimeout", "negative")
	}
	if c.ExpiredTimeout < c.EvasiveTimeout {
		return bad("ExpiredTimeout", "shorter than EvasiveTimeout")
	}
	if c.EventQueueLen < 0 {
		return bad("EventQueueLen", "negative")
	}
	if c.OutboxLen < 0 {
		return bad("OutboxLen", "negative")
	}
	if c.EventQueueBytes < 0 {
		return bad("EventQueueBytes", "negative")
	}
	if c.OutboxBytes < 0 {
		return bad("OutboxBytes", "negative")
	}
	if c.Curve != nil && c.Curve.internal().Validate() != nil {
		return &ConfigError{Field: "Curve", Err: c.Curve.internal().Validate()}
	}
	if c.Curve == nil && (c.AllowKeys != nil || c.Authorize != nil) {
		return bad("AllowKeys", "needs Curve: peers are authenticated only in CURVE mode")
	}
	if c.Endpoint != "" {
		if _, err := parseEndpoint(c.Endpoint); err != nil {
			return &ConfigError{Field: "Endpoint", Err: err}
		}
	}
	if c.AdvertisedEndpoint != "" {
		if err := checkGossipEndpoint(c.AdvertisedEndpoint); err != nil {
			return &ConfigError{Field: "AdvertisedEndpoint", Err: err}
		}
	}
	if c.GossipBind != "" {
		if _, err := parseEndpoint(c.GossipBind); err != nil {
			return &ConfigError{Field: "GossipBind", Err: err}
		}
	}
	for _, ep := range c.GossipConnect {
		if err := checkGossipRemote(ep, c.Curve != nil); err != nil {
			return &ConfigError{Field: "GossipConnect", Err: err}
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}
