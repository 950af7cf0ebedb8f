package zyre

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozyre/zyre/internal/gossip"
	"github.com/gozyre/zyre/internal/zmtp"
	"github.com/gozyre/zyre/internal/zmtp/curve"
)

// GossipConfig configures a GossipServer. Fields are read once, by
// NewGossipServer.
type GossipConfig struct {
	// Bind is where the server listens for nodes (and other servers),
	// "tcp://ADDR:PORT"; ADDR may be 0.0.0.0, port 0 picks a free one.
	// Required.
	Bind string
	// Connect lists other gossip servers to connect to, "tcp://IP:PORT",
	// so that tuples flow between them (cycles are fine). The server
	// reconnects to each, with a growing randomised delay, whenever the
	// connection fails. "tcp://IP:PORT|KEY" (the other server's public
	// key in Z85) connects with CURVE; it needs Curve.
	Connect []string
	// Curve, when set, is the server's key pair: it listens as a CURVE
	// server (nodes connect with "tcp://IP:PORT|KEY" and this key's
	// public half), and connects with CURVE to Connect servers given with
	// a key. Nil: plaintext links.
	Curve *KeyPair
	// AllowKeys, with Curve, lists the public keys of the clients (nodes,
	// other servers) that may connect; others fail the CURVE handshake
	// (counted in HandshakesFailed). Nil: any key.
	AllowKeys []PublicKey
	// TTL is the gossip engine's time to live: tuples the server relays
	// keep the TTL their owners gave them (Zyre nodes publish with their
	// ExpiredTimeout; C Zyre nodes with none, so their tuples stay until
	// withdrawn), and a withdrawn tuple stays blocked for TTL so that a
	// copy still travelling another path does not bring it back.
	// Default 30 s.
	TTL time.Duration
	// Network carries the server's traffic. Nil: the operating system's
	// network.
	Network Network
	// Logger receives the server's logs. Nil: discard.
	Logger *slog.Logger
}

// GossipStats are a gossip server's counters: gauges of what it holds
// now and monotonic counters of what it did. (A node's gossip counters
// are the Gossip fields of Stats.)
type GossipStats struct {
	Tuples           int    // tuples held now
	Clients          int    // inbound connections now (nodes, other servers)
	Remotes          int    // servers connected to now (Connect)
	Delivered        uint64 // tuples learned: new keys or changed values
	Expired          uint64 // tuples dropped because their TTL ran out
	Withdrawn        uint64 // tuples withdrawn by their owners
	MessagesSent     uint64 // ZGossip messages queued to connections
	MessagesReceived uint64 // ZGossip messages received
	BytesSent        uint64 // bytes of those messages on the wire (ZMTP framing included, handshakes not)
	BytesReceived    uint64 // likewise, received
	SendsDropped     uint64 // messages dropped because a connection's queue was full
	BadMessages      uint64 // frames that did not parse as ZGossip
	ConnectsFailed   uint64 // failed dials or handshakes to Connect endpoints
	HandshakesFailed uint64 // inbound connections that failed their ZMTP handshake
	Refused          uint64 // inbound connections refused (too many at once)
}

func (c *hubCounters) snapshot() GossipStats {
	return GossipStats{
		Tuples:           int(c.tuples.Load()),
		Clients:          int(c.clients.Load()),
		Remotes:          int(c.remotes.Load()),
		Delivered:        c.delivered.Load(),
		Expired:          c.expired.Load(),
		Withdrawn:        c.withdrawn.Load(),
		MessagesSent:     c.msgsSent.Load(),
		MessagesReceived: c.msgsRecv.Load(),
		BytesSent:        c.bytesSent.Load(),
		BytesReceived:    c.bytesRecv.Load(),
		SendsDropped:     c.sendsDropped.Load(),
		BadMessages:      c.badMessages.Load(),
		ConnectsFailed:   c.connectsFailed.Load(),
		HandshakesFailed: c.handshakesFailed.Load(),
		Refused:          c.refused.Load(),
	}
}

