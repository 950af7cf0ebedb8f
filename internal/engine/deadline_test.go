package engine

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/zre"
)

// checkTimers verifies the timer heap against a brute-force model: heap
// order and indexes, every key no later than the peer's true deadline,
// NextDeadline equal to the true minimum, and no peer left overdue.
func checkTimers(t *testing.T, h *harness, afterTick bool) {
	t.Helper()
	e := h.e
	if len(e.timers) != len(e.peers) || len(e.sorted) != len(e.peers) {
		t.Fatalf("%d timers, %d sorted, %d peers", len(e.timers), len(e.sorted), len(e.peers))
	}
	for i, p := range e.timers {
		if p.heapIdx != i {
			t.Fatalf("heap index %d stored as %d", i, p.heapIdx)
		}
		if i > 0 && heapLess(p, e.timers[(i-1)/2]) {
			t.Fatalf("heap order broken at %d", i)
		}
		if e.nextDue(p) < p.due {
			t.Fatalf("%s: key %v later than its deadline %v", label(p.id), p.due, e.nextDue(p))
		}
		if e.peers[p.id] != p {
			t.Fatalf("%s in the heap but not in the table", label(p.id))
		}
	}
	want := Never
	switch {
	case e.cfg.BeaconInterval > 0 && e.nextBeacon == beaconNow:
		want = time.Time{}
	case e.cfg.BeaconInterval > 0:
		want = e.base.Add(time.Duration(e.nextBeacon))
	}
	for _, p := range e.peers {
		d := e.base.Add(time.Duration(e.nextDue(p)))
		if afterTick && !d.After(h.now) {
			t.Fatalf("%s overdue after a Tick: %v <= now %v", label(p.id), d.Sub(t0), h.now.Sub(t0))
		}
		if d.Before(want) {
			want = d
		}
	}
	if got := e.NextDeadline(); !got.Equal(want) {
		t.Fatalf("NextDeadline = t0%+v, want t0%+v", got.Sub(t0), want.Sub(t0))
	}
}

func TestNextDeadlineMatchesModel(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		h := newHarness(t, func(c *Config) {
			c.Logger = nil
			if seed%2 == 1 {
				c.BeaconInterval = 0
			}
			c.SilentTimeout = time.Duration(1+rng.IntN(8)) * time.Second
		})
		remotes := make([]*remote, 40)
		for i := range remotes {
			remotes[i] = newRemote(byte(2 + i))
		}
		ready := func(r *remote) bool { p, ok := h.e.Peer(r.id); return ok && p.Ready }
		for range 3000 {
			r := remotes[rng.IntN(len(remotes))]
			afterTick := false
			switch op := rng.IntN(100); {
			case op < 20:
				h.step(r.beacon())
			case op < 30:
				h.step(r.hello("g"))
			case op < 55:
				if ready(r) {
					h.step(r.msg(&zre.PingOK{}))
				}
			case op < 60:
				h.step(Activity{From: r.id})
			case op < 63:
				h.step(ConnLost{Peer: r.id})
			case op < 65:
				h.step(r.leaving())
			case op < 67:
				h.step(SendShout{Group: "g"})
			default:
				h.advance(time.Duration(rng.IntN(3000)) * time.Millisecond)
				afterTick = true
			}
			checkTimers(t, h, afterTick)
		}
	}
}

func TestTimeGoingBackwardsKeepsHeapSound(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BeaconInterval = 0 })
	r2, r3 := newRemote(2), newRemote(3)
	h.now = t0.Add(10 * time.Second)
	h.enter(r2)
	h.enter(r3)
	h.now = t0 // a clock that stepped back: r3's deadline moves earlier
	h.step(r3.msg(&zre.PingOK{}))
	checkTimers(t, h, false)
	if dl := h.e.NextDeadline(); !dl.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("NextDeadline = %v", dl)
	}
}
