package zyre

import "sync/atomic"

// Stats are a node's monotonic counters, read without stopping the node.
type Stats struct {
	BeaconsSent         uint64 // beacons broadcast (DualStack: each family counts)
	BeaconsReceived     uint64 // well-formed beacons received (including our own echo)
	BeaconsBad          uint64 // malformed datagrams on the beacon port
	BeaconsIgnored      uint64 // own beacons, other versions, port 0 of unknown peers
	MessagesSent        uint64 // ZRE messages queued to peers
	MessagesReceived    uint64 // ZRE messages received on the mailbox
	MessagesBad         uint64 // received frames that did not parse as ZRE
	MessagesUnknownPeer uint64 // messages from peers that had not said HELLO
	BadIdentities       uint64 // mailbox messages whose routing id is not 0x01+UUID
	SequenceGaps        uint64 // peers dropped for a sequence gap (RFC 36)
	StatusMismatches    uint64 // JOIN/LEAVE group status mismatches, resynchronised
	PeersExpired        uint64 // peers removed by the expiry timer, with EXIT
	PeersNeverReady     uint64 // peers heard of (beacon, gossip) that expired without completing HELLO: unreachable or refused
	PeersUnresponsive   uint64 // peers removed because their outbox stayed full, not a byte written for ExpiredTimeout
	OutboxFull          uint64 // messages not queued because a peer's outbox was full
	ConnectionsLost     uint64 // peers dropped because our connection to them broke, as messages written to it may be lost; a beacon starts a new session
	MessagesUnsent      uint64 // messages queued to a peer but never written: still queued when its outbox closed (the peer left or was dropped, Close, or Shutdown could not reach it), or in a write that failed (an upper bound: some may have left)
	EventsDropped       uint64 // data events discarded under DropWhenFull
	HandshakesFailed    uint64 // incoming ZMTP connections that failed their handshake
	MessagesSuperseded  uint64 // messages a peer sent on a connection it then replaced, not yet taken in when it did: dropped with the old session
	PeersRejected       uint64 // CURVE peers refused: key not allowed (mailbox or GossipBind clients), or HELLO key not the proven one

	// Gossip (Config.GossipBind, GossipConnect); all zero without it.
	GossipTuples           uint64 // gauge: tuples in the node's gossip store now, its own included
	GossipRemotes          uint64 // gauge: gossip servers connected now
	GossipClients          uint64 // gauge: gossip clients connected now (GossipBind)
	GossipDelivered        uint64 // tuples learned: new keys or changed values
	GossipDiscovered       uint64 // peers handed to the protocol engine from gossip
	GossipIgnored          uint64 // learned tuples not used: not node tuples, other security mode, stale copies of peers that exited, or the node too busy to take them
	GossipMessagesSent     uint64 // ZGossip messages queued to servers and clients
	GossipMessagesReceived uint64 // ZGossip messages received
	GossipBytesSent        uint64 // bytes of those messages on the wire (ZMTP framing included, handshakes not)
	GossipBytesReceived    uint64 // likewise, received
	GossipConnectsFailed   uint64 // failed dials or handshakes to GossipConnect servers (each retry counts)
	GossipHandshakesFailed uint64 // GossipBind: inbound connections that failed their handshake (wrong mechanism, key refused)
}

// counters is the atomic form of Stats; the actor writes, Stats reads.
type counters struct {
	beaconsSent, beaconsReceived, beaconsBad                   atomic.Uint64
	messagesSent, messagesReceived, messagesBad, badIdentities atomic.Uint64
	outboxFull, eventsDropped, handshakesFailed                atomic.Uint64
	messagesUnsent, connectionsLost, messagesSuperseded        atomic.Uint64
	peersRejected                                              atomic.Uint64
	// engine counters, copied after each step that changed them
	beaconsIgnored, unknownPeer, sequenceGaps, statusMismatches atomic.Uint64
	peersExpired, peersNeverReady, peersUnresponsive            atomic.Uint64
	gossip                                                      hubCounters // written by the node's gossip hub
}

func (c *counters) snapshot() Stats {
	return Stats{
		BeaconsSent:         c.beaconsSent.Load(),
		BeaconsReceived:     c.beaconsReceived.Load(),
		BeaconsBad:          c.beaconsBad.Load(),
		BeaconsIgnored:      c.beaconsIgnored.Load(),
		MessagesSent:        c.messagesSent.Load(),
		MessagesReceived:    c.messagesReceived.Load(),
		MessagesBad:         c.messagesBad.Load(),
		MessagesUnknownPeer: c.unknownPeer.Load(),
		BadIdentities:       c.badIdentities.Load(),
		SequenceGaps:        c.sequenceGaps.Load(),
		StatusMismatches:    c.statusMismatches.Load(),
		PeersExpired:        c.peersExpired.Load(),
		PeersNeverReady:     c.peersNeverReady.Load(),
		PeersUnresponsive:   c.peersUnresponsive.Load(),
		OutboxFull:          c.outboxFull.Load(),
		ConnectionsLost:     c.connectionsLost.Load(),
		MessagesUnsent:      c.messagesUnsent.Load(),
		EventsDropped:       c.eventsDropped.Load(),
		HandshakesFailed:    c.handshakesFailed.Load(),
		MessagesSuperseded:  c.messagesSuperseded.Load(),
		PeersRejected:       c.peersRejected.Load(),

		GossipTuples:           uint64(c.gossip.tuples.Load()),
		GossipRemotes:          uint64(c.gossip.remotes.Load()),
		GossipClients:          uint64(c.gossip.clients.Load()),
		GossipDelivered:        c.gossip.delivered.Load(),
		GossipDiscovered:       c.gossip.discovered.Load(),
		GossipIgnored:          c.gossip.ignored.Load(),
		GossipMessagesSent:     c.gossip.msgsSent.Load(),
		GossipMessagesReceived: c.gossip.msgsRecv.Load(),
		GossipBytesSent:        c.gossip.bytesSent.Load(),
		GossipBytesReceived:    c.gossip.bytesRecv.Load(),
		GossipConnectsFailed:   c.gossip.connectsFailed.Load(),
		GossipHandshakesFailed: c.gossip.handshakesFailed.Load(),
	}
}
