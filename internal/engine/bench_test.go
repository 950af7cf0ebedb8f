package engine

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/gozyre/zyre/internal/zre"
)

const benchPeers = 1000

// benchEngine returns an engine that knows benchPeers ready peers, each in
// one of ten groups, and the remotes that play them.
func benchEngine(b *testing.B) (*harness, []*remote) {
	h := newHarness(b, func(c *Config) { c.Logger = nil; c.Groups = []string{"g0"} })
	remotes := make([]*remote, benchPeers)
	for i := range remotes {
		r := &remote{name: fmt.Sprint("n", i), port: 49152}
		r.id[0], r.id[1], r.id[2] = byte(i>>8), byte(i), 0xAB
		r.ip = netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		remotes[i] = r
		h.enter(r, fmt.Sprint("g", i%10))
	}
	h.step(Tick{})
	if n := len(h.e.PeersByGroup("g0")); n != benchPeers/10 {
		b.Fatalf("g0 has %d members", n)
	}
	return h, remotes
}

// BenchmarkStepTick is the owner's timer firing with nothing due but a
// beacon now and then (Step + NextDeadline, as the actor does).
func BenchmarkStepTick(b *testing.B) {
	h, _ := benchEngine(b)
	var out []Output
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		h.now = h.now.Add(time.Millisecond)
		out = h.e.Step(h.now, Tick{}, out[:0])
		_ = h.e.NextDeadline()
	}
}

// BenchmarkStepTickEvasive has every peer go evasive, one per Tick, as
// after a partition: each Tick sends a PING and emits EVASIVE.
func BenchmarkStepTickEvasive(b *testing.B) {
	h, remotes := benchEngine(b)
	// Spread the peers' last activity over 1 ms steps.
	for _, r := range remotes {
		h.now = h.now.Add(time.Millisecond)
		h.step(Activity{From: r.id})
	}
	h.now = h.now.Add(5*time.Second - time.Duration(len(remotes))*time.Millisecond)
	var out []Output
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%benchPeers == 0 && i > 0 {
			b.StopTimer()
			for _, r := range remotes {
				h.step(Activity{From: r.id})
			}
			h.now = h.now.Add(5 * time.Second)
			b.StartTimer()
		}
		h.now = h.now.Add(time.Millisecond)
		out = h.e.Step(h.now, Tick{}, out[:0])
		_ = h.e.NextDeadline()
	}
}

// BenchmarkStepMessageIn is a WHISPER arriving from one of 1,000 peers:
// sequence check, liveness refresh, event.
func BenchmarkStepMessageIn(b *testing.B) {
	h, remotes := benchEngine(b)
	msgs := make([]*zre.Whisper, len(remotes))
	for i := range msgs {
		msgs[i] = &zre.Whisper{Content: [][]byte{[]byte("payload")}}
	}
	var out []Output
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := i % benchPeers
		r := remotes[k]
		r.seq++
		msgs[k].Sequence = r.seq
		h.now = h.now.Add(time.Microsecond)
		out = h.e.Step(h.now, MessageIn{From: r.id, Msg: msgs[k]}, out[:0])
		_ = h.e.NextDeadline()
	}
	if c := h.e.Counters(); c.SequenceGaps != 0 {
		b.Fatalf("counters %+v", c)
	}
}

// BenchmarkStepBeaconIn is a beacon from a known peer (liveness refresh).
func BenchmarkStepBeaconIn(b *testing.B) {
	h, remotes := benchEngine(b)
	beacons := make([]BeaconIn, len(remotes))
	for i, r := range remotes {
		beacons[i] = r.beacon()
	}
	var out []Output
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		h.now = h.now.Add(time.Microsecond)
		out = h.e.Step(h.now, beacons[i%benchPeers], out[:0])
		_ = h.e.NextDeadline()
	}
}

// BenchmarkStepShout sends a SHOUT to a group of 100 of the 1,000 peers.
func BenchmarkStepShout(b *testing.B) {
	h, _ := benchEngine(b)
	in := SendShout{Group: "g3", Content: [][]byte{[]byte("payload")}}
	var out []Output
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		out = h.e.Step(h.now, in, out[:0])
	}
}
