// Package zyre is a pure-Go implementation of ZRE, the ZeroMQ Realtime
// Exchange protocol (RFC 36), wire compatible with C Zyre 2.x and libzmq 4.x.
//
// # Model
//
// A Node has a random 16-byte ID and a mailbox: a ZMTP 3.1 listener on TCP.
// It broadcasts a UDP beacon (its ID and mailbox port) every
// BeaconInterval. A node that hears a beacon from an unknown ID connects to
// that peer's mailbox and sends HELLO (its endpoint, groups, name and
// headers); the peer does the same the other way. When a peer's HELLO has
// arrived the node emits an EnterEvent for it, followed by one JoinEvent
// per group the peer is in. From then on peers exchange WHISPER (to one
// peer), SHOUT (to a group), JOIN and LEAVE, PING and PING-OK.
//
// Liveness: any traffic from a peer and its beacons keep it alive. After
// EvasiveTimeout of silence the node sends it a PING and emits an
// EvasiveEvent, after SilentTimeout a SilentEvent (each once per quiet
// spell), and after ExpiredTimeout it removes the peer with an ExitEvent.
// A peer that leaves politely (port-0 beacon or GOODBYE) exits at once.
// So does a peer whose connection breaks (its process was killed, or the
// network reset the connection), once what it sent has been delivered:
// messages written to a broken connection may be lost, so rather than
// reconnect and leave the peer to find a sequence gap later, the session
// ends, and the peer's next beacon (or gossip republish) starts a new one
// (EXIT, then ENTER). A session ends on both sides: a node that drops a
// peer for any of these reasons also closes the peer's connection to it,
// so that the peer drops it too and both start the next session with a
// fresh HELLO.
//
// # Lifecycle
//
// New validates the Config and does no I/O. Start binds the mailbox and the
// beacon socket and starts the node's goroutines. Shutdown leaves politely
// (port-0 beacon, GOODBYE to every peer) and Close stops at once; both end
// with a StopEvent, wait for every goroutine the node started, and are
// idempotent.
//
// # Events: order and ownership
//
// Events are read in order from one queue with Recv or Events. For each
// peer: EnterEvent comes before any other event of that peer, its JoinEvents
// for the groups in its HELLO follow immediately, its messages keep the
// order in which the peer sent them, and ExitEvent is its last event.
// StopEvent is the node's last event.
//
// Frames in WhisperEvent and ShoutEvent belong to the receiver; the library
// never reuses them, unless the application hands them back with Release
// once it is done with them, which makes large messages much cheaper to
// receive (no fresh memory for each). Frames passed to Whisper and Shout
// belong to the library once passed: do not modify them afterwards.
//
// # What blocks
//
// The node never blocks its protocol work on the application. When the
// application reads events more slowly than peers send, the default is
// backpressure: once EventQueueLen data events or EventQueueBytes of them
// wait, the node stops reading from peers, TCP pushes back, and the
// senders' Whisper and Shout wait for room. Memory stays bounded in bytes
// on both sides, whatever the size of the messages (Config.EventQueueBytes,
// Config.OutboxBytes). With Config.DropWhenFull the node instead drops data events,
// counts them (Stats.EventsDropped) and queues a DroppedEvent. Membership
// events (ENTER, EXIT, JOIN, LEAVE, EVASIVE, SILENT, STOP) are never
// dropped.
//
// Whisper and Shout wait only while a receiving peer's outbox is full
// (OutboxLen messages or OutboxBytes), until their context ends. A peer
// whose outbox stays full while not one byte goes out to it for
// ExpiredTimeout takes nothing at all: it is removed as unresponsive (an
// ExitEvent whose reason says so, Stats.PeersUnresponsive), so that it
// cannot hold up Shout to its groups for ever; its next beacon starts a
// new session. A long message on a slow link is progress, not a stall: it
// goes out in pieces, and each one counts. Join, Leave and the queries
// (Peers, Peer, PeersByGroup, OwnGroups, PeerGroups) round-trip to the
// node's goroutine and take a context too. ID, Name, Endpoint and Stats
// never block.
//
// # Gossip: discovery beyond the broadcast domain
//
// UDP beacons do not cross routers. Where peers are on other subnets, in
// containers or behind NAT, nodes find each other through ZGossip, as C
// Zyre does: start a GossipServer (or the "zyre gossip" command)
// somewhere every node can reach, and set Config.GossipConnect on the
// nodes. Each node publishes its UUID and endpoint (AdvertisedEndpoint,
// if the address peers must use differs from the mailbox's own) and
// connects directly to every node it learns of; the server only relays
// tuples, so peers stay connected while it restarts. Unlike C Zyre,
// beacons keep working alongside gossip unless DisableBeacon is set, and
// a peer found both ways is one peer. A peer found by gossip that stops
// answering leaves like any other (EVASIVE, then EXIT after
// ExpiredTimeout) and does not come back until it is seen alive again.
//
// # Security
//
// With Config.Curve set, a node runs in CURVE mode as C Zyre does (v3
// beacons with the public key, the X-PUBLICKEY header, every connection
// encrypted with CurveZMQ) and, beyond C Zyre, authenticates peers: the key
// a peer proves in the handshake must be the one it announces, a UUID keeps
// the key it first proved, and Config.AllowKeys or Config.Authorize decide
// who may connect. Refused peers never reach the application; they are
// logged and counted in Stats.PeersRejected. KeyPair, GenerateKeyPair,
// LoadCertificate and SaveCertificate handle keys and czmq certificates.
//
// # Networks
//
// Config.Network chooses the network: nil is the operating system's; the
// simnet package provides an in-memory network with latency, loss and
// partitions for tests, which works inside testing/synctest bubbles.
//
// # Specifications
//
//   - 36/ZRE, with Zyre 2.x's ELECT, LEADER and GOODBYE commands
//   - 43/ZRE (draft): beacons with a CURVE key
//   - 37/ZMTP 3.1, accepting 23/ZMTP 3.0 peers
//   - 25/ZMTP-CURVE, 26/CurveZMQ, 32/Z85 (Config.Curve)
//   - czmq's ZGossip (zgossip_msg), with tuple TTLs and withdrawal
package zyre
