package zyre

import (
	"fmt"
	"time"

	"github.com/gozyre/zyre/internal/engine"
)

// A peer that takes nothing is unresponsive.
//
// While a peer's outbox is full, Whisper and Shout wait for room: that is
// backpressure, and it is right while the peer is slow. But a peer whose
// connection takes nothing at all (its application stopped reading, or
// the endpoint it advertised cannot be reached) would hold those callers,
// and every Shout to a group it is in, for ever, while its beacons keep
// it alive. So when an outbox has been full and its writer has written
// nothing for ExpiredTimeout (not a byte: a long message on a slow link
// goes out in pieces, each of which counts), the peer is removed as unresponsive (RFC 36),
// with an ExitEvent, Stats.PeersUnresponsive and a warning; what was
// queued for it is counted in Stats.MessagesUnsent. Its next beacon starts
// a new session.

// stallState is a link's record of a full outbox.
type stallState struct {
	sent  uint64    // bytes written to the connection when first seen full
	since time.Time // zero: not full at the last check
}

// checkStalls runs on the actor's timer while some outbox is full.
func (a *actor) checkStalls(now time.Time) {
	if a.n.fullOutboxes.Load() == 0 {
		return // a stale record is reset below: writing moved sent on
	}
	limit := a.n.cfg.ExpiredTimeout
	for peer, l := range a.links {
		if !l.out.isFullNow() {
			l.stall = stallState{}
			continue
		}
		sent := l.out.progress()
		if l.stall.since.IsZero() || sent != l.stall.sent {
			l.stall = stallState{sent: sent, since: now}
			continue
		}
		if now.Sub(l.stall.since) >= limit {
			l.stall = stallState{}
			a.step(engine.Unresponsive{Peer: peer, Reason: fmt.Sprintf("unresponsive: outbox full, nothing written for %v", limit)})
		}
	}
}