// GossipServer is a standalone ZGossip server (czmq zgossip's server
// role): nodes started with Config.GossipConnect pointing at it publish
// their tuple (UUID and endpoint) to it, and it passes every tuple on to
// every other node, so that nodes find each other where UDP beacons do
// not reach (other subnets, containers, NAT with Config.AdvertisedEndpoint).
// It speaks the same protocol as C Zyre's gossip, so C Zyre nodes may use
// it too. It does not join the ZRE network itself.
//
// Create it with NewGossipServer, start it with Start and stop it with
// Close. Its methods are safe for concurrent use.
type GossipServer struct {
	cfg   GossipConfig
	stats hubCounters

	mu       sync.Mutex
	h        *hub
	started  bool
	closed   bool
	endpoint atomic.Value // string
}

// NewGossipServer validates cfg and returns a server that has not touched
// the network yet. Errors are *ConfigError.
func NewGossipServer(cfg *GossipConfig) (*GossipServer, error) {
	if cfg == nil {
		return nil, &ConfigError{Field: "Bind", Err: errors.New("required")}
	}
	c := *cfg
	c.Connect = append([]string(nil), cfg.Connect...)
	c.AllowKeys = slices.Clone(cfg.AllowKeys) // empty, not nil, allows no one
	if cfg.Curve != nil {
		k := *cfg.Curve
		c.Curve = &k
	}
	if c.Bind == "" {
		return nil, &ConfigError{Field: "Bind", Err: errors.New("required")}
	}
	if _, err := parseEndpoint(c.Bind); err != nil {
		return nil, &ConfigError{Field: "Bind", Err: err}
	}
	for _, ep := range c.Connect {
		if err := checkGossipRemote(ep, c.Curve != nil); err != nil {
			return nil, &ConfigError{Field: "Connect", Err: err}
		}
	}
	if c.AllowKeys != nil && c.Curve == nil {
		return nil, &ConfigError{Field: "AllowKeys", Err: errors.New("needs Curve: clients are authenticated only over CURVE")}
	}
	if c.TTL < 0 {
		return nil, &ConfigError{Field: "TTL", Err: errors.New("negative")}
	}
	if c.TTL == 0 {
		c.TTL = gossip.DefaultTTL
	}
	if c.Network == nil {
		c.Network = osNetwork{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	s := &GossipServer{cfg: c}
	s.endpoint.Store("")
	return s, nil
}

// Start binds the listener and starts the server's goroutines. ctx
// bounds the start-up only. A server starts once.
func (s *GossipServer) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return ErrStarted
	}
	id := make([]byte, 17)
	id[0] = 1
	if _, err := rand.Read(id[1:]); err != nil {
		return fmt.Errorf("zyre: gossip server identity: %w", err)
	}
	h, err := newHub(ctx, hubConfig{
		bind:     s.cfg.Bind,
		connect:  s.cfg.Connect,
		gossip:   gossip.Config{TTL: s.cfg.TTL},
		network:  s.cfg.Network,
		log:      s.cfg.Logger,
		identity: id,
		stats:    &s.stats,
		curveKey: s.cfg.Curve,
		serverMech: func() zmtp.Mechanism {
			if s.cfg.Curve == nil {
				return nil
			}
			return &curve.Server{Key: s.cfg.Curve.internal(), Authorize: func(key [32]byte, _ zmtp.Metadata) error {
				if !keyAllowed(s.cfg.AllowKeys, nil, PeerID{}, key) {
					return errKeyNotAllowed
				}
				return nil
			}}
		}(),
	})
	if err != nil {
		return fmt.Errorf("zyre: gossip server: %w", err)
	}
	s.h = h
	s.started = true
	s.endpoint.Store(h.endpoint)
	h.start()
	return nil
}

// Endpoint returns where the server listens, e.g. "tcp://127.0.0.1:5670",
// once Start has returned; "" before.
func (s *GossipServer) Endpoint() string { return s.endpoint.Load().(string) }

// Stats returns a snapshot of the server's counters.
func (s *GossipServer) Stats() GossipStats { return s.stats.snapshot() }

// Close stops the server at once: every connection is closed (nodes keep
// their peers, reconnect, and publish again to a restarted server). It is
// idempotent and waits for every goroutine the server started.
func (s *GossipServer) Close() error {
	s.mu.Lock()
	h := s.h
	s.closed = true
	s.mu.Unlock()
	if h != nil {
		h.stop(false)
	}
	return nil
}
