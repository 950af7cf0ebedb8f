package zyre

import (
	"time"

	"github.com/gozyre/zyre/internal/engine"
	"github.com/gozyre/zyre/internal/zre"
)

// A broken connection ends the session.
//
// When our connection to a peer breaks, what we wrote to it may not have
// arrived. Reconnecting, as a ZMTP DEALER would, hides that: the peer sees
// the gap only at our next message, perhaps much later, and drops us with
// that message (RFC 36); if our HELLO was lost, the peer never takes
// anything from us while its beacons keep us both believing all is well.
// So the outbox stops (outbox.connLost) and the engine drops the peer
// (ConnLost: EXIT); its next beacon starts a new session with a fresh
// HELLO on both sides.
//
// The engine is told only once the peer's own traffic to us has been
// seen, so that a peer that sent messages and then left (or was killed)
// has them delivered before its EXIT: when its connection to our mailbox
// has ended and the close notice has come through the mailbox queue
// behind its last message; or, while that connection stays open (a
// network partition leaves it half-open), once nothing has arrived on it
// for lostQuiet, or after lostMaxHold at most. A peer that had not said
// HELLO is dropped at once: there is nothing of it to wait for. A peer's
// port-0 beacon (it is leaving) waits the same way (onLeaving).
const (
	lostQuiet   = 500 * time.Millisecond
	lostMaxHold = 5 * time.Second
)

// lostState is a link's record of its broken connection, or of the
// peer's port-0 beacon.
type lostState struct {
	at    time.Time // when the actor learned of it; zero: connection fine
	seen  uint64    // bytes received from the peer at the last check
	quiet time.Time // since when seen has not moved
	// leaving holds the peer's port-0 beacon: the peer is leaving, and
	// the beacon is stepped once its traffic has been seen, as for a
	// broken connection.
	leaving *engine.BeaconIn
}

// onLost handles the signal of outboxes whose connection broke.
func (a *actor) onLost() {
	now := time.Now()
	for peer, l := range a.links {
		if l.lost.at.IsZero() && l.out.connErr() != nil {
			l.lost.at, l.lost.quiet = now, now // settleLost records what has arrived
			a.settleLost(peer, l, now)
		}
	}
	a.armLost()
}

// onLeaving holds a peer's port-0 beacon until what the peer sent before
// leaving has been seen (settleLost). The leaver sends the beacon after
// flushing its last messages and GOODBYE, but the datagram can overtake
// bytes waiting in our TCP buffers, or in a mailbox we are slow to read;
// removing the peer at once would drop them. Usually GOODBYE, or the end
// of its connection, comes first.
func (a *actor) onLeaving(b engine.BeaconIn) {
	l := a.links[b.Beacon.ID]
	if l == nil {
		a.step(b) // not a peer of ours: the engine counts it
		return
	}
	if !l.lost.at.IsZero() {
		return // already settling: its end comes anyway
	}
	now := time.Now()
	l.lost = lostState{at: now, quiet: now, leaving: &b}
	a.settleLost(b.Beacon.ID, l, now)
	a.armLost()
}

// closeNotice handles the mailbox's notice that a peer's connection to us
// ended; everything it carried has been received before it.
func (a *actor) closeNotice(id []byte) {
	a.mbox.r.NoticeDone(id)
	if len(id) != 17 || id[0] != 1 {
		return
	}
	peer := zre.UUID(id[1:])
	if l := a.links[peer]; l != nil && !l.lost.at.IsZero() {
		a.settleLost(peer, l, time.Now())
	}
}

// settleLost tells the engine about the broken connection of l, or steps
// the port-0 beacon it holds, once the peer's traffic has been seen (see
// above).
func (a *actor) settleLost(peer zre.UUID, l *link, now time.Time) {
	id := mailboxID(peer)
	n, open := a.mbox.r.BytesReceived(id)
	if n != l.lost.seen {
		l.lost.seen, l.lost.quiet = n, now
	}
	_, ready := a.n.ready.Load(PeerID(peer))
	var done bool
	switch {
	case !ready:
		done = true
	case !open:
		// Its connection ended: its notice follows its last message in
		// the mailbox queue (Router.NotifyClose). Once no notice of it is
		// pending, everything its connections sent has been seen; the
		// notice of an older connection, handled earlier, does not count
		// for a newer one whose messages still wait behind its own.
		done = !a.mbox.r.NoticePending(id)
	case a.paused:
		// We are not reading the mailbox, so nothing arrives: wait for
		// the application rather than take that for quiet.
	default:
		done = now.Sub(l.lost.quiet) >= lostQuiet || now.Sub(l.lost.at) >= lostMaxHold
	}
	switch {
	case !done:
	case l.lost.leaving != nil:
		a.step(*l.lost.leaving)
	default:
		a.n.stats.connectionsLost.Add(1)
		a.step(engine.ConnLost{Peer: peer, Err: l.out.connErr()})
	}
}

// armLost sets the lost timer while some broken connection waits.
func (a *actor) armLost() {
	if a.lostTimer != nil {
		return
	}
	for _, l := range a.links {
		if !l.lost.at.IsZero() {
			a.lostTimer = time.After(lostQuiet / 4)
			return
		}
	}
}

// lostTick re-checks the broken connections that wait.
func (a *actor) lostTick() {
	a.lostTimer = nil
	now := time.Now()
	for peer, l := range a.links {
		if !l.lost.at.IsZero() {
			a.settleLost(peer, l, now)
		}
	}
	a.armLost()
}

// mailboxID is the routing id of a peer's connection to our mailbox.
func mailboxID(peer zre.UUID) []byte {
	id := make([]byte, 17)
	id[0] = 1
	copy(id[1:], peer[:])
	return id
}
